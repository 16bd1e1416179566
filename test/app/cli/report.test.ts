import { afterEach, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { correlationRows, deliveryRows, domainRows, reasonRows } from "../../../src/app/cli/report.js"
import { fill, removeWorkspace, runCli, tableCells, userUnknown, type Workspace, workspace } from "./fixture.js"

const workspaces: Array<Workspace> = []
afterEach(() => {
  for (const ws of workspaces.splice(0)) removeWorkspace(ws)
})

const filled = Effect.gen(function* () {
  const ws = workspace()
  workspaces.push(ws)
  yield* fill(ws)
  return (...args: ReadonlyArray<string>) => runCli("report", ...args, "--config", ws.config)
})

describe("rebound report", () => {
  it.effect("by reason: hard, soft and ignored records per reason over the last 7 days, with shares and totals", () =>
    Effect.gen(function* () {
      const report = yield* filled
      const table = yield* report()
      assert.strictEqual(table.exitCode, 0, table.stderr)
      const [title, blank, ...rows] = table.stdout.trimEnd().split("\n")
      assert.strictEqual(title, "Bounce records by reason, 2026-01-03T10:00:00Z to 2026-01-10T10:00:00Z")
      assert.strictEqual(blank, "")
      assert.deepStrictEqual(tableCells(rows.join("\n")), [
        ["REASON", "TOTAL", "HARD", "SOFT", "IGNORED", "SHARE"],
        ["userunknown", "5", "5", "0", "0", "55.56%"],
        ["mailboxfull", "3", "0", "3", "0", "33.33%"],
        ["blocked", "1", "0", "1", "0", "11.11%"],
        ["(all)", "9", "5", "4", "0", "100.00%"]
      ])

      const json = JSON.parse((yield* report("--since", "30d", "--format", "json")).stdout)
      assert.strictEqual(json.by, "reason")
      assert.strictEqual(json.from, "2025-12-11T10:00:00Z")
      assert.deepStrictEqual(json.rows[0], {
        reason: "userunknown",
        total: 6,
        hard: 6,
        soft: 0,
        ignored: 0,
        share: 0.6
      })
      assert.deepStrictEqual(json.totals, { reason: "(all)", total: 10, hard: 6, soft: 4, ignored: 0, share: 1 })

      const old = yield* report("--since", "2025-12-31", "--until", "2026-01-01", "--format", "csv")
      assert.strictEqual(old.stdout, "reason,total,hard,soft,ignored,share\r\nuserunknown,1,1,0,0,1\r\n")
      const none = yield* report("--since", "2026-01-01", "--until", "2026-01-05", "--format", "json")
      assert.deepStrictEqual(JSON.parse(none.stdout).rows, [])
    })
  )

  it.effect("by domain: sends, bounces on either side, and hard and soft rates over recorded sends", () =>
    Effect.gen(function* () {
      const report = yield* filled
      const json = JSON.parse((yield* report("--by", "domain", "--format", "json")).stdout)
      assert.strictEqual(json.from, "2026-01-03T10:00:00Z")
      assert.strictEqual(json.to, "2026-01-10T11:00:00Z")
      assert.deepStrictEqual(json.rows, [
        {
          domain: "receiver.example",
          sent: 40,
          hard: 1,
          soft: 1,
          ours: 1,
          delayed: 0,
          delivered: 0,
          complaints: 1,
          hardRate: 0.025,
          softRate: 0.025
        },
        {
          domain: "outage.example",
          sent: 5,
          hard: 3,
          soft: 0,
          ours: 0,
          delayed: 0,
          delivered: 0,
          complaints: 0,
          hardRate: 0.6,
          softRate: 0
        },
        {
          domain: "other.example",
          sent: 10,
          hard: 0,
          soft: 2,
          ours: 0,
          delayed: 0,
          delivered: 0,
          complaints: 0,
          hardRate: 0,
          softRate: 0.2
        },
        {
          domain: "signed.example",
          sent: 0,
          hard: 1,
          soft: 0,
          ours: 0,
          delayed: 0,
          delivered: 0,
          complaints: 0,
          hardRate: null,
          softRate: null
        }
      ])
      const table = tableCells((yield* report("--by", "domain", "--limit", "2")).stdout.split("\n\n")[1]!)
      assert.deepStrictEqual(table, [
        ["DOMAIN", "SENT", "HARD", "SOFT", "OURS", "DELAYED", "DELIVERED", "COMPLAINTS", "HARD RATE", "SOFT RATE"],
        ["receiver.example", "40", "1", "1", "1", "0", "0", "1", "2.50%", "2.50%"],
        ["outage.example", "5", "3", "0", "0", "0", "0", "0", "60.00%", "0.00%"]
      ])
      // the old delivery's send and bounce are outside the default week, inside 30 days
      const month = JSON.parse((yield* report("--by", "domain", "--since", "30d", "--format", "json")).stdout)
      assert.strictEqual(month.rows[0].sent, 41)
      assert.strictEqual(month.rows[0].hard, 2)
    })
  )

  it.effect("by delivery: rates over each delivery's messages, flagged above Campaign's 2% hard and 10% soft", () =>
    Effect.gen(function* () {
      const report = yield* filled
      const table = yield* report("--by", "delivery")
      assert.strictEqual(table.exitCode, 0, table.stderr)
      const [title, body] = table.stdout.split("\n\n")
      assert.strictEqual(
        title,
        "Deliveries active 2026-01-03T10:00:00Z to 2026-01-10T10:00:00Z; flagged above 2.00% hard or 10.00% soft"
      )
      assert.deepStrictEqual(tableCells(body!), [
        [
          "DELIVERY",
          "MESSAGES",
          "HARD",
          "SOFT",
          "DELAYED",
          "COMPLAINTS",
          "HARD RATE",
          "SOFT RATE",
          "FLAGS",
          "LAST UPDATE"
        ],
        ["D1", "40", "1", "2", "0", "1", "2.50%", "5.00%", "HARD", "2026-01-10T09:00:00Z"],
        ["D2", "10", "0", "2", "0", "0", "0.00%", "20.00%", "SOFT", "2026-01-10T09:00:00Z"],
        ["D3", "1", "1", "0", "0", "0", "100.00%", "0.00%", "HARD", "2026-01-10T09:00:00Z"],
        ["D4", "5", "3", "0", "0", "0", "60.00%", "0.00%", "HARD", "2026-01-10T09:00:00Z"]
      ])

      const json = JSON.parse(
        (yield* report("--by", "delivery", "--hard-threshold", "0.1", "--soft-threshold", "0.25", "--format", "json"))
          .stdout
      )
      assert.strictEqual(json.hardThreshold, 0.1)
      assert.deepStrictEqual(json.rows[0], {
        deliveryId: "D1",
        messages: 40,
        hard: 1,
        soft: 2,
        delayed: 0,
        complaints: 1,
        hardRate: 0.025,
        softRate: 0.05,
        hardFlagged: false,
        softFlagged: false,
        lastUpdate: "2026-01-10T09:00:00Z"
      })
      assert.deepStrictEqual(
        json.rows.map((row: any) => [row.deliveryId, row.hardFlagged, row.softFlagged]),
        [
          ["D1", false, false],
          ["D2", false, false],
          ["D3", true, false],
          ["D4", true, false]
        ]
      )
      const csv = (yield* report(
        "--by",
        "delivery",
        "--since",
        "2025-12-30",
        "--until",
        "2026-01-01",
        "--format",
        "csv"
      )).stdout
      assert.strictEqual(
        csv,
        "deliveryId,messages,hard,soft,delayed,complaints,hardRate,softRate,hardFlagged,softFlagged,lastUpdate\r\n" +
          "D0,1,1,0,0,0,1,0,true,false,2025-12-31T09:00:00Z\r\n"
      )
    })
  )

  it.effect(
    "by correlation: with signing keys, a bounce that neither verifies nor matches a sent message changes nothing, and shows here",
    () =>
      Effect.gen(function* () {
        const ws = workspace()
        workspaces.push(ws)
        // a forged (or unregistered) bounce for an address of a sent message: its Message-ID is nobody's
        yield* fill(ws, [userUnknown("r9@receiver.example", "<forged-1@elsewhere.example>")])
        const report = (...args: ReadonlyArray<string>) => runCli("report", ...args, "--config", ws.config)
        const json = JSON.parse((yield* report("--by", "correlation", "--format", "json")).stdout)
        assert.strictEqual(json.by, "correlation")
        // the fixture: nine bounces and a complaint of registered messages (the spam block counts against its domain),
        // one of a signed Message-ID, and the forged one
        assert.deepStrictEqual(json.rows, [
          { source: "registered", total: 9, address: 8, domain: 1, none: 0 },
          { source: "signed", total: 1, address: 1, domain: 0, none: 0 },
          { source: "unverified", total: 1, address: 0, domain: 0, none: 1 }
        ])
        assert.deepStrictEqual(json.totals, { source: "(all)", total: 11, address: 9, domain: 1, none: 1 })
        const quarantine = yield* runCli(
          "quarantine",
          "show",
          "r9@receiver.example",
          "--config",
          ws.config,
          "--format",
          "json"
        )
        assert.strictEqual(JSON.parse(quarantine.stdout).status, "valid")
        const table = yield* report("--by", "correlation")
        assert.strictEqual(table.exitCode, 0, table.stderr)
        assert.deepStrictEqual(tableCells(table.stdout.split("\n\n")[1]!).at(-2), ["unverified", "1", "0", "0", "1"])
      })
  )

  it("per correlation: counts add up per source, the largest first", () => {
    const { rows, totals } = correlationRows([
      { source: "unverified", countedAgainst: "none", count: 2 },
      { source: "registered", countedAgainst: "address", count: 5 },
      { source: "registered", countedAgainst: "domain", count: 1 },
      { source: "none", countedAgainst: "none", count: 2 }
    ])
    assert.deepStrictEqual(
      rows.map((row) => [row.source, row.total, row.address, row.domain, row.none]),
      [
        ["registered", 6, 5, 1, 0],
        ["none", 2, 0, 0, 2],
        ["unverified", 2, 0, 0, 2]
      ]
    )
    assert.deepStrictEqual(totals, { source: "(all)", total: 10, address: 5, domain: 1, none: 4 })
  })

  it.effect("refuses bad periods, thresholds, limits and choices", () =>
    Effect.gen(function* () {
      const report = yield* filled
      const reversed = yield* report("--since", "2026-01-05", "--until", "2026-01-01")
      assert.strictEqual(reversed.exitCode, 1)
      assert.include(reversed.stderr, "--since must be before --until")
      const threshold = yield* report("--by", "delivery", "--hard-threshold", "2")
      assert.strictEqual(threshold.exitCode, 1)
      assert.include(threshold.stderr, "between 0 and 1")
      const limit = yield* report("--by", "domain", "--limit", "-3")
      assert.strictEqual(limit.exitCode, 1)
      assert.include(limit.stderr, "--limit must be at least 1")
      const by = yield* report("--by", "recipient")
      assert.isTrue(by.rejected)
      const format = yield* report("--format", "yaml")
      assert.isTrue(format.rejected)
      assert.strictEqual(format.stdout, "")
    })
  )
})

describe("report rows", () => {
  it("per reason: types add up, shares are of all records, the largest reason first", () => {
    const { rows, totals } = reasonRows([
      { type: "soft", reason: "mailboxfull", count: 1 },
      { type: "ignored", reason: "onhold", count: 2 },
      { type: "hard", reason: "onhold", count: 1 }
    ])
    assert.deepStrictEqual(rows, [
      { reason: "onhold", total: 3, hard: 1, soft: 0, ignored: 2, share: 0.75 },
      { reason: "mailboxfull", total: 1, hard: 0, soft: 1, ignored: 0, share: 0.25 }
    ])
    assert.deepStrictEqual(totals, { reason: "(all)", total: 4, hard: 1, soft: 1, ignored: 2, share: 1 })
  })

  it("an empty period has no rows and zero totals", () => {
    assert.deepStrictEqual(reasonRows([]), {
      rows: [],
      totals: { reason: "(all)", total: 0, hard: 0, soft: 0, ignored: 0, share: 1 }
    })
  })

  it("a domain with no recorded sends has no rates; domain-side reasons add up", () => {
    const [row] = domainRows([
      { domain: "d.example", counters: { soft: 2, "ours:blocked": 3, "ours:spamdetected": 1 } }
    ])
    assert.strictEqual(row?.ours, 4)
    assert.isNull(row?.hardRate)
  })

  it("a rate equal to the threshold is not flagged", () => {
    const [row] = deliveryRows(
      [{ deliveryId: "D", messages: 50, hard: 1, soft: 5, delayed: 0, complaints: 0, lastUpdate: 0 }],
      { hard: 0.02, soft: 0.1 }
    )
    assert.deepStrictEqual([row?.hardFlagged, row?.softFlagged], [false, false])
  })
})
