import { afterEach, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { postfixDsn, qmailBounce } from "../../support/mails.js"
import { loopbackAccount, TestPop3Server, type TestPop3ServerOptions } from "../../support/pop3-server.js"
import { linesOf, runBin, tempDir } from "./bin.js"

const mails = [
  postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown" }] }),
  qmailBounce("b@receiver.example", "Remote host said: 552 5.2.2 mailbox full"),
  postfixDsn({ recipients: [{ address: "c@receiver.example", status: "4.2.2", diagnostic: "452 4.2.2 over quota" }] })
]
const octets = mails.reduce((sum, mail) => sum + mail.length, 0)

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A POP3 server on loopback and a configuration with one plaintext account "bounces" on it. */
const setup = async (options: TestPop3ServerOptions, auth: Record<string, unknown>) => {
  const server = new TestPop3Server(options)
  await server.start()
  cleanups.push(() => server.stop())
  const dir = tempDir("test-connection")
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  const config = path.join(dir, "rebound.config.json")
  fs.writeFileSync(
    config,
    JSON.stringify({
      store: { type: "sqlite", path: path.join(dir, "rebound.db") },
      accounts: [
        loopbackAccount(server, {
          auth: { username: "bounce", password: "secret", ...auth },
          connectTimeout: 5,
          commandTimeout: 5
        })
      ],
      http: null,
      log: { level: "warning", format: "json" }
    })
  )
  const testConnection = (account = "bounces") =>
    runBin(["test-connection", account, "--config", config], { cwd: dir, timeoutMs: 30_000 })
  return { server, dir, testConnection }
}

const deletingCommands = (server: TestPop3Server) => server.lines().filter((line) => /^(DELE|RETR|TOP)\b/i.test(line))

describe("rebound test-connection", () => {
  it("reports the connection, pipelining, LOGIN-DELAY, EXPIRE, the mailbox size and the raw capabilities; deletes nothing", async () => {
    const capabilities = ["TOP", "USER", "RESP-CODES", "AUTH-RESP-CODE", "LOGIN-DELAY 900", "EXPIRE NEVER"]
    const { server, testConnection } = await setup({ mails, capabilities, sasl: ["PLAIN"] }, { mechanism: "user" })
    const result = await testConnection()
    assert.isFalse(result.timedOut)
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(linesOf(result.stdout), [
      "bounces: connected (pop3, NOT ENCRYPTED, authentication USER)",
      "pipelining: yes",
      "login delay: 900 s",
      "expire: never",
      `mailbox: 3 mails, ${octets} octets`,
      `capabilities: ${[...capabilities, "UIDL", "PIPELINING", "SASL PLAIN"].join(" | ")}`
    ])
    // the password went in clear: said on stderr, as a JSON log line (not a terminal)
    const warnings = linesOf(result.stderr).map((line) => JSON.parse(line) as { message: string; logLevel: string })
    assert.deepStrictEqual(
      warnings.map((line) => [line.logLevel, line.message]),
      [["WARN", "POP3 127.0.0.1: the password is sent without TLS (tls: none)"]]
    )
    assert.includeMembers(server.lines(), ["USER bounce", "PASS secret", "STAT"])
    assert.deepStrictEqual(deletingCommands(server), [])
    assert.lengthOf(server.mails, 3)
  }, 60_000)

  it("says no pipelining and omits LOGIN-DELAY and EXPIRE when the server announces none; SASL PLAIN when auto picks it", async () => {
    const { server, testConnection } = await setup(
      { mails: mails.slice(0, 1), capabilities: ["USER"], pipelining: false, sasl: ["PLAIN"] },
      { mechanism: "auto" }
    )
    const result = await testConnection()
    assert.strictEqual(result.code, 0, result.stderr)
    assert.deepStrictEqual(linesOf(result.stdout), [
      "bounces: connected (pop3, NOT ENCRYPTED, authentication SASL PLAIN)",
      "pipelining: no",
      `mailbox: 1 mails, ${mails[0]!.length} octets`,
      "capabilities: USER | UIDL | SASL PLAIN"
    ])
    assert.deepStrictEqual(deletingCommands(server), [])
    assert.lengthOf(server.mails, 1)
  }, 60_000)

  it("exits 1 with the reason on stderr when the login fails, and 2 for an account that does not exist", async () => {
    const { server, testConnection } = await setup({ mails }, { mechanism: "user", password: "hunter2-refused" })
    const refused = await testConnection()
    assert.strictEqual(refused.code, 1, refused.stdout)
    assert.strictEqual(refused.stdout, "")
    assert.match(refused.stderr, /^bounces: Auth: /m)
    assert.notInclude(refused.stderr, "hunter2", "the password is never printed")
    const unknown = await testConnection("nowhere")
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "rebound: no account named nowhere")
    assert.lengthOf(server.mails, 3)
  }, 60_000)
})
