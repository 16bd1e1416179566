import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { personalMail, postfixDsn, qmailBounce } from "../support/mails.js"

const bin = path.resolve(__dirname, "../../bin/rebound.js")
const run = (args: ReadonlyArray<string>, input?: Buffer) =>
  spawnSync(process.execPath, [bin, ...args], { input, encoding: "utf8", timeout: 60_000 })

const fields = [
  "file",
  "kind",
  "recipient",
  "type",
  "reason",
  "status",
  "replyCode",
  "diagnostic",
  "action",
  "originalMessageId",
  "originalEnvelopeId",
  "feedbackType",
  "reportingMta",
  "remoteMta",
  "rule",
  "correlation"
]

describe("rebound classify", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-classify-"))
  fs.mkdirSync(path.join(dir, "nested"))
  fs.writeFileSync(
    path.join(dir, "a-dsn.eml"),
    postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown" }] })
  )
  fs.writeFileSync(path.join(dir, "nested", "b-qmail.eml"), qmailBounce("b@receiver.example", "552 mailbox full"))
  fs.writeFileSync(path.join(dir, "c-personal.eml"), personalMail())
  const mbox = Buffer.concat([
    Buffer.from("From MAILER-DAEMON Thu Jan  1 12:00:01 2026\n"),
    qmailBounce("m1@receiver.example", "550 5.1.1 unknown user"),
    Buffer.from("\nFrom MAILER-DAEMON Thu Jan  1 12:00:02 2026\n"),
    qmailBounce("m2@receiver.example", "550 5.1.1 unknown user")
  ])
  fs.writeFileSync(path.join(dir, "d.mbox"), mbox)

  it("prints one JSON object per record with exactly the documented fields, walking directories and mboxes", () => {
    const result = run(["classify", "--json", dir])
    assert.strictEqual(result.status, 0, result.stderr)
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const line of lines) assert.deepStrictEqual(Object.keys(line), fields)
    const byRecipient = new Map(lines.map((line) => [line["recipient"], line]))
    assert.strictEqual(byRecipient.get("a@receiver.example")?.["reason"], "userunknown")
    assert.strictEqual(byRecipient.get("a@receiver.example")?.["type"], "hard")
    assert.strictEqual(byRecipient.get("b@receiver.example")?.["file"], path.join(dir, "nested", "b-qmail.eml"))
    assert.strictEqual(byRecipient.get("m1@receiver.example")?.["file"], path.join(dir, "d.mbox"))
    assert.strictEqual(byRecipient.get("m2@receiver.example")?.["file"], path.join(dir, "d.mbox"))
    const personal = lines.find((line) => line["file"] === path.join(dir, "c-personal.eml"))
    assert.strictEqual(personal?.["kind"], "not-bounce")
    assert.strictEqual(personal?.["recipient"], null)
    assert.strictEqual(lines.length, 5)
  })

  it("reads standard input for -", () => {
    const result = run(["classify", "--json", "-"], qmailBounce("s@receiver.example", "550 5.1.1 unknown user"))
    assert.strictEqual(result.status, 0, result.stderr)
    assert.strictEqual(JSON.parse(result.stdout)["recipient"], "s@receiver.example")
  })

  it("prints a table by default", () => {
    const result = run(["classify", path.join(dir, "a-dsn.eml")])
    assert.strictEqual(result.status, 0, result.stderr)
    const [header, row] = result.stdout.trim().split("\n")
    assert.match(header!, /^FILE\tKIND\tRECIPIENT\tTYPE\tREASON\tSTATUS/)
    assert.include(row!, "a@receiver.example\thard\tuserunknown\t5.1.1\t550")
  })

  it("reports an unreadable path on stderr, goes on with the others and exits 1", () => {
    const missing = path.join(dir, "missing.eml")
    const result = run(["classify", "--json", missing, path.join(dir, "a-dsn.eml")])
    assert.strictEqual(result.status, 1)
    assert.include(result.stderr, `cannot read ${missing}`)
    assert.strictEqual(JSON.parse(result.stdout.trim())["recipient"], "a@receiver.example")
  })
})
