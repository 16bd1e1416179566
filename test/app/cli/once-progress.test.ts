import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { eximBounce, personalMail, postfixDsn, qmailBounce } from "../../support/mails.js"
import { linesOf, runBin, tempDir } from "./bin.js"

const progressLine = /^bounces: (\d+)\/(\d+) mails, (\d+) mails\/s, ETA (\d+)s$/
const summaryLine =
  /^bounces: (\d+) mails retrieved \(([^)]*)\), (\d+) deleted, (\d+) left in the mailbox, (\d+) session\(s\)$/

describe("rebound once, standard error not a terminal", () => {
  it("prints plain progress lines over the whole drain, ending at done = total, and a summary line on stdout", async () => {
    const dir = tempDir("once-progress")
    try {
      const box = path.join(dir, "bounces")
      const database = path.join(dir, "rebound.db")
      const config = path.join(dir, "rebound.config.json")
      fs.writeFileSync(
        config,
        JSON.stringify({
          store: { type: "sqlite", path: database },
          // two mails per session: five mails take three sessions, and the progress total must cover all of them
          accounts: [{ type: "maildir", name: "bounces", path: box, maxMailsPerSession: 2 }],
          http: null,
          log: { level: "warning", format: "json" }
        })
      )
      fs.mkdirSync(path.join(box, "new"), { recursive: true })
      const mails = [
        postfixDsn({
          recipients: [{ address: "p1@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }]
        }),
        qmailBounce("q1@receiver.example", "Remote host said: 552 5.2.2 mailbox full"),
        eximBounce([["e1@receiver.example", "550 5.1.1 No such user here"]]),
        postfixDsn({
          recipients: [{ address: "p2@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }]
        }),
        personalMail()
      ]
      mails.forEach((bytes, index) => fs.writeFileSync(path.join(box, "new", `${index + 1}.progress.test`), bytes))

      const result = await runBin(["once", "--config", config], { cwd: dir })
      assert.isFalse(result.timedOut)
      assert.strictEqual(result.code, 0, result.stderr)

      // no terminal: no carriage returns, no bar; every line on stderr is a progress line (logs are at warning)
      assert.notInclude(result.stderr, "\r")
      assert.notInclude(result.stderr, "[#")
      const lines = linesOf(result.stderr)
      assert.isAtLeast(lines.length, 2, result.stderr)
      const progress = lines.map((line) => {
        const match = progressLine.exec(line)
        assert.isNotNull(match, `not a progress line: ${JSON.stringify(line)}`)
        const [, done, total, rate, eta] = match!.map(Number)
        return { done: done!, total: total!, rate: rate!, eta: eta! }
      })
      // the first session counts the whole Maildir, so the total is 5 from the first line on, not its share of 2
      assert.deepStrictEqual(progress[0], { done: 0, total: 5, rate: 0, eta: 0 })
      for (const line of progress) assert.isAtMost(line.done, line.total)
      const last = progress[progress.length - 1]!
      assert.strictEqual(last.done, 5)
      assert.strictEqual(last.total, 5)
      assert.strictEqual(last.eta, 0)
      assert.isAbove(last.rate, 0)

      const summary = linesOf(result.stdout)
      assert.lengthOf(summary, 1, result.stdout)
      const match = summaryLine.exec(summary[0]!)
      assert.isNotNull(match, summary[0])
      const [, retrieved, detail, deleted, left, sessions] = match!
      assert.strictEqual(Number(retrieved), 5)
      const outcomes = Object.fromEntries(
        detail!.split(", ").map((part) => {
          const [outcome, count] = part.split(" ")
          return [outcome, Number(count)]
        })
      )
      assert.deepStrictEqual(outcomes, { applied: 4, "not-a-bounce": 1 })
      assert.strictEqual(Number(deleted), 5)
      assert.strictEqual(Number(left), 0)
      assert.strictEqual(Number(sessions), 3)

      assert.deepStrictEqual(fs.readdirSync(path.join(box, "new")), [])
      assert.deepStrictEqual(fs.readdirSync(path.join(box, "cur")), [])
      const db = new Database(database, { readonly: true })
      try {
        const ledger = db
          .prepare("SELECT outcome, count(*) AS mails FROM mail_ledger WHERE account = 'bounces' GROUP BY outcome")
          .all()
        assert.sameDeepMembers(ledger, [
          { outcome: "applied", mails: 4 },
          { outcome: "not-a-bounce", mails: 1 }
        ])
      } finally {
        db.close()
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("prints no progress line for an empty mailbox, and a summary of nothing", async () => {
    const dir = tempDir("once-empty")
    try {
      const config = path.join(dir, "rebound.config.json")
      fs.writeFileSync(
        config,
        JSON.stringify({
          store: { type: "sqlite", path: path.join(dir, "rebound.db") },
          accounts: [{ type: "maildir", name: "bounces", path: path.join(dir, "bounces") }],
          http: null,
          log: { level: "warning", format: "json" }
        })
      )
      const result = await runBin(["once", "--config", config], { cwd: dir })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stderr, "")
      assert.strictEqual(
        result.stdout,
        "bounces: 0 mails retrieved (none), 0 deleted, 0 left in the mailbox, 1 session(s)\n"
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
