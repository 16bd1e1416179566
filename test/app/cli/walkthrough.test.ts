import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import { linesOf, runBin, tempDir } from "./bin.js"

const samples = path.resolve(__dirname, "../../../samples")

/** What README.md's walk-through says each shipped sample is. */
const expected = {
  "hard-bounce.eml": {
    kind: "bounce",
    recipient: "alice@receiver.example",
    type: "hard",
    reason: "userunknown",
    status: "5.1.1"
  },
  "soft-bounce.eml": { kind: "bounce", recipient: "bob@receiver.example", type: "soft", reason: "mailboxfull" },
  "complaint.eml": { kind: "complaint", recipient: "carol@receiver.example", feedbackType: "abuse" }
} as const

describe("the README walk-through: the embedded default and the shipped samples", () => {
  it("classify decodes each shipped sample as README says", async () => {
    assert.sameMembers(fs.readdirSync(samples), Object.keys(expected))
    const result = await runBin(["classify", "--json", samples], { cwd: samples })
    assert.strictEqual(result.code, 0, result.stderr)
    const lines = linesOf(result.stdout).map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.lengthOf(lines, 3, result.stdout)
    for (const [file, fields] of Object.entries(expected)) {
      const line = lines.find((candidate) => candidate["file"] === path.join(samples, file))
      assert.isDefined(line, `no line for ${file}: ${result.stdout}`)
      for (const [field, value] of Object.entries(fields)) assert.strictEqual(line![field], value, `${file} ${field}`)
      // each sample is a reply to the same newsletter message
      assert.strictEqual(line!["originalMessageId"], "20260101120000.1234@sender.example", file)
    }
  }, 60_000)

  it("with no configuration, once makes ./data/rebound.db and ./inbox, and applies the samples dropped in inbox/new", async () => {
    const dir = tempDir("walkthrough")
    try {
      const first = await runBin(["once"], { cwd: dir })
      assert.isFalse(first.timedOut)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.strictEqual(
        first.stdout,
        "inbox: 0 mails retrieved (none), 0 deleted, 0 left in the mailbox, 1 session(s)\n"
      )
      assert.isTrue(fs.statSync(path.join(dir, "data", "rebound.db")).isFile())
      for (const folder of ["new", "cur", "tmp"])
        assert.isTrue(fs.statSync(path.join(dir, "inbox", folder)).isDirectory())
      // the README: no config file was made or needed
      assert.isFalse(fs.existsSync(path.join(dir, "rebound.config.json")))

      fs.copyFileSync(path.join(samples, "hard-bounce.eml"), path.join(dir, "inbox", "new", "1.eml"))
      fs.copyFileSync(path.join(samples, "soft-bounce.eml"), path.join(dir, "inbox", "new", "2.eml"))
      fs.copyFileSync(path.join(samples, "complaint.eml"), path.join(dir, "inbox", "new", "3.eml"))
      const second = await runBin(["once"], { cwd: dir })
      assert.isFalse(second.timedOut)
      assert.strictEqual(second.code, 0, second.stderr)
      assert.strictEqual(
        second.stdout,
        "inbox: 3 mails retrieved (applied 3), 3 deleted, 0 left in the mailbox, 1 session(s)\n"
      )
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "inbox", "new")), [])
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "inbox", "cur")), [])

      const db = new Database(path.join(dir, "data", "rebound.db"), { readonly: true })
      try {
        const ledger = db.prepare("SELECT account, outcome, records FROM mail_ledger ORDER BY uid").all()
        assert.deepStrictEqual(ledger, [
          { account: "inbox", outcome: "applied", records: 1 },
          { account: "inbox", outcome: "applied", records: 1 },
          { account: "inbox", outcome: "applied", records: 1 }
        ])
        const states = db
          .prepare(
            "SELECT address, status, list, error_count, last_error_reason, last_error_type, quarantine_reason, quarantine_type FROM address_states ORDER BY address"
          )
          .all()
        assert.deepStrictEqual(states, [
          {
            address: "alice@receiver.example",
            status: "quarantined",
            list: null,
            error_count: 1,
            last_error_reason: "userunknown",
            last_error_type: "hard",
            quarantine_reason: "userunknown",
            quarantine_type: "hard"
          },
          {
            address: "bob@receiver.example",
            status: "with-errors",
            list: null,
            error_count: 1,
            last_error_reason: "mailboxfull",
            last_error_type: "soft",
            quarantine_reason: null,
            quarantine_type: null
          },
          {
            address: "carol@receiver.example",
            status: "denylisted",
            list: "deny",
            error_count: 0,
            last_error_reason: null,
            last_error_type: null,
            quarantine_reason: null,
            quarantine_type: null
          }
        ])
      } finally {
        db.close()
      }

      // the README's next commands, run where the store is, still without a configuration file
      const alice = await runBin(["quarantine", "show", "alice@receiver.example", "--format", "json"], { cwd: dir })
      assert.strictEqual(alice.code, 0, alice.stderr)
      const shown = JSON.parse(alice.stdout)
      assert.strictEqual(shown.status, "quarantined")
      assert.include(shown.quarantine, { reason: "userunknown", type: "hard", cause: "hard-bounce" })
      assert.strictEqual(shown.events[0].status, "5.1.1")
      const withErrors = await runBin(["quarantine", "list", "--status", "with-errors", "--format", "json"], {
        cwd: dir
      })
      assert.strictEqual(withErrors.code, 0, withErrors.stderr)
      assert.deepStrictEqual(
        JSON.parse(withErrors.stdout).map((row: { address: string; errorCount: number; lastErrorReason: string }) => [
          row.address,
          row.errorCount,
          row.lastErrorReason
        ]),
        [["bob@receiver.example", 1, "mailboxfull"]]
      )
      const denylisted = await runBin(["quarantine", "list", "--status", "denylisted", "--format", "json"], {
        cwd: dir
      })
      assert.deepStrictEqual(
        JSON.parse(denylisted.stdout).map((row: { address: string }) => row.address),
        ["carol@receiver.example"]
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
