import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import type { MailboxError, MailboxSession } from "../../../src/adapters/mailbox/mailbox.js"
import * as Pop3Client from "../../../src/adapters/mailbox/pop3-client.js"
import * as Pop3Mailbox from "../../../src/adapters/mailbox/pop3-mailbox.js"
import { Pop3Options, type Pop3OptionsInput } from "../../../src/adapters/mailbox/pop3-options.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../../support/dovecot.js"
import { makeCertificate, type TestCertificate } from "../../support/pop3-server.js"
import { skipWithout } from "../../support/services.js"

const skip = skipWithout(dovecotAvailable, "Dovecot (dovecot-core, dovecot-pop3d) and openssl", dovecotInstall)

const users = ["listing", "commit", "abort", "dropped", "rset", "lock", "tls", "sasl", "pipeline", "large"] as const
type User = (typeof users)[number]

let server: Dovecot
let wrongCa: TestCertificate

beforeAll(async () => {
  if (skip) return
  server = await startDovecot(users, { lockedUsers: ["lock"] })
  wrongCa = makeCertificate("not-the-server")
}, 60_000)

afterAll(async () => {
  if (skip) return
  await server.stop()
  fs.rmSync(wrongCa.dir, { recursive: true, force: true })
})

/** POP3 options for `user` on `dovecot` (STLS, its own certificate). */
const optionsOn = (dovecot: Dovecot, user: string, extra: Partial<Pop3OptionsInput> = {}): Pop3OptionsInput => ({
  host: "127.0.0.1",
  port: dovecot.port,
  tls: "starttls",
  caFile: dovecot.certificate.certFile,
  auth: { mechanism: "user", username: user, password: Redacted.make(dovecot.password(user)) },
  commandTimeout: Duration.seconds(10),
  ...extra
})

const options = (user: User, extra: Partial<Pop3OptionsInput> = {}) => optionsOn(server, user, extra)

const session = <A>(
  user: User,
  body: (session: MailboxSession) => Effect.Effect<A, MailboxError>,
  extra: Partial<Pop3OptionsInput> = {}
) =>
  Effect.gen(function* () {
    const mailbox = yield* Pop3Mailbox.make(options(user, extra))
    return yield* Effect.scoped(Effect.flatMap(mailbox.open, body))
  }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provide(Logger.remove(Logger.defaultLogger)))

const reasonOf = <A>(exit: Exit.Exit<A, MailboxError>): string =>
  Exit.isSuccess(exit)
    ? "success"
    : (Chunk.toReadonlyArray(Cause.failures(exit.cause))[0]?.reason ?? `defect: ${Cause.pretty(exit.cause)}`)

const crlf = (text: string) => text.replace(/\r?\n/g, "\r\n")

describe.skipIf(skip)("Pop3Mailbox against a real Dovecot", () => {
  it.live("lists and retrieves mails with dot lines and 8-bit content exactly", () =>
    Effect.gen(function* () {
      const dotLines = "Message-ID: <dots@rebound.test>\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\nlast\r\n"
      const eightBit = Buffer.concat([
        Buffer.from("Message-ID: <8bit@rebound.test>\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"),
        Buffer.from([0xe9, 0xe8, 0xff, 0x80, 0xa0]),
        Buffer.from(" Grüße 日本\r\n", "utf8")
      ])
      const bareLf = "Message-ID: <lf@rebound.test>\nSubject: LF only\n\nline\n.\n"
      for (const mail of [dotLines, eightBit, bareLf]) server.deliver("listing", mail)
      const result = yield* session("listing", (s) =>
        Effect.gen(function* () {
          const entries = yield* s.list
          const bodies = yield* Effect.forEach(entries, (entry) => s.retrieve(entry))
          return { entries, bodies, stat: yield* s.stat, capabilities: s.capabilities }
        })
      )
      assert.strictEqual(result.entries.length, 3)
      assert.deepStrictEqual(Buffer.from(result.bodies[0]!).toString("latin1"), dotLines)
      assert.deepStrictEqual(Buffer.from(result.bodies[1]!), eightBit)
      // Dovecot sends LF-only mails with CRLF line ends, as POP3 requires
      assert.strictEqual(Buffer.from(result.bodies[2]!).toString("latin1"), crlf(bareLf))
      result.entries.forEach((entry, index) => assert.strictEqual(entry.size, result.bodies[index]!.length))
      assert.match(result.entries[0]!.uid, /^[0-9a-f]{16}$/)
      assert.strictEqual(result.stat.count, 3)
      assert.isTrue(result.capabilities.secure && result.capabilities.pipelining)
      assert.include(result.capabilities.raw, "RESP-CODES")
    })
  )

  it.live("deletes only on commit, and only what was marked", () =>
    Effect.gen(function* () {
      for (let i = 1; i <= 3; i++) server.deliver("commit", `Message-ID: <${i}@rebound.test>\r\n\r\nmail ${i}\r\n`)
      const uids = yield* session("commit", (s) =>
        Effect.gen(function* () {
          const entries = yield* s.list
          yield* s.markDeleted(entries[0]!)
          yield* s.markDeleted(entries[2]!)
          assert.strictEqual(server.files("commit").length, 3)
          yield* s.commit
          return entries.map((e) => e.uid)
        })
      )
      assert.strictEqual(server.files("commit").length, 1)
      const left = yield* session("commit", (s) => s.list)
      assert.deepStrictEqual(
        left.map((e) => e.uid),
        [uids[1]]
      )
    })
  )

  it.live("deletes nothing when the session is aborted after marking every mail", () =>
    Effect.gen(function* () {
      for (let i = 1; i <= 3; i++) server.deliver("abort", `Message-ID: <a${i}@rebound.test>\r\n\r\nmail ${i}\r\n`)
      const exit = yield* session("abort", (s) =>
        Effect.gen(function* () {
          const entries = yield* s.list
          yield* Stream.runDrain(s.retrieveMany(entries))
          for (const entry of entries) yield* s.markDeleted(entry)
          return yield* Effect.fail(new Error("the processor failed") as unknown as MailboxError)
        })
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(server.files("abort").length, 3)
      assert.strictEqual((yield* session("abort", (s) => s.list)).length, 3)
    })
  )

  it.live("deletes nothing when the connection drops after DELE, without QUIT (RFC 1939 section 6)", () =>
    Effect.gen(function* () {
      for (let i = 1; i <= 2; i++) server.deliver("dropped", `Message-ID: <d${i}@rebound.test>\r\n\r\nmail ${i}\r\n`)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* Pop3Client.connect(Pop3Options.make(options("dropped")), undefined)
          yield* Pop3Client.deleteMessages(client, [1, 2], 2)
          assert.strictEqual(yield* Pop3Client.command(client.connection, "NOOP"), "")
          client.connection.destroy()
        })
      )
      yield* Effect.sleep("200 millis")
      assert.strictEqual(server.files("dropped").length, 2)
      assert.strictEqual((yield* session("dropped", (s) => s.list)).length, 2)
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
  )

  it.live("RSET takes back the DELE commands of the session before QUIT", () =>
    Effect.gen(function* () {
      for (let i = 1; i <= 2; i++) server.deliver("rset", `Message-ID: <r${i}@rebound.test>\r\n\r\nmail ${i}\r\n`)
      const before = server.files("rset").length
      yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* Pop3Client.connect(Pop3Options.make(options("rset")), undefined)
          yield* Pop3Client.deleteMessages(client, [1, 2], 2)
          assert.match(yield* Pop3Client.command(client.connection, "STAT"), /^0 0/)
          yield* Pop3Client.command(client.connection, "RSET")
          assert.match(yield* Pop3Client.command(client.connection, "STAT"), new RegExp(`^${before} `))
          yield* Pop3Client.quit(client)
        })
      )
      assert.strictEqual(server.files("rset").length, before)
    }).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
  )

  it.live("a second session gets a retryable InUse while the first holds the lock (pop3_lock_session)", () =>
    Effect.gen(function* () {
      server.deliver("lock", "Message-ID: <lock@rebound.test>\r\n\r\nlocked\r\n")
      const second = yield* session("lock", () =>
        Effect.exit(session("lock", (s) => s.list, { commandTimeout: Duration.seconds(20) }))
      )
      assert.strictEqual(reasonOf(second), "InUse")
      assert.isTrue(Exit.isFailure(second) && Chunk.unsafeHead(Cause.failures(second.cause)).retryable)
      assert.strictEqual((yield* session("lock", (s) => s.list)).length, 1)
    })
  )

  it.live("STLS, implicit TLS, and a failed verification against the wrong CA", () =>
    Effect.gen(function* () {
      server.deliver("tls", "Message-ID: <tls@rebound.test>\r\n\r\nsecret\r\n")
      const starttls = yield* session("tls", (s) => Effect.succeed(s.capabilities))
      assert.isTrue(starttls.secure)
      assert.notInclude(starttls.raw, "STLS")
      const implicit = yield* session("tls", (s) => Effect.map(s.list, (e) => [s.capabilities.secure, e.length]), {
        tls: "implicit",
        port: server.tlsPort
      })
      assert.deepStrictEqual(implicit, [true, 1])
      const wrong = yield* Effect.exit(session("tls", (s) => s.list, { caFile: wrongCa.certFile }))
      assert.strictEqual(reasonOf(wrong), "Tls")
      const wrongImplicit = yield* Effect.exit(
        session("tls", (s) => s.list, { tls: "implicit", port: server.tlsPort, caFile: wrongCa.certFile })
      )
      assert.strictEqual(reasonOf(wrongImplicit), "Tls")
      const noCaFile = yield* Effect.exit(
        session("tls", (s) => s.list, { tls: "implicit", port: server.tlsPort, caFile: undefined! })
      )
      assert.strictEqual(reasonOf(noCaFile), "Tls")
    })
  )

  it.live("authenticates with SASL PLAIN, SASL LOGIN and APOP; refuses a wrong password with Auth", () =>
    Effect.gen(function* () {
      const password = Redacted.make(server.password("sasl"))
      const methods = yield* Effect.forEach(["plain", "login", "apop", "auto"] as const, (mechanism) =>
        session("sasl", (s) => Effect.succeed(s.capabilities.authentication), {
          auth: { mechanism, username: "sasl", password }
        })
      )
      assert.deepStrictEqual(methods, ["SASL PLAIN", "SASL LOGIN", "APOP", "SASL PLAIN"])
      const wrong = yield* Effect.exit(
        session("sasl", (s) => s.list, {
          auth: { mechanism: "plain", username: "sasl", password: Redacted.make("nope") }
        })
      )
      assert.strictEqual(reasonOf(wrong), "Auth")
    })
  )

  it.live("retrieves the same mails pipelined and not, and TOP gives the header", () =>
    Effect.gen(function* () {
      const mails = Array.from(
        { length: 60 },
        (_, i) => `Message-ID: <p${i}@rebound.test>\r\nSubject: ${i}\r\n\r\n${".x\r\n".repeat(i)}`
      )
      for (const mail of mails) server.deliver("pipeline", mail)
      const drain = (pipelining: "auto" | "off") =>
        session(
          "pipeline",
          (s) =>
            Effect.map(
              Stream.runCollect(
                Effect.flatMap(s.list, (entries) => Effect.succeed(s.retrieveMany(entries))).pipe(Stream.unwrap)
              ),
              (results) => ({
                pipelining: s.capabilities.pipelining,
                bodies: Chunk.toReadonlyArray(results).map((r) =>
                  r._tag === "Retrieved" ? Buffer.from(r.bytes).toString("latin1") : r.error.message
                )
              })
            ),
          { pipelining, pipelineDepth: 16 }
        )
      const pipelined = yield* drain("auto")
      const sequential = yield* drain("off")
      assert.deepStrictEqual([pipelined.pipelining, sequential.pipelining], [true, false])
      assert.deepStrictEqual(pipelined.bodies, mails)
      assert.deepStrictEqual(sequential.bodies, mails)
      const header = yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* Pop3Client.connect(Pop3Options.make(options("pipeline")), undefined)
          return yield* Effect.flatten(Pop3Client.top(client, 3, 0, 1 << 20))
        })
      ).pipe(Effect.provide(Logger.remove(Logger.defaultLogger)))
      assert.strictEqual(Buffer.from(header).toString("latin1"), "Message-ID: <p2@rebound.test>\r\nSubject: 2\r\n\r\n")
    })
  )

  it.live("streams a 20 MB mail in pieces and leaves one above maxMailSize in the mailbox", () =>
    Effect.gen(function* () {
      const big = Buffer.concat([
        Buffer.from("Message-ID: <big@rebound.test>\r\n\r\n"),
        Buffer.alloc(20 * 1024 * 1024, "0123456789abcde\n")
      ])
      server.deliver("large", big)
      const { largest, pieces, total } = yield* session("large", (s) =>
        Effect.gen(function* () {
          const [entry] = yield* s.list
          return yield* Stream.runFold(s.retrieveStream(entry!), { pieces: 0, total: 0, largest: 0 }, (acc, piece) => ({
            pieces: acc.pieces + 1,
            total: acc.total + piece.length,
            largest: Math.max(acc.largest, piece.length)
          }))
        })
      )
      assert.strictEqual(total, crlf(big.toString("latin1")).length)
      assert.isAbove(pieces, 100)
      assert.isAtMost(largest, 1024 * 1024)
      const skipped = yield* session(
        "large",
        (s) => Effect.flatMap(s.list, (entries) => Stream.runCollect(s.retrieveMany(entries))),
        { maxMailSize: 1024 * 1024 }
      )
      const only = Chunk.unsafeHead(skipped)
      assert.isTrue(only._tag === "Skipped" && only.error.reason === "TooLarge")
      assert.strictEqual(server.files("large").length, 1)
    })
  )
})

describe.skipIf(skip)("Pop3Mailbox against a Dovecot tuned for a bounce mailbox (docs/mailbox.md)", () => {
  let tuned: Dovecot
  beforeAll(async () => {
    tuned = await startDovecot(["bounces"], { tuned: true })
  }, 60_000)
  afterAll(() => tuned.stop())

  it.live("sees mails delivered between sessions and deletes what was marked, on reused Dovecot processes", () =>
    Effect.gen(function* () {
      const mailbox = yield* Pop3Mailbox.make(optionsOn(tuned, "bounces", { maxMailsPerSession: 2 }))
      const deliver = (from: number, to: number) => {
        for (let i = from; i <= to; i++)
          tuned.deliver("bounces", `Message-ID: <${i}@rebound.test>\r\n\r\nmail ${i}\r\n`)
      }
      // each session takes the two first mails it lists and deletes them; the rest waits for the next session
      const takeTwo = Effect.scoped(
        Effect.flatMap(mailbox.open, (s) =>
          Effect.gen(function* () {
            const entries = yield* s.list
            const mails = yield* Stream.runCollect(s.retrieveMany(entries))
            for (const entry of entries) yield* s.markDeleted(entry)
            yield* s.commit
            return Chunk.toReadonlyArray(mails).map((mail) =>
              mail._tag === "Retrieved" ? /<(\d+)@/.exec(Buffer.from(mail.bytes).toString("latin1"))![1] : "skipped"
            )
          })
        )
      )
      deliver(1, 3)
      assert.deepStrictEqual(yield* takeTwo, ["1", "2"])
      // delivered into new/ after Dovecot last looked at the folder: very dirty syncs must still see them
      deliver(4, 5)
      assert.deepStrictEqual(yield* takeTwo, ["3", "4"])
      assert.deepStrictEqual(yield* takeTwo, ["5"])
      assert.deepStrictEqual(yield* takeTwo, [])
      assert.strictEqual(tuned.files("bounces").length, 0)
    }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provide(Logger.remove(Logger.defaultLogger)))
  )
})
