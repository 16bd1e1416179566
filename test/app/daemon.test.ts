import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import nodemailer from "nodemailer"
import { postfixDsn, qmailBounce } from "../support/mails.js"
import { quarantinedAddresses } from "../faults/harness.js"

const bin = path.resolve(__dirname, "../../bin/rebound.js")

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
    server.on("error", reject)
  })

const waitFor = async (what: string, check: () => boolean, seconds = 60) => {
  const until = Date.now() + seconds * 1000
  while (Date.now() < until) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))

describe("rebound run", () => {
  it("serves a Maildir account and the SMTP listener together, and exits 0 on SIGTERM", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-run-"))
    const port = await freePort()
    fs.writeFileSync(
      path.join(dir, "rebound.config.json"),
      JSON.stringify({
        store: { type: "sqlite", path: "./data/rebound.db" },
        accounts: [
          { type: "maildir", name: "inbox", path: "./inbox", pollSeconds: 1 },
          { type: "smtp", name: "listener", pollSeconds: 1 }
        ],
        smtp: { host: "127.0.0.1", port, domains: ["bounce.example.com"], spoolDir: "./data/spool" },
        http: { host: "127.0.0.1", port: 0 },
        log: { format: "json" }
      })
    )
    const child = spawn(process.execPath, [bin, "run"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let logs = ""
    child.stderr!.on("data", (chunk: Buffer) => (logs += chunk.toString()))
    const exit = exited(child)
    try {
      await waitFor("the listener", () => logs.includes("SMTP listener on"), 90)
      fs.mkdirSync(path.join(dir, "inbox", "new"), { recursive: true })
      fs.writeFileSync(
        path.join(dir, "inbox", "new", "1.eml"),
        qmailBounce("maildir-user@receiver.example", "Remote host said: 550 5.1.1 unknown user")
      )
      const transport = nodemailer.createTransport({ host: "127.0.0.1", port, secure: false, ignoreTLS: true })
      await transport.sendMail({
        envelope: { from: "", to: ["bounce@bounce.example.com"] },
        raw: postfixDsn({
          recipients: [{ address: "smtp-user@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown" }]
        })
      })
      const refused = await transport
        .sendMail({
          envelope: { from: "a@b.example", to: ["someone@elsewhere.example"] },
          raw: "Subject: x\r\n\r\nx\r\n"
        })
        .then(
          () => null,
          (error: { responseCode?: number }) => error.responseCode
        )
      assert.strictEqual(refused, 550)
      transport.close()
      const quarantined = () => quarantinedAddresses(path.join(dir, "data", "rebound.db"))
      await waitFor("both bounces applied", () => quarantined().length === 2)
      assert.deepStrictEqual(quarantined(), ["maildir-user@receiver.example", "smtp-user@receiver.example"])
      // the mailboxes are emptied when each session commits, just after the store transaction
      await waitFor(
        "both mailboxes emptied",
        () =>
          fs.readdirSync(path.join(dir, "inbox", "new")).length === 0 &&
          fs.readdirSync(path.join(dir, "data", "spool", "new")).length === 0
      )
      const url = /HTTP API listening on (http:\/\/[0-9.]+:\d+)/.exec(logs)?.[1]
      assert.isDefined(url, logs)
      assert.strictEqual((await fetch(`${url}/health`)).status, 200)
      // the bin runs the bundle when it is built: the dashboard's files are found from there too
      const dashboard = await fetch(`${url}/`)
      assert.strictEqual(dashboard.status, 200)
      assert.include(await dashboard.text(), "<title>rebound</title>")
      const address = (await (await fetch(`${url}/v1/addresses/smtp-user%40receiver.example`)).json()) as {
        status: string
      }
      assert.strictEqual(address.status, "quarantined")
    } finally {
      child.kill("SIGTERM")
    }
    assert.strictEqual(await exit, 0, logs)
  }, 180_000)
})
