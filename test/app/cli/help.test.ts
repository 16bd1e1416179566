import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runBin } from "./bin.js"
import { runCli } from "./fixture.js"

const docs = path.resolve(__dirname, "../../../docs/cli.md")

/** @effect/cli colours its help even into a pipe. */
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")

/**
 * Every command issue #5 lists (and `quarantine confirm`, `config schema|env` that docs/cli.md adds), with the
 * options and arguments its usage line must name and a phrase of each one's description in its own --help.
 */
const commands: ReadonlyArray<{
  readonly path: string
  readonly usage: ReadonlyArray<string>
  readonly described: ReadonlyArray<string>
}> = [
  { path: "run", usage: ["--config"], described: ["SIGTERM", "the configuration file"] },
  { path: "once", usage: ["--config", "<ACCOUNT>"], described: ["only this account", "progress bar on a terminal"] },
  { path: "classify", usage: ["--json", "<PATH>"], described: ["JSON Lines", "an mbox file, or - for standard input"] },
  {
    path: "test-connection",
    usage: ["--config", "<ACCOUNT>"],
    described: ["the account to try", "deletes nothing"]
  },
  { path: "config check", usage: ["--config"], described: ["secrets hidden", "exit 1 when it is invalid"] },
  { path: "config schema", usage: [], described: ["JSON Schema"] },
  { path: "config env", usage: [], described: ["environment variables"] },
  {
    path: "quarantine list",
    usage: ["--status", "--domain", "--reason", "--since", "--until", "--suspect", "--limit", "--format"],
    described: ["only addresses with this status", "with-errors", "print at most this many rows", "table | json | csv"]
  },
  {
    path: "quarantine show",
    usage: ["--events", "--format", "<ADDRESS>"],
    described: ["how many of the latest bounce events to print"]
  },
  {
    path: "quarantine release",
    usage: ["--by", "--why", "--domain", "--reason", "--since", "--until", "--suspect", "--yes", "<ADDRESS>"],
    described: ["kept in the history", "really change the matching addresses"]
  },
  {
    path: "quarantine confirm",
    usage: ["--by", "--why", "--suspect", "--yes", "<ADDRESS>"],
    described: ["kept in the history", "suspect"]
  },
  { path: "quarantine allow", usage: ["--by", "--why", "<ADDRESS>"], described: ["allowlist"] },
  { path: "quarantine deny", usage: ["--by", "--why", "<ADDRESS>"], described: ["denylist"] },
  {
    path: "report",
    usage: ["--since", "--until", "--by", "--hard-threshold", "--soft-threshold", "--limit", "--format"],
    described: ["reason | domain | delivery", "hard bounce rate is above this fraction", "(default: 7d, a week ago)"]
  },
  {
    path: "messageid encode",
    usage: ["--delivery", "--recipient", "--instance", "--domain", "--key-id", "--config"],
    described: ["the delivery (campaign, mailing) id", "the id of the signing key to use"]
  },
  {
    path: "messageid decode",
    usage: ["--domain", "--key-id", "--format", "<MESSAGE_ID>"],
    described: ["exit code 1 if one did not"]
  },
  {
    path: "verp encode",
    usage: ["--delivery", "--recipient", "--instance", "--domain", "--local-part", "--key-id"],
    described: ["the local part before the +"]
  },
  {
    path: "verp decode",
    usage: ["--domain", "--local-part", "--key-id", "--format", "<ADDRESS>"],
    described: ["exit code 1 if one did not"]
  }
]

/** Options @effect/cli gives every command. */
const builtIns = new Set(["--help", "--version", "--wizard", "--completions", "--log-level"])

/** The options each synopsis in docs/cli.md gives a command ("rebound quarantine list [--status S] ..."). */
const documentedOptions = (text: string): Map<string, Set<string>> => {
  const synopses = new Map<string, Set<string>>()
  for (const block of text.matchAll(/```\n([\s\S]*?)```/g)) {
    let current: Set<string> | undefined
    for (const raw of block[1]!.split("\n")) {
      const line = raw.replace(/\s+#.*$/, "")
      if (line.startsWith("rebound ")) {
        const words = line.slice("rebound ".length).split(/\s+/)
        const end = words.findIndex((word) => !/^[a-z][a-z-]*$/.test(word))
        const name = words.slice(0, end < 0 ? words.length : end).join(" ")
        current = synopses.get(name) ?? new Set()
        synopses.set(name, current)
      } else if (!/^\s/.test(line)) {
        current = undefined
      }
      for (const option of line.matchAll(/--[a-z][a-z-]*/g)) current?.add(option[0])
    }
  }
  return synopses
}

/** The COMMANDS section of `rebound --help`: each command's path and usage line. */
const usageLines = (help: string): Map<string, string> => {
  const usages = new Map<string, string>()
  for (const line of plain(help).split("\n")) {
    const entry = /^ {2}- (.*?)(?: {2,}.*)?$/.exec(line)
    if (entry === null) continue
    const words = entry[1]!.split(" ")
    const end = words.findIndex((word) => !/^[a-z][a-z-]*$/.test(word))
    usages.set(words.slice(0, end < 0 ? words.length : end).join(" "), entry[1]!)
  }
  return usages
}

describe("rebound --help", () => {
  it("from the real binary, lists every command with a usage line naming its options and arguments", async () => {
    const help = await runBin(["--help"])
    assert.isFalse(help.timedOut)
    assert.strictEqual(help.code, 0, help.stderr)
    assert.strictEqual(help.stderr, "")
    const usages = usageLines(help.stdout)
    for (const command of commands) {
      const usage = usages.get(command.path)
      assert.isDefined(usage, `rebound --help does not list ${command.path}: ${[...usages.keys()].join(", ")}`)
      for (const part of command.usage) assert.include(usage, part, `rebound --help: ${command.path}`)
    }
    for (const group of ["config", "quarantine", "messageid", "verp"]) assert.isTrue(usages.has(group), group)

    // docs/cli.md's synopses name only options the command has; every option a command has is in docs/cli.md
    const text = fs.readFileSync(docs, "utf8")
    const documented = documentedOptions(text)
    for (const command of commands) {
      const synopsis = documented.get(command.path)
      assert.isDefined(synopsis, `docs/cli.md has no synopsis for rebound ${command.path}`)
      const offered = new Set(
        [...usages.get(command.path)!.matchAll(/--[a-z][a-z-]*/g)]
          .map((match) => match[0])
          .filter((o) => !builtIns.has(o))
      )
      for (const option of synopsis!)
        assert.isTrue(
          offered.has(option),
          `docs/cli.md gives rebound ${command.path} ${option}, which it does not take`
        )
      for (const option of offered)
        assert.isTrue(
          synopsis!.has(option) || text.includes(`\`${option}`),
          `rebound ${command.path} ${option} is not in docs/cli.md`
        )
    }
  }, 60_000)

  it("from the real binary, a command's --help exits 0 with its usage and option descriptions", async () => {
    const [once, testConnection, list] = await Promise.all([
      runBin(["once", "--help"]),
      runBin(["test-connection", "--help"]),
      runBin(["quarantine", "list", "--help"])
    ])
    for (const [result, usage, description] of [
      [once!, "$ once [(-c, --config file)] [<ACCOUNT>]", "only this account (default: every account)"],
      [testConnection!, "$ test-connection [(-c, --config file)] <ACCOUNT>", "the account to try"],
      [list!, "$ list [(-c, --config file)] [--status ", "only addresses with this status, or all"]
    ] as const) {
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stderr, "")
      const text = plain(result.stdout)
      assert.include(text, usage)
      assert.include(text, description)
    }
  }, 60_000)

  it.effect("every command's own --help succeeds and describes its options", () =>
    Effect.gen(function* () {
      for (const command of commands) {
        const result = yield* runCli(...command.path.split(" "), "--help")
        assert.isFalse(result.rejected, command.path)
        assert.strictEqual(result.exitCode, 0, command.path)
        const text = plain(result.stdout)
        assert.include(text, "USAGE", command.path)
        for (const option of command.usage.filter((part) => part.startsWith("--")))
          assert.match(text, new RegExp(`^(\\(-\\w, )?${option}\\b`, "m"), `${command.path} --help: ${option}`)
        for (const phrase of command.described) assert.include(text, phrase, `${command.path} --help: ${phrase}`)
      }
    })
  )
})
