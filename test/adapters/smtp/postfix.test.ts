import * as NodeContext from "@effect/platform-node/NodeContext"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import { decodeSmtpListenerConfig } from "../../../src/adapters/smtp/config.js"
import * as SmtpListener from "../../../src/adapters/smtp/listener.js"
import { spoolMailbox } from "../../../src/adapters/smtp/spool-mailbox.js"
import { classifyBytes } from "../../../src/app/classify.js"
import {
  decodeMessageId,
  encodeMessageId,
  encodeVerp,
  makeTokenVerifier,
  type SigningKey
} from "../../../src/domain/codec.js"
import type { SignedIds } from "../../../src/domain/report.js"
import {
  type Postfix,
  postfixAvailable,
  postfixInstall,
  type RefusingServer,
  startPostfix,
  startRefusingServer
} from "../../support/postfix.js"
import { makeCertificate, opensslAvailable, type TestCertificate } from "../../support/pop3-server.js"
import { skipWithout } from "../../support/services.js"
import { drainSpool } from "./drain-spool.js"
import { SmtpTestClient } from "./smtp-client.js"

const skip = skipWithout(postfixAvailable && opensslAvailable, "Postfix (run as root) and openssl", postfixInstall)

const secret = "postfix-interop-secret-0123"
const key: SigningKey = { id: "k1", secret: Redacted.make(secret) }
const bounceDomain = "bounce.rebound.test"
const localDomain = "local.rebound.test"

/** One message sent through Postfix, and the bounce it must come back as. */
interface Case {
  readonly recipient: string
  readonly status: string
  readonly reason: string
  readonly type: "hard" | "soft"
}

const cases: ReadonlyArray<Case> = [
  // local(8): the user does not exist on Postfix's own domain
  { recipient: `nobody-here@${localDomain}`, status: "5.1.1", reason: "userunknown", type: "hard" },
  { recipient: `Also.Unknown@${localDomain}`, status: "5.1.1", reason: "userunknown", type: "hard" },
  // the refusing server's replies to RCPT TO
  { recipient: "gone@refuse.test", status: "5.1.1", reason: "userunknown", type: "hard" },
  { recipient: "full@refuse.test", status: "5.2.2", reason: "mailboxfull", type: "soft" },
  { recipient: "blocked@refuse.test", status: "5.7.1", reason: "blocked", type: "soft" },
  { recipient: "quota@refuse.test", status: "4.2.2", reason: "mailboxfull", type: "soft" },
  // a domain routed to rebound's listener, which is not a relay: it refuses with 550 5.7.1
  { recipient: "victim@elsewhere.test", status: "5.7.1", reason: "norelaying", type: "soft" }
]

const refusals = {
  "gone@refuse.test": { code: 550, text: "5.1.1 <gone@refuse.test>: Recipient address rejected: User unknown" },
  "full@refuse.test": { code: 552, text: "5.2.2 <full@refuse.test>: Mailbox full" },
  "blocked@refuse.test": {
    code: 554,
    text: "5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"
  },
  "quota@refuse.test": { code: 452, text: "4.2.2 <quota@refuse.test>: Mailbox full, try again later" }
}

const idsOf = (index: number): SignedIds => ({
  instance: "rebound",
  deliveryId: `d-${index}`,
  recipientId: `r-${index}`
})

let postfix: Postfix
let refusing: RefusingServer
let certificate: TestCertificate
let scope: Scope.CloseableScope
let listener: SmtpListener.SmtpListener["Type"]
let spool: string

const runQuiet = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.runPromise(effect.pipe(Effect.provide(Logger.remove(Logger.defaultLogger))))

beforeAll(async () => {
  if (skip) return
  certificate = makeCertificate(`mx.${bounceDomain}`)
  spool = fs.mkdtempSync(path.join(certificate.dir, "spool-"))
  scope = Effect.runSync(Scope.make())
  listener = await runQuiet(
    Effect.gen(function* () {
      const config = yield* decodeSmtpListenerConfig({
        host: "127.0.0.1",
        port: 0,
        hostname: `mx.${bounceDomain}`,
        domains: [bounceDomain],
        spoolDir: spool,
        tls: { certFile: certificate.certFile, keyFile: certificate.keyFile },
        shutdownTimeout: 1,
        limits: { minFreeSpace: 0 }
      })
      return yield* SmtpListener.make(config).pipe(Scope.extend(scope))
    })
  )
  refusing = await startRefusingServer(refusals)
  const rebound = { host: "127.0.0.1", port: listener.address.port }
  postfix = await startPostfix({
    localDomain,
    routes: {
      [bounceDomain]: rebound,
      "elsewhere.test": rebound,
      "refuse.test": { host: "127.0.0.1", port: refusing.port }
    }
  })
}, 120_000)

afterAll(async () => {
  if (skip) return
  await postfix?.stop()
  await refusing?.stop()
  if (scope !== undefined) await runQuiet(Scope.close(scope, Exit.void))
  fs.rmSync(certificate.dir, { recursive: true, force: true })
}, 60_000)

const newFiles = () => fs.readdirSync(path.join(spool, "new")).filter((name) => !name.startsWith("."))

const waitFor = async (count: number, millis: number) => {
  const deadline = Date.now() + millis
  while (Date.now() < deadline && newFiles().length < count) await new Promise((resolve) => setTimeout(resolve, 200))
  return newFiles().length
}

/** Sends one message through Postfix with a VERP envelope sender and a signed Message-ID. */
const sendThroughPostfix = async (index: number, recipient: string) => {
  const ids = idsOf(index)
  const sender = encodeVerp(ids, key, { localPart: "bounce", domain: bounceDomain })
  const messageId = encodeMessageId(ids, key, "mail.rebound.test")
  const { client, greeting } = await SmtpTestClient.connect(postfix.port)
  try {
    assert.strictEqual(greeting.code, 220, greeting.text)
    assert.strictEqual((await client.command("EHLO sender.rebound.test")).code, 250)
    const mailFrom = await client.command(`MAIL FROM:<${sender}>`)
    assert.strictEqual(mailFrom.code, 250, `${mailFrom.text}\n${postfix.log()}`)
    const rcptTo = await client.command(`RCPT TO:<${recipient}>`)
    assert.strictEqual(rcptTo.code, 250, `${rcptTo.text}\n${postfix.log()}`)
    const { end } = await client.data(
      [
        `Message-ID: ${messageId}`,
        "From: Newsletter <news@sender.rebound.test>",
        `To: <${recipient}>`,
        `Subject: Newsletter ${index}`,
        "Date: Thu, 01 Jan 2026 12:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        `Hello ${recipient},`,
        ".a line that starts with a dot",
        ""
      ].join("\r\n")
    )
    assert.strictEqual(end?.code, 250, end?.text)
  } finally {
    await client.quit()
  }
  return { ids, sender, messageId }
}

describe.skipIf(skip)("SmtpListener behind a real Postfix", () => {
  it.live(
    "every bounce Postfix makes is spooled, decodes to its recipient, status and reason, correlates, and is applied",
    () =>
      Effect.gen(function* () {
        const sent = yield* Effect.promise(() =>
          Promise.all(cases.map((testCase, index) => sendThroughPostfix(index, testCase.recipient)))
        )
        const arrived = yield* Effect.promise(() => waitFor(cases.length, 60_000))
        if (arrived < cases.length) {
          assert.fail(
            `${arrived} of ${cases.length} bounces arrived\n${yield* Effect.promise(() => postfix.queue())}\n${postfix.log()}`
          )
        }

        // the spool read as the processor reads it: the Mailbox port of an "smtp" account
        const mails = yield* Effect.gen(function* () {
          const mailbox = yield* Mailbox
          return yield* Effect.scoped(
            Effect.gen(function* () {
              const session = yield* mailbox.open
              const entries = yield* session.list
              return yield* Effect.forEach(entries, (entry) => session.retrieve(entry))
            })
          )
        }).pipe(Effect.provide(spoolMailbox({ spoolDir: spool })), Effect.provide(NodeContext.layer))
        assert.strictEqual(mails.length, cases.length)

        const verifier = makeTokenVerifier([key], { verpLocalPart: "bounce", domain: bounceDomain })
        const seen = new Set<number>()
        for (const bytes of mails) {
          const text = Buffer.from(bytes).toString("utf8")
          const report = classifyBytes(bytes, { verifier })
          assert.strictEqual(report.records.length, 1, text)
          const record = report.records[0]!
          // correlated by the signed VERP address the bounce was sent to
          assert.strictEqual(record.correlation.method, "verp", text)
          assert.isTrue(record.correlation.verified)
          const index = Number(record.correlation.ids!.deliveryId.slice(2))
          const testCase = cases[index]!
          const message = sent[index]!
          assert.isFalse(seen.has(index), `two bounces for ${testCase.recipient}`)
          seen.add(index)
          assert.deepStrictEqual(record.correlation.ids, message.ids)

          assert.strictEqual(record.recipient?.toLowerCase(), testCase.recipient.toLowerCase(), text)
          assert.strictEqual(record.status, testCase.status, text)
          assert.strictEqual(record.reason, testCase.reason, `${testCase.recipient}: ${record.diagnostic}`)
          assert.strictEqual(record.type, testCase.type, testCase.recipient)
          // the returned original still carries the signed Message-ID, which verifies on its own
          assert.strictEqual(record.originalMessageId, message.messageId.slice(1, -1))
          const fromMessageId = decodeMessageId(record.originalMessageId!, [key])
          assert.isTrue(Either.isRight(fromMessageId))
          assert.deepStrictEqual(Either.getOrThrow(fromMessageId).ids, message.ids)

          // the trace fields of an MTA: null sender, the VERP address as X-Original-To, Postfix used STARTTLS
          assert.isTrue(text.startsWith(`Return-Path: <>\r\nX-Original-To: ${message.sender}\r\n`), text.slice(0, 200))
          assert.match(
            text,
            /^Received: from mta\.rebound\.test \(unknown \[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] /m
          )
          assert.match(text, /with ESMTPS id [0-9A-F]+\r\n/)
        }
        assert.strictEqual(seen.size, cases.length)

        assert.sameMembers(
          refusing.asked.map((address) => address.toLowerCase()),
          Object.keys(refusals)
        )
        const stats = yield* listener.stats
        assert.strictEqual(stats.relayRefused, 1)
        assert.strictEqual(stats.accepted, cases.length)
        assert.match(
          postfix.log(),
          /to=<victim@elsewhere\.test>.*said: 550 5\.7\.1 <victim@elsewhere\.test>: Relay access denied/
        )

        // the processor takes the spool as an "smtp" account: every bounce applied, correlated by its signature
        const drained = yield* Effect.promise(() =>
          drainSpool(
            spool,
            { keys: [{ id: key.id, secret }] },
            cases.map((testCase) => testCase.recipient)
          )
        )
        assert.strictEqual(drained.applied, cases.length)
        assert.deepStrictEqual(newFiles(), [])
        for (const [index, testCase] of cases.entries()) {
          const events = drained.events.get(testCase.recipient)!
          assert.strictEqual(events.length, 1, testCase.recipient)
          assert.strictEqual(events[0]!.correlationSource, "signed")
          assert.strictEqual(events[0]!.correlationDeliveryId, `d-${index}`)
          assert.strictEqual(events[0]!.reason, testCase.reason)
          assert.strictEqual(events[0]!.type, testCase.type)
        }
      }),
    120_000
  )
})
