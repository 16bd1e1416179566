import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { personalMail, postfixDsn } from "../../support/mails.js"
import { linesOf, startBin, tempDir, waitFor } from "./bin.js"

const bounce = postfixDsn({
  recipients: [{ address: "log-user@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }]
})
/** A mail over the account's maxMailSize: it stays in the Maildir, and every poll logs a warning about it. */
const oversized = Buffer.concat([personalMail(), Buffer.from("x".repeat(4000) + "\r\n")])
const maxMailSize = bounce.length + 100

const dirs: Array<string> = []
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** A folder with a configuration (a Maildir account polled every second, no HTTP) and the two mails in its inbox. */
const daemonFolder = (log: Record<string, unknown>) => {
  const dir = tempDir("logging")
  dirs.push(dir)
  const config = path.join(dir, "rebound.config.json")
  fs.writeFileSync(
    config,
    JSON.stringify({
      store: { type: "sqlite", path: path.join(dir, "rebound.db") },
      accounts: [{ type: "maildir", name: "inbox", path: path.join(dir, "inbox"), pollSeconds: 1, maxMailSize }],
      http: null,
      log
    })
  )
  fs.mkdirSync(path.join(dir, "inbox", "new"), { recursive: true })
  fs.writeFileSync(path.join(dir, "inbox", "new", "1.bounce"), bounce)
  fs.writeFileSync(path.join(dir, "inbox", "new", "2.oversized"), oversized)
  return { dir, config }
}

/** The bounce has been applied and deleted; only the oversized mail is left. */
const bounceGone = (dir: string) => () => !fs.existsSync(path.join(dir, "inbox", "new", "1.bounce"))

interface JsonLine {
  readonly message: string
  readonly logLevel: string
  readonly timestamp: string
  readonly annotations: Record<string, unknown>
}

const jsonLines = (stderr: string): Array<JsonLine> =>
  linesOf(stderr).map((line) => {
    try {
      return JSON.parse(line) as JsonLine
    } catch {
      throw new Error(`not a JSON line: ${JSON.stringify(line)}`)
    }
  })

const leftInMailbox =
  /^left in the mailbox: mail \S+ has \d+ octets, more than maxMailSize \d+; it stays in the mailbox$/

describe("rebound's logs", () => {
  /** Runs the daemon until it has applied the bounce and warned about the oversized mail, then stops it. */
  const untilWarned = async (log: Record<string, unknown>) => {
    const { dir, config } = daemonFolder(log)
    const daemon = startBin(["run", "--config", config], { cwd: dir })
    try {
      await waitFor("processed 1 mails", () => daemon.stderr().includes("processed 1 mails"))
      await waitFor("the oversized mail's warning", () => daemon.stderr().includes("left in the mailbox"))
    } finally {
      const exit = await daemon.stop()
      assert.strictEqual(exit.code, 0, daemon.stderr())
    }
    return { daemon, config }
  }

  it("are JSON lines on standard error when it is not a terminal (format auto), at info by default", async () => {
    const { daemon, config } = await untilWarned({})
    assert.strictEqual(daemon.stdout(), "")
    const lines = jsonLines(daemon.stderr())
    for (const line of lines) {
      assert.includeMembers(Object.keys(line), ["message", "logLevel", "timestamp", "annotations"])
      assert.isFalse(Number.isNaN(Date.parse(line.timestamp)), line.timestamp)
    }
    const find = (predicate: (line: JsonLine) => boolean, what: string) => {
      const line = lines.find(predicate)
      assert.isDefined(line, `no ${what} in ${daemon.stderr()}`)
      return line!
    }
    const starting = find((line) => line.message.startsWith("rebound starting with"), "start-up line")
    assert.deepStrictEqual([starting.logLevel, starting.message], ["INFO", `rebound starting with ${config}`])
    find((line) => line.logLevel === "INFO" && line.message.startsWith("no signing keys configured"), "trust notice")
    const polling = find((line) => line.message.startsWith("polling every"), "polling line")
    assert.deepStrictEqual(polling.annotations, { account: "inbox", type: "maildir" })
    const processed = find((line) => line.message === "processed 1 mails", "processed line")
    assert.strictEqual(processed.logLevel, "INFO")
    assert.deepStrictEqual(processed.annotations, { account: "inbox" })
    const left = find((line) => leftInMailbox.test(line.message), "left-in-the-mailbox warning")
    assert.strictEqual(left.logLevel, "WARN")
    assert.strictEqual(left.annotations["account"], "inbox")
    assert.isString(left.annotations["uid"])
  }, 60_000)

  it('log.level "warning" hides the INFO lines and keeps the warnings', async () => {
    const { dir, config } = daemonFolder({ level: "warning" })
    const daemon = startBin(["run", "--config", config], { cwd: dir })
    try {
      await waitFor("the bounce to be applied", bounceGone(dir))
      await waitFor("the oversized mail's warning", () => daemon.stderr().includes("left in the mailbox"))
    } finally {
      const exit = await daemon.stop()
      assert.strictEqual(exit.code, 0, daemon.stderr())
    }
    const lines = jsonLines(daemon.stderr())
    const levels = new Set(lines.map((line) => line.logLevel))
    for (const hidden of ["TRACE", "DEBUG", "INFO"]) assert.isFalse(levels.has(hidden), daemon.stderr())
    assert.isTrue(
      lines.some((line) => line.logLevel === "WARN" && leftInMailbox.test(line.message)),
      daemon.stderr()
    )
  }, 60_000)

  /** Runs the daemon over a file that says info until the bounce is applied and a few polls more: its stderr. */
  const stderrAtError = async (args: ReadonlyArray<string>, env: Record<string, string>) => {
    const { dir, config } = daemonFolder({ level: "info", format: "json" })
    const daemon = startBin(["run", ...args, "--config", config], { cwd: dir, env })
    try {
      await waitFor("the bounce to be applied", bounceGone(dir))
      // a few more polls, each of which would warn about the oversized mail
      await new Promise((resolve) => setTimeout(resolve, 2500))
    } finally {
      const exit = await daemon.stop()
      assert.strictEqual(exit.code, 0, daemon.stderr())
    }
    return daemon.stderr()
  }

  it("REBOUND_LOG_LEVEL overrides the file: error hides the INFO and WARN lines", async () => {
    assert.strictEqual(await stderrAtError([], { REBOUND_LOG_LEVEL: "error" }), "")
  }, 60_000)

  it("--log-level on the command line wins over the file: error hides the INFO and WARN lines", async () => {
    assert.strictEqual(await stderrAtError(["--log-level", "error"], {}), "")
  }, 60_000)

  it('log.format "logfmt" writes logfmt lines, annotations as key=value', async () => {
    const { daemon, config } = await untilWarned({ format: "logfmt" })
    const lines = linesOf(daemon.stderr())
    for (const line of lines) {
      assert.match(line, /^timestamp=\S+ level=(TRACE|DEBUG|INFO|WARN|ERROR) fiber=#\d+ message=/, line)
      assert.isFalse(line.startsWith("{"), line)
    }
    assert.isTrue(
      lines.some(
        (line) => line.includes(" level=INFO ") && line.endsWith(` message="rebound starting with ${config}"`)
      ),
      daemon.stderr()
    )
    assert.isTrue(
      lines.some((line) => / level=INFO .*message="processed 1 mails" account=inbox$/.test(line)),
      daemon.stderr()
    )
    assert.isTrue(
      lines.some((line) => / level=WARN .*message="left in the mailbox: .*" account=inbox uid=\S+$/.test(line)),
      daemon.stderr()
    )
  }, 60_000)
})
