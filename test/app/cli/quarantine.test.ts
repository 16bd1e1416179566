import { afterEach, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fill, HOUR, removeWorkspace, runCli, T0, tableCells, type Workspace, workspace } from "./fixture.js"

const workspaces: Array<Workspace> = []
afterEach(() => {
  for (const ws of workspaces.splice(0)) removeWorkspace(ws)
})

/** A filled store, and `rebound` bound to its configuration. */
const filled = Effect.gen(function* () {
  const ws = workspace()
  workspaces.push(ws)
  yield* fill(ws)
  return {
    ws,
    cli: (...args: ReadonlyArray<string>) => runCli(...args, "--config", ws.config)
  }
})

const json = (text: string) => JSON.parse(text) as ReadonlyArray<Record<string, unknown>>
const addressesOf = (text: string) => json(text).map((row) => row["address"])

describe("rebound quarantine list", () => {
  it.effect("lists quarantined addresses by default, in address order, as an aligned table", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const result = yield* cli("quarantine", "list")
      assert.strictEqual(result.exitCode, 0, result.stderr)
      const [header, ...rows] = tableCells(result.stdout)
      assert.deepStrictEqual(header, [
        "ADDRESS",
        "STATUS",
        "REASON",
        "TYPE",
        "CAUSE",
        "SUSPECT",
        "QUARANTINED",
        "ERRORS",
        "LAST ERROR",
        "LAST REASON",
        "UPDATED"
      ])
      assert.deepStrictEqual(
        rows.map((cells) => cells[0]),
        [
          "old@receiver.example",
          "r0@receiver.example",
          "s@signed.example",
          "x0@outage.example",
          "x1@outage.example",
          "x2@outage.example"
        ]
      )
      assert.deepStrictEqual(rows[1], [
        "r0@receiver.example",
        "quarantined",
        "userunknown",
        "hard",
        "hard-bounce",
        "no",
        "2026-01-10T09:00:00Z",
        "1",
        "2026-01-10T09:00:00Z",
        "userunknown",
        "2026-01-10T09:00:00Z"
      ])
      // columns line up: every row's second column starts where the header's does
      const lines = result.stdout.trimEnd().split("\n")
      const statusAt = lines[0]!.indexOf("STATUS")
      for (const line of lines.slice(1)) assert.strictEqual(line.indexOf("quarantined"), statusAt)
    })
  )

  it.effect("filters by status, domain, reason, suspect, time and limit", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const list = (...args: ReadonlyArray<string>) =>
        Effect.map(cli("quarantine", "list", "--format", "json", ...args), (r) => addressesOf(r.stdout))
      assert.deepStrictEqual(yield* list("--domain", "Outage.Example"), [
        "x0@outage.example",
        "x1@outage.example",
        "x2@outage.example"
      ])
      assert.deepStrictEqual(yield* list("--suspect"), ["x2@outage.example"])
      assert.deepStrictEqual(yield* list("--status", "denylisted"), ["r3@receiver.example"])
      assert.deepStrictEqual(yield* list("--status", "with-errors"), [
        "o0@other.example",
        "o1@other.example",
        "r1@receiver.example"
      ])
      assert.deepStrictEqual((yield* list("--status", "all")).length, 10)
      assert.deepStrictEqual(yield* list("--since", "2d", "--domain", "receiver.example"), ["r0@receiver.example"])
      assert.deepStrictEqual(yield* list("--until", "2026-01-01"), ["old@receiver.example"])
      assert.deepStrictEqual(yield* list("--since", "2025-12-31T08:00Z", "--until", "2025-12-31T10:00+00:00"), [
        "old@receiver.example"
      ])
      assert.deepStrictEqual(yield* list("--reason", "userunknown", "--domain", "signed.example"), ["s@signed.example"])
      assert.deepStrictEqual(yield* list("--reason", "mailboxfull"), [])

      const limited = yield* cli("quarantine", "list", "--limit", "2", "--format", "json")
      assert.deepStrictEqual(addressesOf(limited.stdout), ["old@receiver.example", "r0@receiver.example"])
      assert.include(limited.stderr, "showing the first 2 addresses")
    })
  )

  it.effect("prints every field in JSON and RFC 4180 CSV", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const rows = json((yield* cli("quarantine", "list", "--suspect", "--format", "json")).stdout)
      assert.deepStrictEqual(rows, [
        {
          address: "x2@outage.example",
          domain: "outage.example",
          status: "quarantined",
          reason: "userunknown",
          type: "hard",
          cause: "hard-bounce",
          suspect: true,
          quarantinedAt: "2026-01-10T09:00:00Z",
          errorCount: 1,
          lastErrorAt: "2026-01-10T09:00:00Z",
          lastErrorReason: "userunknown",
          updatedAt: "2026-01-10T09:00:00Z"
        }
      ])
      const csv = (yield* cli("quarantine", "list", "--suspect", "--format", "csv")).stdout
      assert.strictEqual(
        csv,
        "address,domain,status,reason,type,cause,suspect,quarantinedAt,errorCount,lastErrorAt,lastErrorReason,updatedAt\r\n" +
          "x2@outage.example,outage.example,quarantined,userunknown,hard,hard-bounce,true,2026-01-10T09:00:00Z,1,2026-01-10T09:00:00Z,userunknown,2026-01-10T09:00:00Z\r\n"
      )
    })
  )

  it.effect("refuses bad filters, unknown formats and a missing store", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const badTime = yield* cli("quarantine", "list", "--since", "yesterday")
      assert.strictEqual(badTime.exitCode, 1)
      assert.include(badTime.stderr, "--since")
      assert.strictEqual(badTime.stdout, "")
      const badDate = yield* cli("quarantine", "list", "--since", "2026-02-30")
      assert.include(badDate.stderr, "not a valid date")
      const badDomain = yield* cli("quarantine", "list", "--domain", "nodots")
      assert.strictEqual(badDomain.exitCode, 1)
      assert.include(badDomain.stderr, "--domain")
      const badFormat = yield* cli("quarantine", "list", "--format", "xml")
      assert.isTrue(badFormat.rejected)
      assert.strictEqual(badFormat.exitCode, 1)
      assert.match(badFormat.stderr, /table.*json.*csv/s)
      const badReason = yield* cli("quarantine", "list", "--reason", "nosuchreason")
      assert.isTrue(badReason.rejected)
      const noRows = yield* cli("quarantine", "list", "--limit", "0")
      assert.strictEqual(noRows.exitCode, 1)
      assert.include(noRows.stderr, "--limit must be at least 1")

      const empty = workspace()
      workspaces.push(empty)
      const missing = yield* runCli("quarantine", "list", "--config", empty.config)
      assert.strictEqual(missing.exitCode, 1)
      assert.include(missing.stderr, `no store at ${empty.database}`)
      assert.isFalse(fs.existsSync(path.dirname(empty.database)), "a read command must not create a store")
    })
  )
})

describe("rebound quarantine show", () => {
  it.effect("prints the status, counters, quarantine and the full history with who, when and why", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const released = yield* cli(
        "quarantine",
        "release",
        "R0@Receiver.Example",
        "--by",
        "ops@sender.example",
        "--why",
        "INC-7"
      )
      assert.strictEqual(released.exitCode, 0, released.stderr)
      const shown = yield* cli("quarantine", "show", "r0@receiver.example", "--format", "json")
      assert.strictEqual(shown.exitCode, 0, shown.stderr)
      const state = JSON.parse(shown.stdout)
      assert.strictEqual(state.status, "valid")
      assert.strictEqual(state.errorCount, 0)
      assert.isNull(state.quarantine)
      assert.deepStrictEqual(
        state.history.map((h: any) => [h.at, h.from, h.to, h.cause, h.who, h.why]),
        [
          ["2026-01-10T09:00:00Z", "valid", "quarantined", "hard-bounce", "rebound", state.history[0].why],
          ["2026-01-10T10:00:00Z", "quarantined", "valid", "release", "ops@sender.example", "INC-7"]
        ]
      )
      assert.match(state.history[0].why, /^hard userunknown 5\.1\.1 rule /)
      assert.match(state.history[0].mailSha256, /^[0-9a-f]{64}$/)
      assert.deepStrictEqual(
        state.events.map((e: any) => [e.kind, e.type, e.reason, e.status, e.correlation, e.deliveryId]),
        [["bounce", "hard", "userunknown", "5.1.1", "registered", "D1"]]
      )

      const table = (yield* cli("quarantine", "show", "x2@outage.example")).stdout
      assert.match(table, /^address +x2@outage\.example$/m)
      assert.match(table, /^status +quarantined$/m)
      assert.match(table, /^quarantine reason +hard userunknown$/m)
      assert.match(table, /^suspect +yes$/m)
      assert.match(table, /^History \(1\)\nAT +FROM +TO +CAUSE +ERRORS +REASON +SUSPECT +WHO +WHY\n/m)
      assert.match(table, /^Recent events \(1\)$/m)

      const csv = (yield* cli("quarantine", "show", "r0@receiver.example", "--format", "csv")).stdout.split("\r\n")
      assert.strictEqual(csv[0], "at,from,to,cause,errorCount,reason,suspect,who,why,mailSha256,recordIndex")
      assert.strictEqual(csv[2], "2026-01-10T10:00:00Z,quarantined,valid,release,0,,false,ops@sender.example,INC-7,,")
    })
  )

  it.effect("shows a never-seen address as valid; refuses what is not an address", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const unseen = JSON.parse((yield* cli("quarantine", "show", "nobody@else.example", "--format", "json")).stdout)
      assert.strictEqual(unseen.status, "valid")
      assert.deepStrictEqual(unseen.history, [])
      const bad = yield* cli("quarantine", "show", "not-an-address")
      assert.strictEqual(bad.exitCode, 1)
      assert.include(bad.stderr, "not an address")
      assert.strictEqual(bad.stdout, "")
    })
  )
})

describe("rebound quarantine release, confirm, allow, deny", () => {
  it.effect("changes named addresses, prints what became of each, and records who and why", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const result = yield* cli(
        "quarantine",
        "release",
        "x0@outage.example",
        "r1@receiver.example",
        "--by",
        "ops",
        "--why",
        "provider fixed",
        "--format",
        "json"
      )
      assert.strictEqual(result.exitCode, 0, result.stderr)
      assert.deepStrictEqual(json(result.stdout), [
        { address: "x0@outage.example", action: "release", from: "quarantined", to: "valid", changed: true },
        { address: "r1@receiver.example", action: "release", from: "with-errors", to: "valid", changed: true }
      ])
      assert.include(result.stderr, "released 2 of 2")

      const denied = yield* cli("quarantine", "deny", "trap@spam.example", "--by", "ops", "--why", "spam trap")
      assert.deepStrictEqual(tableCells(denied.stdout)[1], ["trap@spam.example", "deny", "valid", "denylisted", "yes"])
      const allowed = yield* cli(
        "quarantine",
        "allow",
        "r3@receiver.example",
        "--by",
        "ops",
        "--why",
        "VIP",
        "--format",
        "csv"
      )
      assert.strictEqual(allowed.stdout.split("\r\n")[1], "r3@receiver.example,allow,denylisted,allowlisted,true")
      const again = yield* cli("quarantine", "allow", "r3@receiver.example", "--by", "ops", "--why", "VIP")
      assert.deepStrictEqual(tableCells(again.stdout)[1], [
        "r3@receiver.example",
        "allow",
        "allowlisted",
        "allowlisted",
        "no"
      ])

      const history = JSON.parse(
        (yield* cli("quarantine", "show", "r3@receiver.example", "--format", "json")).stdout
      ).history
      assert.deepStrictEqual(
        history.map((h: any) => [h.cause, h.to, h.who]),
        [
          ["complaint", "denylisted", "rebound"],
          ["allow", "allowlisted", "ops"]
        ]
      )
      assert.strictEqual(history[1].why, "VIP")
    })
  )

  it.effect("changes nothing when one of the addresses is bad, or the operator is not named", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const bad = yield* cli("quarantine", "release", "x0@outage.example", "nope", "--by", "ops", "--why", "x")
      assert.strictEqual(bad.exitCode, 1)
      assert.include(bad.stderr, '"nope" has no "@"')
      const noWho = yield* cli("quarantine", "deny", "x0@outage.example", "--why", "x")
      assert.isTrue(noWho.rejected)
      const blank = yield* cli("quarantine", "deny", "x0@outage.example", "--by", " ", "--why", "x")
      assert.strictEqual(blank.exitCode, 1)
      assert.include(blank.stderr, "--by and --why")
      const state = JSON.parse((yield* cli("quarantine", "show", "x0@outage.example", "--format", "json")).stdout)
      assert.strictEqual(state.status, "quarantined")
      assert.lengthOf(state.history, 1)
    })
  )

  it.effect("releases in bulk by filter: a count without --yes, the release with it", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const release = (...args: ReadonlyArray<string>) =>
        cli("quarantine", "release", "--by", "ops", "--why", "INC-9: outage", "--format", "json", ...args)
      const dry = yield* release("--domain", "outage.example")
      assert.strictEqual(dry.exitCode, 0, dry.stderr)
      assert.deepStrictEqual(json(dry.stdout), [{ action: "release", matched: 3, changed: 0, dryRun: true }])
      assert.include(dry.stderr, "3 quarantined address(es) match; nothing was changed: add --yes")
      assert.lengthOf(
        addressesOf((yield* cli("quarantine", "list", "--domain", "outage.example", "--format", "json")).stdout),
        3
      )

      const some = yield* release("--reason", "userunknown", "--until", "2026-01-01", "--yes")
      assert.deepStrictEqual(json(some.stdout), [{ action: "release", matched: 1, changed: 1, dryRun: false }])
      const rest = yield* release("--domain", "outage.example", "--since", "2h", "--yes")
      assert.deepStrictEqual(json(rest.stdout), [{ action: "release", matched: 3, changed: 3, dryRun: false }])
      assert.include(rest.stderr, "released 3 address(es)")
      assert.deepStrictEqual(addressesOf((yield* cli("quarantine", "list", "--format", "json")).stdout), [
        "r0@receiver.example",
        "s@signed.example"
      ])
      const history = JSON.parse(
        (yield* cli("quarantine", "show", "x1@outage.example", "--format", "json")).stdout
      ).history
      assert.deepStrictEqual(history[1], {
        at: new Date(T0 + HOUR).toISOString().replace(".000", ""),
        from: "quarantined",
        to: "valid",
        cause: "release",
        errorCount: 0,
        reason: null,
        suspect: false,
        who: "ops",
        why: "INC-9: outage",
        mailSha256: null,
        recordIndex: null
      })
    })
  )

  it.effect("confirms suspect quarantines by filter", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const confirmed = yield* cli("quarantine", "confirm", "--suspect", "--by", "ops", "--why", "real", "--yes")
      assert.strictEqual(confirmed.exitCode, 0, confirmed.stderr)
      assert.deepStrictEqual(tableCells(confirmed.stdout), [
        ["ACTION", "MATCHED", "CHANGED", "DRY RUN"],
        ["confirm", "1", "1", "no"]
      ])
      assert.deepStrictEqual(
        addressesOf((yield* cli("quarantine", "list", "--suspect", "--format", "json")).stdout),
        []
      )
      assert.strictEqual(
        JSON.parse((yield* cli("quarantine", "show", "x2@outage.example", "--format", "json")).stdout).status,
        "quarantined"
      )
    })
  )

  it.effect("wants addresses or a filter, not both and not neither", () =>
    Effect.gen(function* () {
      const { cli } = yield* filled
      const both = yield* cli(
        "quarantine",
        "release",
        "x0@outage.example",
        "--domain",
        "outage.example",
        "--by",
        "o",
        "--why",
        "w"
      )
      assert.strictEqual(both.exitCode, 1)
      assert.include(both.stderr, "not both")
      const neither = yield* cli("quarantine", "release", "--by", "o", "--why", "w")
      assert.strictEqual(neither.exitCode, 1)
      assert.include(neither.stderr, "name the addresses to release")
      assert.lengthOf(addressesOf((yield* cli("quarantine", "list", "--format", "json")).stdout), 6)
    })
  )
})
