/**
 * Security through whole processes: `rebound run` (debug logging, PostgreSQL store, signing keys, API tokens,
 * webhooks) empties a Dovecot mailbox that holds a genuine bounce and forged ones (valid DSN form, Message-IDs
 * signed with the wrong secret, tampered, unsigned): only the genuine one quarantines its address. Every /v1 route
 * answers 401 without a token or with a wrong one. No secret appears in the standard output or error of any
 * process this file runs (run, once, config check, test-connection, with a refused login and a refused webhook).
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { encodeMessageId, type SigningKey } from "../../src/domain/codec.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../support/dovecot.js"
import { postfixDsn } from "../support/mails.js"
import { type PostgresServer, postgresBinDir, postgresInstall, startPostgres } from "../support/postgres.js"
import { skipWithout } from "../support/services.js"
import {
  capturedLogs,
  dumpPostgres,
  killLeftovers,
  messageIdDomain,
  type ReboundProcess,
  signingKey,
  spawnRebound,
  waitFor,
  writeConfig
} from "./harness.js"

const skip =
  skipWithout(dovecotAvailable, "Dovecot with its POP3 server", dovecotInstall) ||
  skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

const adminToken = "admin-token-SECRET-0123456789abcdef"
const readToken = "read-token-SECRET-fedcba9876543210"
const webhookSecret = "webhook-SECRET-5f3a9c1e7b2d4f60"
const pgPassword = "pg-password-SECRET-71c4e9a2"
const wrongPop3Password = "wrong-pop3-SECRET-90817263"
const user = "bounces"

/** The Message-ID of our mail to `recipient`, signed with `key`. */
const signedId = (recipient: string, key: SigningKey) =>
  encodeMessageId({ instance: "rebound", deliveryId: "campaign-1", recipientId: recipient }, key, messageIdDomain)

const bounceFor = (recipient: string, messageId: string) =>
  postfixDsn({
    recipients: [{ address: recipient, status: "5.1.1", diagnostic: "550 5.1.1 <" + recipient + ">: User unknown" }],
    original: { from: "news@sender.example", to: recipient, messageId, subject: "Our newsletter" }
  })

/** The same Message-ID with one character of its signature changed. */
const tampered = (messageId: string) => {
  const at = messageId.indexOf("@") - 2
  const flipped = messageId[at] === "a" ? "b" : "a"
  return messageId.slice(0, at) + flipped + messageId.slice(at + 1)
}

const genuine = "genuine@receiver.example"
const forged = [
  "forged-wrong-key@receiver.example",
  "forged-tampered@receiver.example",
  "forged-unsigned@receiver.example"
]
const attackerKey: SigningKey = { id: signingKey.id, secret: Redacted.make("attacker-guessed-secret-0000") }

/** Every /v1 route of src/app/http/api.ts, with a body for the POSTs. */
const routes: ReadonlyArray<readonly [method: "GET" | "POST", path: string, body?: unknown]> = [
  ["GET", `/v1/addresses/${encodeURIComponent(genuine)}`],
  ["POST", "/v1/addresses/check", { addresses: [genuine] }],
  ...(["release", "allow", "deny", "confirm"] as const).map(
    (name) => ["POST", `/v1/addresses/${encodeURIComponent(genuine)}/${name}`, { reason: "test" }] as const
  ),
  ["POST", "/v1/addresses/release", { addresses: [genuine] }],
  ["POST", "/v1/messages", { messages: [] }],
  ["POST", "/v1/deliveries/success", { messageIds: [] }],
  ["GET", "/v1/bounces"],
  ["GET", "/v1/reports/reasons"],
  ["GET", "/v1/reports/domains"],
  ["GET", "/v1/reports/deliveries"],
  ["GET", "/v1/reports/timeline"],
  ["GET", "/v1/session"],
  ["GET", "/v1/quarantines"],
  ["GET", "/v1/qualification"],
  ["GET", "/v1/alerts"],
  ["GET", "/v1/accounts"],
  ["GET", "/v1/webhooks"],
  ["POST", "/v1/qualification/abc/review", { review: "confirmed" }],
  ["POST", "/v1/webhooks/retry", {}]
]

describe.skipIf(skip)("security of a running rebound", () => {
  let dovecot: Dovecot
  let postgres: PostgresServer
  let receiver: http.Server
  const webhooks: Array<{ readonly body: string; readonly signature: string | undefined }> = []
  let dir: string
  let configFile: string
  let databaseUrl: string
  let daemon: ReboundProcess | undefined

  beforeAll(async () => {
    dovecot = await startDovecot([user])
    postgres = await startPostgres()
    const database = postgres.createDatabase("security")
    // the server trusts loopback: the password is never checked, but it is in the URL rebound is given
    databaseUrl = database.replace(`${postgres.user}@`, `${postgres.user}:${pgPassword}@`)
    receiver = http.createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        webhooks.push({ body, signature: request.headers["x-rebound-signature"] as string | undefined })
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve))
    const receiverPort = (receiver.address() as net.AddressInfo).port
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-security-"))
    const pop3 = (name: string, password: string) => ({
      type: "pop3",
      name,
      host: "127.0.0.1",
      port: dovecot.port,
      tls: "starttls",
      caFile: dovecot.certificate.certFile,
      auth: { mechanism: "user", username: user, password },
      pollSeconds: 1
    })
    configFile = writeConfig(dir, {
      store: { type: "postgres", url: databaseUrl },
      accounts: [pop3("dovecot", dovecot.password(user)), pop3("refused", wrongPop3Password)],
      signing: { keys: [{ id: signingKey.id, secret: Redacted.value(signingKey.secret) }], domain: messageIdDomain },
      http: {
        host: "127.0.0.1",
        port: 0,
        tokens: [
          { name: "ops", scope: "admin", token: adminToken },
          { name: "reader", scope: "read", token: readToken }
        ]
      },
      // the second receiver refuses connections: its failures are logged, the secret must not be
      webhooks: {
        urls: [`http://127.0.0.1:${receiverPort}/hook`, "http://127.0.0.1:9/refused"],
        secret: webhookSecret,
        pollMillis: 200,
        initialBackoffSeconds: 1
      },
      log: { level: "debug", format: "json" }
    })
    dovecot.deliver(user, bounceFor(genuine, signedId(genuine, signingKey)))
    dovecot.deliver(user, bounceFor(forged[0]!, signedId(forged[0]!, attackerKey)))
    dovecot.deliver(user, bounceFor(forged[1]!, tampered(signedId(forged[1]!, signingKey))))
    dovecot.deliver(user, bounceFor(forged[2]!, `<20260101.4711@${messageIdDomain}>`))
  })

  afterAll(async () => {
    await killLeftovers()
    await dovecot?.stop()
    postgres?.stop()
    await new Promise((resolve) => receiver?.close(resolve))
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true })
  })

  it("quarantines only the genuine bounce, answers 401 without a token, and logs no secret", async () => {
    const check = spawnRebound(["config", "check", "--config", configFile], dir)
    assert.strictEqual((await check.exit).code, 0, check.output())
    const test = spawnRebound(["test-connection", "refused", "--config", configFile], dir)
    assert.strictEqual((await test.exit).code, 1, test.output())

    daemon = spawnRebound(["run", "--config", configFile], dir)
    const running = daemon
    await waitFor("the HTTP API", () => /HTTP API listening on http:\/\/[0-9.]+:\d+/.test(running.output()), 90)
    const base = /HTTP API listening on (http:\/\/[0-9.]+:\d+)/.exec(running.output())![1]!
    await waitFor("the mailbox to be emptied", () => dovecot.files(user).length === 0, 60)
    await waitFor("the quarantine webhook", () => webhooks.some((hook) => hook.body.includes(genuine)), 30)

    const store = await dumpPostgres(databaseUrl)
    // all four were read and recorded: a forged bounce left unread would prove nothing
    assert.lengthOf(store.ledger, 4)
    const events = store.events.map((row) => JSON.parse(row) as Array<string | null>)
    const eventOf = (address: string) => events.find((row) => row[3] === address)
    assert.deepStrictEqual([eventOf(genuine)?.[9], eventOf(genuine)?.[12]], ["signed", "address"])
    for (const address of forged) {
      // recorded, but as unverified and counted against nobody
      assert.deepStrictEqual([eventOf(address)?.[9], eventOf(address)?.[12]], ["unverified", "none"], address)
    }
    const addresses = store.addresses.map((row) => JSON.parse(row) as Array<string>)
    const statusOf = (address: string) => addresses.find((row) => row[0] === address)?.[2] ?? "none"
    assert.strictEqual(statusOf(genuine), "quarantined")
    for (const address of forged) assert.notStrictEqual(statusOf(address), "quarantined", address)
    for (const hook of webhooks) {
      assert.isString(hook.signature)
      for (const address of forged) assert.notInclude(hook.body, address)
    }
    const asAdmin = await fetch(`${base}/v1/addresses/${encodeURIComponent(genuine)}`, {
      headers: { authorization: `Bearer ${adminToken}` }
    })
    assert.strictEqual(asAdmin.status, 200)
    assert.strictEqual(((await asAdmin.json()) as { status: string }).status, "quarantined")

    for (const [method, route, body] of routes) {
      for (const authorization of [undefined, "Bearer not-a-configured-token-000000", `Basic ${adminToken}`]) {
        const response = await fetch(`${base}${route}`, {
          method,
          headers: {
            ...(authorization === undefined ? {} : { authorization }),
            ...(body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
        assert.strictEqual(response.status, 401, `${method} ${route} with ${authorization ?? "no token"}`)
      }
    }
    // the refusing receiver has been tried (and its failure logged) before the logs are read
    await waitFor("a failed webhook delivery in the logs", () => /refused|ECONNREFUSED/i.test(running.output()), 30)
    running.child.kill("SIGTERM")
    assert.strictEqual((await running.exit).code, 0, running.output())

    const once = spawnRebound(["once", "--config", configFile], dir)
    assert.strictEqual((await once.exit).code, 1, once.output())
    assert.match(once.output(), /refused: failed/)

    const logs = capturedLogs.join("")
    // debug logging was on: the POP3 commands were logged, the password among them masked
    assert.include(logs, '"logLevel":"DEBUG"')
    assert.include(logs, "POP3 C: USER bounces")
    assert.include(logs, "POP3 C: PASS")
    const secrets = {
      "POP3 password": dovecot.password(user),
      "refused POP3 password": wrongPop3Password,
      "admin API token": adminToken,
      "read API token": readToken,
      "signing secret": Redacted.value(signingKey.secret),
      "webhook secret": webhookSecret,
      "PostgreSQL password": pgPassword
    }
    for (const [what, secret] of Object.entries(secrets)) {
      for (const form of [secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret)]) {
        assert.notInclude(logs, form, `the ${what} appears in the logs`)
      }
    }
    assert.notInclude(logs, Buffer.from(`\u0000${user}\u0000${dovecot.password(user)}`).toString("base64"))
  })
})
