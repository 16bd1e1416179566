import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import { decodeSmtpListenerConfig, type SmtpListenerConfigInput } from "../../../src/adapters/smtp/config.js"
import * as SmtpListener from "../../../src/adapters/smtp/listener.js"
import { spoolMailbox } from "../../../src/adapters/smtp/spool-mailbox.js"
import { classifyBytes } from "../../../src/app/classify.js"
import { encodeVerp, makeTokenVerifier, type SigningKey } from "../../../src/domain/codec.js"
import { postfixDsn } from "../../support/mails.js"
import { makeCertificate } from "../../support/pop3-server.js"
import { drainSpool } from "./drain-spool.js"
import { sendMail, SmtpTestClient } from "./smtp-client.js"

const keySecret = "a-secret-of-at-least-16-chars"
const key: SigningKey = { id: "k1", secret: Redacted.make(keySecret) }
const otherKey: SigningKey = { id: "k1", secret: Redacted.make("another-secret-of-16-chars") }
const ids = { instance: "rebound", deliveryId: "d-42", recipientId: "r-7" }
const verp = encodeVerp(ids, key, { localPart: "bounce", domain: "bounce.test" })
const forgedVerp = encodeVerp(ids, otherKey, { localPart: "bounce", domain: "bounce.test" })

const quiet = Logger.remove(Logger.defaultLogger)

const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A listener on an ephemeral loopback port with a temp spool, for the scope of the test. */
const listen = (overrides: Partial<SmtpListenerConfigInput> = {}, options: SmtpListener.SmtpListenerOptions = {}) =>
  Effect.gen(function* () {
    const spool = yield* tempDir("rebound-spool-")
    const config = yield* decodeSmtpListenerConfig({
      host: "127.0.0.1",
      port: 0,
      hostname: "mx.bounce.test",
      domains: ["bounce.test", "bounces.example.org"],
      spoolDir: spool,
      shutdownTimeout: 1,
      ...overrides,
      limits: { minFreeSpace: 0, ...overrides.limits }
    })
    const listener = yield* SmtpListener.make(config, { healthInterval: Duration.millis(50), ...options })
    return { listener, port: listener.address.port, spool }
  })

const files = (spool: string, folder: "new" | "tmp" | "cur") =>
  fs.readdirSync(path.join(spool, folder)).filter((name) => !name.startsWith("."))

const read = (spool: string, name: string) => fs.readFileSync(path.join(spool, "new", name))

const promise = <A>(run: () => Promise<A>) => Effect.promise(run)

const live = <A, E>(effect: Effect.Effect<A, E, import("effect/Scope").Scope>) =>
  effect.pipe(Effect.scoped, Effect.provide(quiet))

const bounce = postfixDsn({
  recipients: [{ address: "gone@example.net", status: "5.1.1", diagnostic: "550 5.1.1 <gone@example.net>: unknown" }],
  original: { messageId: "<orig-1@sender.test>", from: verp, to: "gone@example.net", subject: "Hello" }
})

/** The message part of a spooled file: what follows the trace fields the listener put in front. */
const afterTrace = (bytes: Buffer) => {
  const text = bytes.toString("latin1")
  const match =
    /^Return-Path: [^\r\n]*\r\nX-Original-To: [^\r\n]*\r\nReceived: (?:[^\r\n]*\r\n[ \t])*[^\r\n]*\r\n/.exec(text)
  assert.isNotNull(match, `no trace fields in ${text.slice(0, 300)}`)
  return Buffer.from(text.slice(match![0].length), "latin1")
}

const crlf = (text: string) => Buffer.from(text.replace(/\r?\n/g, "\r\n"), "utf8")

describe("SmtpListener", () => {
  it.live("takes a bounce for a VERP address durably, with trace fields, and the spool reads as a Maildir", () =>
    live(
      Effect.gen(function* () {
        const { listener, port, spool } = yield* listen()
        const result = yield* promise(() => sendMail(port, { from: "", to: [verp], data: bounce }))
        assert.strictEqual(result.mailFrom.code, 250)
        assert.deepStrictEqual(
          result.rcptTo.map((reply) => reply.code),
          [250]
        )
        assert.strictEqual(result.data?.code, 250)
        const id = /queued as ([0-9A-F]+)/.exec(result.data!.text)?.[1]
        assert.isDefined(id)

        const names = files(spool, "new")
        assert.strictEqual(names.length, 1)
        assert.deepStrictEqual(files(spool, "tmp"), [])
        const bytes = read(spool, names[0]!)
        const text = bytes.toString("utf8")
        assert.isTrue(text.startsWith(`Return-Path: <>\r\nX-Original-To: ${verp}\r\nReceived: from client.test `))
        assert.include(text, `by mx.bounce.test (rebound) with ESMTP id ${id}\r\n\tfor <${verp}>; `)
        assert.deepStrictEqual(afterTrace(bytes), crlf(bounce.toString("utf8")))
        assert.match(names[0]!, new RegExp(`,S=${bytes.length}$`))

        const mailbox = yield* Effect.provide(Mailbox, spoolMailbox({ spoolDir: spool }))
        const fromMailbox = yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* mailbox.open
            const entries = yield* session.list
            return yield* Effect.forEach(entries, (entry) => session.retrieve(entry))
          })
        )
        assert.strictEqual(fromMailbox.length, 1)
        assert.deepStrictEqual(Buffer.from(fromMailbox[0]!), bytes)

        const report = classifyBytes(fromMailbox[0]!, { verifier: makeTokenVerifier([key]) })
        assert.strictEqual(report.records[0]?.recipient, "gone@example.net")
        assert.strictEqual(report.records[0]?.correlation.method, "verp")
        assert.isTrue(report.records[0]?.correlation.verified)
        assert.deepStrictEqual(report.records[0]?.correlation.ids, ids)

        const stats = yield* listener.stats
        assert.strictEqual(stats.accepted, 1)
        assert.strictEqual(stats.spooledFiles, 1)
      }).pipe(Effect.provide(NodeContext.layer))
    )
  )

  it.live("takes any local part of its domains in any case, and a bare <postmaster>", () =>
    live(
      Effect.gen(function* () {
        const { port, spool } = yield* listen()
        const recipients = [
          "bounce@bounce.test",
          "Postmaster@BOUNCE.TEST",
          "abuse@bounces.example.org",
          "bounce+anything@bounce.test",
          "postmaster"
        ]
        const result = yield* promise(() =>
          sendMail(port, { from: "mailer-daemon@mx.example.net", to: recipients, data: "Subject: x\r\n\r\nbody\r\n" })
        )
        assert.deepStrictEqual(
          result.rcptTo.map((reply) => reply.code),
          recipients.map(() => 250)
        )
        assert.strictEqual(result.data?.code, 250)
        const originalTo = files(spool, "new")
          .map((name) => /^X-Original-To: (.*)\r$/m.exec(read(spool, name).toString())?.[1])
          .sort()
        assert.deepStrictEqual(originalTo, [...recipients].sort())
        for (const name of files(spool, "new")) {
          assert.deepStrictEqual(afterTrace(read(spool, name)), crlf("Subject: x\n\nbody\n"))
          assert.include(read(spool, name).toString(), "Return-Path: <mailer-daemon@mx.example.net>\r\n")
        }
      })
    )
  )

  it.live("is not a relay: other domains, subdomains and address literals get 550 5.7.1", () =>
    live(
      Effect.gen(function* () {
        const { listener, port, spool } = yield* listen()
        const refused = [
          "victim@example.com",
          "bounce@sub.bounce.test",
          "bounce@bounce.test.example.com",
          "user@[127.0.0.1]",
          "bounce%other.test@bounce.test.evil"
        ]
        const result = yield* promise(() =>
          sendMail(port, { from: "spammer@evil.test", to: refused, data: "Subject: spam\r\n\r\nbuy\r\n" })
        )
        for (const reply of result.rcptTo) {
          assert.strictEqual(reply.code, 550)
          assert.match(reply.text, /^5\.7\.1 <.*>: Relay access denied$/)
        }
        assert.isNull(result.data)
        assert.deepStrictEqual(files(spool, "new"), [])
        assert.strictEqual((yield* listener.stats).relayRefused, refused.length)
        // a local part alone (other than postmaster) is not even an address here
        const bare = yield* promise(() => sendMail(port, { from: "", to: ["root"], data: "x\r\n" }))
        assert.strictEqual(bare.rcptTo[0]?.code, 501)

        const mixed = yield* promise(() =>
          sendMail(port, { from: "", to: ["victim@example.com", verp], data: "Subject: mixed\r\n\r\nx\r\n" })
        )
        assert.deepStrictEqual(
          mixed.rcptTo.map((reply) => reply.code),
          [550, 250]
        )
        assert.strictEqual(mixed.data?.code, 250)
        const names = files(spool, "new")
        assert.strictEqual(names.length, 1)
        assert.notInclude(read(spool, names[0]!).toString(), "victim@example.com")
      })
    )
  )

  it.live("announces SIZE, refuses a declared or an actual oversized mail with 552 and keeps nothing", () =>
    live(
      Effect.gen(function* () {
        const { listener, port, spool } = yield* listen({ maxSize: 10_000 })
        const { client } = yield* promise(() => SmtpTestClient.connect(port))
        const ehlo = yield* promise(() => client.command("EHLO client.test"))
        assert.isTrue(ehlo.lines.some((line) => /^250[ -]SIZE 10000$/.test(line)))

        const declared = yield* promise(() => client.command("MAIL FROM:<> SIZE=10001"))
        assert.strictEqual(declared.code, 552)

        assert.strictEqual((yield* promise(() => client.command("MAIL FROM:<> SIZE=9000"))).code, 250)
        assert.strictEqual((yield* promise(() => client.command(`RCPT TO:<${verp}>`))).code, 250)
        const big = `Subject: big\r\n\r\n${"x".repeat(78)}\r\n`.repeat(200)
        const oversized = yield* promise(() => client.data(big))
        assert.strictEqual(oversized.end?.code, 552)
        assert.match(oversized.end!.text, /^5\.3\.4 /)
        assert.deepStrictEqual(files(spool, "new"), [])
        assert.deepStrictEqual(files(spool, "tmp"), [])

        // the session goes on: the next mail of the same connection is taken
        assert.strictEqual((yield* promise(() => client.command("MAIL FROM:<>"))).code, 250)
        assert.strictEqual((yield* promise(() => client.command(`RCPT TO:<${verp}>`))).code, 250)
        assert.strictEqual((yield* promise(() => client.data("Subject: small\r\n\r\nok\r\n"))).end?.code, 250)
        yield* promise(() => client.quit())
        assert.strictEqual(files(spool, "new").length, 1)
        assert.strictEqual((yield* listener.stats).oversized, 1)
      })
    )
  )

  it.live("offers STARTTLS with the configured certificate and records the cipher in Received", () =>
    live(
      Effect.gen(function* () {
        const certificate = makeCertificate("mx.bounce.test")
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => fs.rmSync(certificate.dir, { recursive: true, force: true }))
        )
        const { port, spool } = yield* listen({ tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } })
        const { client } = yield* promise(() => SmtpTestClient.connect(port))
        const ehlo = yield* promise(() => client.command("EHLO client.test"))
        assert.include(ehlo.lines, "250-STARTTLS")
        const started = yield* promise(() => client.starttls({ ca: certificate.cert, servername: "localhost" }))
        assert.strictEqual(started.code, 220)
        assert.isTrue(client.tlsSocket?.authorized)
        const again = yield* promise(() => client.command("EHLO client.test"))
        assert.notInclude(again.lines, "250-STARTTLS")
        assert.strictEqual((yield* promise(() => client.command("MAIL FROM:<>"))).code, 250)
        assert.strictEqual((yield* promise(() => client.command(`RCPT TO:<${verp}>`))).code, 250)
        assert.strictEqual((yield* promise(() => client.data("Subject: tls\r\n\r\nsecret\r\n"))).end?.code, 250)
        yield* promise(() => client.quit())
        const text = read(spool, files(spool, "new")[0]!).toString()
        assert.match(
          text,
          /\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)\r\n\tby mx\.bounce\.test \(rebound\) with ESMTPS id /
        )
      })
    )
  )

  it.live("reloadCertificate puts a renewed certificate in use for new sessions", () =>
    live(
      Effect.gen(function* () {
        const first = makeCertificate("first.bounce.test")
        const renewed = makeCertificate("renewed.bounce.test")
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            for (const dir of [first.dir, renewed.dir]) fs.rmSync(dir, { recursive: true, force: true })
          })
        )
        const current = path.join(first.dir, "live")
        fs.mkdirSync(current)
        const tls = { certFile: path.join(current, "cert.pem"), keyFile: path.join(current, "key.pem") }
        fs.copyFileSync(first.certFile, tls.certFile)
        fs.copyFileSync(first.keyFile, tls.keyFile)
        const { listener, port } = yield* listen({ tls })
        const subject = (ca: Buffer) =>
          promise(async () => {
            const { client } = await SmtpTestClient.connect(port)
            await client.command("EHLO client.test")
            await client.starttls({ ca, servername: "localhost" })
            const name = client.tlsSocket?.getPeerCertificate().subject.CN
            await client.quit()
            return name
          })
        assert.strictEqual(yield* subject(first.cert), "first.bounce.test")
        fs.copyFileSync(renewed.certFile, tls.certFile)
        fs.copyFileSync(renewed.keyFile, tls.keyFile)
        assert.strictEqual(yield* subject(first.cert), "first.bounce.test")
        yield* listener.reloadCertificate
        assert.strictEqual(yield* subject(renewed.cert), "renewed.bounce.test")
      })
    )
  )

  it.live("without a certificate, STARTTLS is neither offered nor accepted, and AUTH never", () =>
    live(
      Effect.gen(function* () {
        const { port } = yield* listen()
        const { client } = yield* promise(() => SmtpTestClient.connect(port))
        const ehlo = yield* promise(() => client.command("EHLO client.test"))
        assert.isFalse(ehlo.lines.some((line) => /STARTTLS|AUTH/.test(line)))
        assert.isAtLeast((yield* promise(() => client.command("STARTTLS"))).code, 500)
        assert.isAtLeast((yield* promise(() => client.command("AUTH PLAIN AGJvYgBwdw=="))).code, 500)
        yield* promise(() => client.quit())
      })
    )
  )

  it.live("fails to start on an unreadable certificate, and rejectBadVerp without keys", () =>
    live(
      Effect.gen(function* () {
        const tls = yield* Effect.exit(
          listen({ tls: { certFile: "/nonexistent/cert.pem", keyFile: "/nonexistent/k" } })
        )
        assert.isTrue(Exit.isFailure(tls))
        assert.include(String(tls), "Tls")
        const verpWithoutKeys = yield* Effect.exit(listen({ rejectBadVerp: true }))
        assert.include(String(verpWithoutKeys), "rejectBadVerp needs signing keys")
      })
    )
  )

  it.live("limits connections at once, per client, per minute, and mails per minute", () =>
    live(
      Effect.gen(function* () {
        const perClient = yield* listen({ limits: { maxConnectionsPerClient: 2 } })
        const a = yield* promise(() => SmtpTestClient.connect(perClient.port))
        const b = yield* promise(() => SmtpTestClient.connect(perClient.port))
        const c = yield* promise(() => SmtpTestClient.connect(perClient.port))
        assert.strictEqual(a.greeting.code, 220)
        assert.strictEqual(b.greeting.code, 220)
        assert.strictEqual(c.greeting.code, 421)
        assert.match(c.greeting.text, /^4\.7\.0 Too many connections from 127\.0\.0\.1/)
        yield* promise(() => c.client.ended)
        yield* promise(() => a.client.quit())
        // a slot is free again once a connection has ended
        const d = yield* promise(() => SmtpTestClient.connect(perClient.port))
        assert.strictEqual(d.greeting.code, 220)
        yield* promise(() => Promise.all([b.client.quit(), d.client.quit()]))

        const total = yield* listen({ limits: { maxConnections: 1 } })
        const first = yield* promise(() => SmtpTestClient.connect(total.port))
        const second = yield* promise(() => SmtpTestClient.connect(total.port))
        assert.strictEqual(first.greeting.code, 220)
        assert.strictEqual(second.greeting.code, 421)
        yield* promise(() => first.client.quit())

        const rate = yield* listen({ limits: { connectionsPerClientPerMinute: 3 } })
        const greetings: Array<number> = []
        for (let i = 0; i < 4; i++) {
          const { client, greeting } = yield* promise(() => SmtpTestClient.connect(rate.port))
          greetings.push(greeting.code)
          yield* promise(() => client.quit())
        }
        assert.deepStrictEqual(greetings, [220, 220, 220, 421])

        const mails = yield* listen({ limits: { messagesPerClientPerMinute: 2 } })
        const { client } = yield* promise(() => SmtpTestClient.connect(mails.port))
        yield* promise(() => client.command("EHLO client.test"))
        const replies: Array<number> = []
        for (let i = 0; i < 3; i++) {
          const mailFrom = yield* promise(() => client.command("MAIL FROM:<>"))
          replies.push(mailFrom.code)
          if (mailFrom.code === 250) yield* promise(() => client.command("RSET"))
          else assert.match(mailFrom.text, /^4\.7\.1 Too much mail from 127\.0\.0\.1/)
        }
        yield* promise(() => client.quit())
        assert.deepStrictEqual(replies, [250, 250, 450])
        assert.strictEqual((yield* mails.listener.stats).rateLimited, 1)
      })
    )
  )

  it.live("limits recipients per mail (452) and the time a client may stay silent (421)", () =>
    live(
      Effect.gen(function* () {
        const { port, spool } = yield* listen({ limits: { maxRecipients: 2, commandTimeout: 0.3 } })
        const result = yield* promise(() =>
          sendMail(port, {
            from: "",
            to: ["a@bounce.test", "b@bounce.test", "c@bounce.test"],
            data: "Subject: r\r\n\r\nx\r\n"
          })
        )
        assert.deepStrictEqual(
          result.rcptTo.map((reply) => reply.code),
          [250, 250, 452]
        )
        assert.strictEqual(result.data?.code, 250)
        assert.strictEqual(files(spool, "new").length, 2)

        const { client } = yield* promise(() => SmtpTestClient.connect(port))
        yield* promise(() => client.command("EHLO client.test"))
        const started = Date.now()
        const timeout = yield* promise(() => client.read())
        assert.strictEqual(timeout.code, 421)
        assert.isAtLeast(Date.now() - started, 250)
        yield* promise(() => client.ended)
      })
    )
  )

  it.live("answers 451 4.3.0 when the spool cannot be written, at DATA and then at MAIL FROM, and recovers", () =>
    live(
      Effect.gen(function* () {
        const mail = { from: "", to: [verp], data: "Subject: s\r\n\r\nx\r\n" }
        // tmp/ replaced by a file: even root cannot create files in it
        const breakSpool = (spool: string) => {
          fs.rmSync(path.join(spool, "tmp"), { recursive: true })
          fs.writeFileSync(path.join(spool, "tmp"), "not a directory")
        }
        const repairSpool = (spool: string) => {
          fs.rmSync(path.join(spool, "tmp"))
          fs.mkdirSync(path.join(spool, "tmp"))
        }

        // the probe said healthy and is trusted for an hour: the write itself fails, and marks the spool unhealthy
        const trusting = yield* listen({}, { healthInterval: Duration.hours(1) })
        assert.strictEqual((yield* promise(() => sendMail(trusting.port, mail))).data?.code, 250)
        breakSpool(trusting.spool)
        const duringData = yield* promise(() => sendMail(trusting.port, mail))
        assert.strictEqual(duringData.mailFrom.code, 250)
        assert.strictEqual(duringData.data?.code, 451)
        assert.match(duringData.data!.text, /^4\.3\.0 /)
        const next = yield* promise(() => sendMail(trusting.port, mail))
        assert.strictEqual(next.mailFrom.code, 451)
        assert.isFalse((yield* trusting.listener.health).healthy)
        assert.strictEqual(files(trusting.spool, "new").length, 1)

        // probes every 50 ms: refused at MAIL FROM while broken, taken again once repaired
        const probing = yield* listen()
        breakSpool(probing.spool)
        yield* Effect.sleep(Duration.millis(60))
        const refused = yield* promise(() => sendMail(probing.port, mail))
        assert.strictEqual(refused.mailFrom.code, 451)
        assert.match(refused.mailFrom.text, /^4\.3\.0 Local error in processing/)
        repairSpool(probing.spool)
        yield* Effect.sleep(Duration.millis(60))
        assert.strictEqual((yield* promise(() => sendMail(probing.port, mail))).data?.code, 250)
        assert.strictEqual(files(probing.spool, "new").length, 1)
        assert.strictEqual((yield* probing.listener.stats).deferred, 1)
      })
    )
  )

  it.live("answers 452 4.3.1 when the file system has less than minFreeSpace, or no room for the declared SIZE", () =>
    live(
      Effect.gen(function* () {
        const free = Number(fs.statfsSync(os.tmpdir()).bavail) * Number(fs.statfsSync(os.tmpdir()).bsize)
        const full = yield* listen({ limits: { minFreeSpace: free * 2 } })
        const refused = yield* promise(() => sendMail(full.port, { from: "", to: [verp], data: "x\r\n" }))
        assert.strictEqual(refused.mailFrom.code, 452)
        assert.match(refused.mailFrom.text, /^4\.3\.1 Insufficient system storage/)

        const tight = yield* listen({
          maxSize: 4 * 1024 ** 3,
          limits: { minFreeSpace: Math.max(0, free - 512 * 1024 ** 2) }
        })
        const fits = yield* promise(() =>
          sendMail(tight.port, { from: "", to: [verp], data: "x\r\n", mailParameters: " SIZE=20000000" })
        )
        assert.strictEqual(fits.mailFrom.code, 250)
        // within maxSize, but more than the free space above minFreeSpace: a temporary 452 (RFC 1870 section 6.1)
        const noRoom = yield* promise(() =>
          sendMail(tight.port, { from: "", to: [verp], data: "x\r\n", mailParameters: ` SIZE=${1024 ** 3}` })
        )
        assert.strictEqual(noRoom.mailFrom.code, 452)
        assert.match(noRoom.mailFrom.text, /^4\.3\.1 /)
      })
    )
  )

  it.live("keeps nothing when the client disconnects in the middle of DATA", () =>
    live(
      Effect.gen(function* () {
        const { listener, port, spool } = yield* listen()
        const { client } = yield* promise(() => SmtpTestClient.connect(port))
        yield* promise(() => client.command("EHLO client.test"))
        yield* promise(() => client.command("MAIL FROM:<>"))
        yield* promise(() => client.command(`RCPT TO:<${verp}>`))
        assert.strictEqual((yield* promise(() => client.command("DATA"))).code, 354)
        client.write(`Subject: cut\r\n\r\n${"line\r\n".repeat(20_000)}`)
        yield* Effect.sleep(Duration.millis(100))
        client.destroy()
        yield* Effect.repeat(listener.stats, {
          until: (stats) => stats.aborted === 1,
          schedule: Schedule.spaced(Duration.millis(10))
        }).pipe(Effect.timeout(Duration.seconds(5)))
        assert.deepStrictEqual(files(spool, "new"), [])
        assert.deepStrictEqual(files(spool, "tmp"), [])
        assert.strictEqual((yield* listener.stats).accepted, 0)
      })
    )
  )

  it.live("the mail is complete in new/ at the moment 250 arrives", () =>
    live(
      Effect.gen(function* () {
        const { port, spool } = yield* listen()
        const body = `Subject: durable\r\n\r\n${"0123456789abcdef\r\n".repeat(50_000)}`
        const seenAt250 = yield* promise(async () => {
          const { client } = await SmtpTestClient.connect(port)
          await client.command("EHLO client.test")
          await client.command("MAIL FROM:<>")
          await client.command(`RCPT TO:<${verp}>`)
          const { end } = await client.data(body)
          // synchronously in the continuation of the 250: no event loop turn for a late write
          const names = files(spool, "new")
          const contents = names.map((name) => read(spool, name))
          await client.quit()
          return { code: end?.code, contents }
        })
        assert.strictEqual(seenAt250.code, 250)
        assert.strictEqual(seenAt250.contents.length, 1)
        assert.deepStrictEqual(afterTrace(seenAt250.contents[0]!), Buffer.from(body, "latin1"))
      })
    )
  )

  it.live(
    "a listener killed with SIGKILL right after its 250 leaves the whole mail in new/, and it is applied afterwards",
    () =>
      live(
        Effect.gen(function* () {
          const spool = yield* tempDir("rebound-spool-")
          const config = {
            host: "127.0.0.1",
            port: 0,
            domains: ["bounce.test"],
            spoolDir: spool,
            limits: { minFreeSpace: 0 }
          }
          const child = spawn(
            process.execPath,
            ["--import", "tsx", path.join(import.meta.dirname, "listener-process.ts"), JSON.stringify(config)],
            { stdio: ["ignore", "pipe", "pipe"] }
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
          const port = yield* promise(
            () =>
              new Promise<number>((resolve, reject) => {
                let out = ""
                child.stdout!.on("data", (chunk) => {
                  out += chunk
                  const found = /LISTENING (\d+)/.exec(out)
                  if (found) resolve(Number(found[1]))
                })
                child.once("exit", (code) => reject(new Error(`listener exited with ${code}`)))
              })
          )
          const exited = new Promise((resolve) => child.once("exit", (_, signal) => resolve(signal)))
          const body = bounce
          const code = yield* promise(async () => {
            const { client } = await SmtpTestClient.connect(port)
            await client.command("EHLO client.test")
            await client.command("MAIL FROM:<>")
            await client.command(`RCPT TO:<${verp}>`)
            const { end } = await client.data(body)
            child.kill("SIGKILL")
            return end?.code
          })
          assert.strictEqual(code, 250)
          assert.strictEqual(yield* promise(() => exited), "SIGKILL")
          const names = files(spool, "new")
          assert.strictEqual(names.length, 1)
          assert.deepStrictEqual(afterTrace(read(spool, names[0]!)), crlf(bounce.toString("utf8")))
          const report = classifyBytes(read(spool, names[0]!), { verifier: makeTokenVerifier([key]) })
          assert.strictEqual(report.records[0]?.recipient, "gone@example.net")
          assert.isTrue(report.records[0]?.correlation.verified)

          // after the crash, the processor applies it like any other mail of the spool
          const drained = yield* promise(() =>
            drainSpool(spool, { keys: [{ id: key.id, secret: keySecret }] }, ["gone@example.net"])
          )
          assert.strictEqual(drained.applied, 1)
          assert.deepStrictEqual(files(spool, "new"), [])
          const events = drained.events.get("gone@example.net")!
          assert.strictEqual(events.length, 1)
          assert.strictEqual(events[0]!.correlationSource, "signed")
          assert.strictEqual(events[0]!.correlationDeliveryId, ids.deliveryId)
        })
      ),
    60_000
  )

  it.live(
    "with socketActivation, serves the socket passed as fd 3 (systemd's LISTEN_FDS), and fails clearly without one",
    () =>
      live(
        Effect.gen(function* () {
          const spool = yield* tempDir("rebound-spool-")
          const socket = net.createServer()
          yield* promise(() => new Promise<void>((resolve) => socket.listen(0, "127.0.0.1", resolve)))
          const port = (socket.address() as net.AddressInfo).port
          // what systemd does for a .socket unit: the bound socket becomes fd 3 of the service
          const fd = (socket as unknown as { readonly _handle: { readonly fd: number } })._handle.fd
          const config = {
            socketActivation: true,
            domains: ["bounce.test"],
            spoolDir: spool,
            limits: { minFreeSpace: 0 }
          }
          const child = spawn(
            process.execPath,
            ["--import", "tsx", path.join(import.meta.dirname, "listener-process.ts"), JSON.stringify(config)],
            { stdio: ["ignore", "pipe", "pipe", fd], env: { ...process.env, LISTEN_FDS: "1" } }
          )
          yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
          socket.close()
          const announced = yield* promise(
            () =>
              new Promise<number>((resolve, reject) => {
                let out = ""
                child.stdout!.on("data", (chunk) => {
                  out += chunk
                  const found = /LISTENING (\d+)/.exec(out)
                  if (found) resolve(Number(found[1]))
                })
                child.once("exit", (code) => reject(new Error(`listener exited with ${code}`)))
              })
          )
          assert.strictEqual(announced, port)
          const result = yield* promise(() =>
            sendMail(port, { from: "", to: [verp], data: "Subject: fd\r\n\r\nx\r\n" })
          )
          assert.strictEqual(result.data?.code, 250)
          assert.strictEqual(files(spool, "new").length, 1)

          const without = yield* Effect.exit(listen({ socketActivation: true }))
          assert.include(String(without), "socketActivation is on, but no socket was passed")
        })
      ),
    60_000
  )

  it.live("with rejectBadVerp, refuses VERP addresses whose token does not verify, and takes the rest", () =>
    live(
      Effect.gen(function* () {
        const { listener, port } = yield* listen({ rejectBadVerp: true }, { keys: [key] })
        const cases: ReadonlyArray<readonly [string, number]> = [
          [verp, 250],
          [verp.toUpperCase(), 250],
          [forgedVerp, 550],
          ["bounce+notbase32!@bounce.test", 550],
          ["bounce+aaaa@bounce.test", 550],
          ["bounce@bounce.test", 250],
          ["postmaster@bounce.test", 250]
        ]
        const result = yield* promise(() =>
          sendMail(port, { from: "", to: cases.map(([address]) => address), data: "Subject: v\r\n\r\nx\r\n" })
        )
        assert.deepStrictEqual(
          result.rcptTo.map((reply) => reply.code),
          cases.map(([, code]) => code)
        )
        for (const reply of result.rcptTo.filter((reply) => reply.code === 550)) {
          assert.match(reply.text, /^5\.1\.1 <.*>: Recipient address rejected: unknown VERP token$/)
        }
        assert.strictEqual((yield* listener.stats).badVerpRefused, 3)
      })
    )
  )

  it.live("publishes each acknowledged mail, and stops listening when its scope closes", () =>
    Effect.gen(function* () {
      const port = yield* live(
        Effect.gen(function* () {
          const { listener, port } = yield* listen()
          const arrivals = yield* Stream.runCollect(Stream.take(listener.arrivals, 1)).pipe(Effect.fork)
          yield* Effect.sleep(Duration.millis(20))
          yield* promise(() => sendMail(port, { from: "", to: [verp], data: "Subject: a\r\n\r\nx\r\n" }))
          const arrived = Chunk.toReadonlyArray(yield* Fiber.join(arrivals))
          assert.strictEqual(arrived.length, 1)
          assert.strictEqual(arrived[0]!.sender, "")
          assert.deepStrictEqual(arrived[0]!.recipients, [verp])
          assert.strictEqual(arrived[0]!.files.length, 1)
          return port
        })
      )
      const refused = yield* promise(() =>
        SmtpTestClient.connect(port).then(
          () => false,
          (error: NodeJS.ErrnoException) => error.code === "ECONNREFUSED"
        )
      )
      assert.isTrue(refused)
    })
  )

  it.live("layerConfig reads smtp.* from the config provider, with the config file's names", () =>
    Effect.gen(function* () {
      const spool = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-spool-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(spool, { recursive: true, force: true })))
      const provider = ConfigProvider.fromJson({
        smtp: {
          host: "127.0.0.1",
          port: 0,
          domains: ["bounce.test"],
          spoolDir: spool,
          maxSize: 4096,
          limits: { minFreeSpace: 0, maxRecipients: 1 }
        }
      })
      const ehlo = yield* Effect.gen(function* () {
        const listener = yield* SmtpListener.SmtpListener
        const { client } = yield* promise(() => SmtpTestClient.connect(listener.address.port))
        const reply = yield* promise(() => client.command("EHLO client.test"))
        yield* promise(() => client.quit())
        return reply
      }).pipe(
        Effect.provide(SmtpListener.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(provider)))),
        Effect.provide(quiet)
      )
      assert.isTrue(ehlo.lines.some((line) => /^250[ -]SIZE 4096$/.test(line)))

      // as ConfigProvider.fromEnv() reads SMTP_DOMAINS and SMTP_SPOOL_DIR
      const fromEnv = ConfigProvider.fromMap(
        new Map([
          ["SMTP_DOMAINS", "bounce.test,Bad_Domain!"],
          ["SMTP_SPOOL_DIR", spool]
        ]),
        { pathDelim: "_" }
      ).pipe(ConfigProvider.constantCase)
      const invalid = yield* Effect.exit(
        Effect.provide(SmtpListener.SmtpListener, SmtpListener.layerConfig()).pipe(
          Effect.withConfigProvider(fromEnv),
          Effect.scoped
        )
      )
      assert.isTrue(Exit.isFailure(invalid))
      assert.include(String(invalid), "smtp.domains.1: must be a domain name")
    }).pipe(Effect.scoped)
  )
})
