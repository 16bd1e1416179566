import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { postfixDsn } from "../../support/mails.js"

const bin = path.resolve(__dirname, "../../../bin/rebound.js")

const once = (dir: string) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, "once", "--config", path.join(dir, "rebound.config.json")], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: "" }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data: Buffer) => (stdout += data.toString()))
    child.stderr.on("data", (data: Buffer) => (stderr += data.toString()))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

const mailsIn = (box: string) =>
  fs.readdirSync(path.join(box, "new")).length + fs.readdirSync(path.join(box, "cur")).length

describe("rebound once and account leases", () => {
  it("skips and reports an account another process holds, and empties it once the lease has expired", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-once-leases-"))
    try {
      const box = path.join(dir, "bounces")
      const database = path.join(dir, "rebound.db")
      fs.writeFileSync(
        path.join(dir, "rebound.config.json"),
        JSON.stringify({
          store: { type: "sqlite", path: database },
          accounts: [{ type: "maildir", name: "bounces", path: box }],
          http: null,
          log: { level: "warning", format: "json" }
        })
      )
      // the first run creates the store and the Maildir
      assert.strictEqual((await once(dir)).code, 0)
      for (let i = 0; i < 3; i++) {
        const bytes = postfixDsn({
          recipients: [{ address: `user${i}@receiver.example`, status: "5.1.1", diagnostic: "550 5.1.1 unknown" }]
        })
        fs.writeFileSync(path.join(box, "new", `${i}.once.test`), bytes)
      }
      const db = new Database(database)
      try {
        const holder = "rebound@elsewhere:4242:cafe"
        db.prepare("INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (?, ?, ?, ?)").run(
          "account:bounces",
          holder,
          Date.now(),
          Date.now() + 60_000
        )
        const skipped = await once(dir)
        assert.strictEqual(skipped.code, 0, skipped.stderr)
        assert.match(skipped.stdout, /bounces: skipped, held by rebound@elsewhere:4242:cafe \(lease ends in \d+ s/)
        assert.strictEqual(mailsIn(box), 3, "the mails stay for the holder")

        // the holder died: its lease has run out
        db.prepare("UPDATE leases SET expires_at = ? WHERE name = 'account:bounces'").run(Date.now() - 1)
        const taken = await once(dir)
        assert.strictEqual(taken.code, 0, taken.stderr)
        assert.match(taken.stdout, /bounces: 3 mails retrieved/)
        assert.strictEqual(mailsIn(box), 0)
        const rows = db.prepare("SELECT holder FROM leases WHERE name = 'account:bounces'").all()
        assert.deepStrictEqual(rows, [], "released when done")
      } finally {
        db.close()
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
