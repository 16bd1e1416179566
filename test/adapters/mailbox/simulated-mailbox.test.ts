import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../../src/adapters/mailbox/simulated-mailbox.js"

const mail = (n: number) => `Message-ID: <${n}@test>\r\nSubject: mail ${n}\r\n\r\nbody ${n}\r\n`
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")
const mails = (count: number) => Array.from({ length: count }, (_, i) => mail(i + 1))

const exitReason = <A>(exit: Exit.Exit<A, { readonly reason: string }>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  return failure?.reason ?? `defect: ${String(exit.cause)}`
}

describe("SimulatedMailbox", () => {
  it.effect("lists, retrieves, and deletes only what was marked, on commit", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          const entries = yield* session.list
          assert.deepStrictEqual(
            entries.map((e) => e.number),
            [1, 2, 3]
          )
          assert.strictEqual(text(yield* session.retrieve(entries[1]!)), mail(2))
          assert.deepStrictEqual(yield* session.stat, { count: 3, size: mails(3).join("").length })
          yield* session.markDeleted(entries[0]!)
          yield* session.markDeleted(entries[2]!)
          yield* session.commit
        })
      )
      const left = yield* handle.messages
      assert.deepStrictEqual(
        left.map((m) => text(m.bytes)),
        [mail(2)]
      )
      const log = yield* handle.commandLog
      assert.deepStrictEqual(log.slice(-3), ["DELE 1", "DELE 3", "QUIT"])
      assert.deepStrictEqual(yield* handle.stats, {
        opened: 1,
        committed: 1,
        aborted: 0,
        dropped: 0,
        mostOpen: 1,
        refusedLogins: 0
      })
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(3) })))
  )

  it.effect("an aborted session deletes nothing and sends no DELE", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          for (const entry of yield* session.list) yield* session.markDeleted(entry)
        })
      )
      assert.strictEqual((yield* handle.messages).length, 2)
      assert.isFalse((yield* handle.commandLog).some((command) => command.startsWith("DELE")))
      assert.strictEqual((yield* handle.stats).aborted, 1)
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(2) })))
  )

  it.effect("a connection dropped at RETR loses the session and deletes nothing", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* handle.inject({ _tag: "DropAtCommand", command: "RETR", occurrence: 2 })
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          const entries = yield* session.list
          yield* session.markDeleted(entries[0]!)
          const results = yield* Stream.runCollect(session.retrieveMany(entries))
          return results
        })
      ).pipe(Effect.exit)
      assert.strictEqual(exitReason(exit), "Closed")
      assert.strictEqual((yield* handle.messages).length, 3)
      assert.strictEqual((yield* handle.stats).dropped, 1)
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(3) })))
  )

  it.effect("an -ERR on one RETR skips that mail with a typed error and the stream goes on", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* handle.inject({
        _tag: "ErrorAtCommand",
        command: "RETR",
        reply: "-ERR [SYS/TEMP] disk error",
        occurrence: 2
      })
      const results = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          return Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(yield* session.list)))
        })
      )
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Retrieved", "Skipped", "Retrieved"]
      )
      const skipped = results[1]!
      assert.isTrue(skipped._tag === "Skipped" && skipped.error.reason === "SysTemp" && skipped.error.retryable)
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(3) })))
  )

  it.effect("drops after N octets in the middle of a streamed mail", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const big = "x".repeat(100_000)
      const handle = yield* SimulatedMailboxHandle
      yield* handle.deliver(big)
      yield* handle.inject({ _tag: "DropAfterBytes", bytes: 40_000 })
      const received: Array<number> = []
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          const [entry] = yield* session.list
          yield* Stream.runForEach(session.retrieveStream(entry!), (chunk) =>
            Effect.sync(() => received.push(chunk.length))
          )
        })
      ).pipe(Effect.exit)
      assert.strictEqual(exitReason(exit), "Closed")
      assert.strictEqual(
        received.reduce((a, b) => a + b, 0),
        40_000
      )
      assert.strictEqual((yield* handle.messages).length, 1)
    }).pipe(Effect.provide(SimulatedMailbox.layer({ chunkSize: 8192 })))
  )

  it.effect("response codes at login become typed errors: [AUTH], [LOGIN-DELAY], [SYS/PERM]", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      const openOnce = Effect.scoped(mailbox.open).pipe(Effect.exit)
      yield* handle.inject({ _tag: "ErrorAtCommand", command: "AUTH", reply: "-ERR [AUTH] invalid password" })
      const auth = yield* openOnce
      yield* handle.inject({ _tag: "ErrorAtCommand", command: "AUTH", reply: "-ERR [LOGIN-DELAY] wait" })
      const delay = yield* openOnce
      yield* handle.inject({ _tag: "ErrorAtCommand", command: "AUTH", reply: "-ERR [SYS/PERM] account closed" })
      const perm = yield* openOnce
      yield* handle.inject({ _tag: "ErrorAtCommand", command: "AUTH", reply: "-ERR wrong password" })
      const plain = yield* openOnce
      yield* handle.inject({ _tag: "DropAtCommand", command: "CONNECT" })
      const connect = yield* openOnce
      assert.deepStrictEqual([auth, delay, perm, plain, connect].map(exitReason), [
        "Auth",
        "LoginDelay",
        "SysPerm",
        "Auth",
        "Connect"
      ])
      assert.strictEqual(exitReason(yield* openOnce), "success")
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(1) })))
  )

  it.effect("a lock held by another session gives a retryable InUse", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* handle.holdLock
      const held = yield* Effect.scoped(mailbox.open).pipe(Effect.exit)
      assert.strictEqual(exitReason(held), "InUse")
      yield* handle.releaseLock
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* mailbox.open
          const second = yield* Effect.scoped(mailbox.open).pipe(Effect.exit)
          assert.strictEqual(exitReason(second), "InUse")
          assert.isTrue(Exit.isFailure(second) && second.cause._tag === "Fail" && second.cause.error.retryable)
        })
      )
      assert.strictEqual(exitReason(yield* Effect.scoped(mailbox.open).pipe(Effect.exit)), "success")
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(1) })))
  )

  it.effect("a -ERR to DELE at commit deletes nothing", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* handle.inject({ _tag: "ErrorAtCommand", command: "DELE", reply: "-ERR [SYS/TEMP] busy", occurrence: 2 })
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          for (const entry of yield* session.list) yield* session.markDeleted(entry)
          yield* session.commit
        })
      ).pipe(Effect.exit)
      assert.strictEqual(exitReason(exit), "SysTemp")
      assert.strictEqual((yield* handle.messages).length, 3)
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(3) })))
  )

  it.effect("leaves mails above maxMailSize, retrieves them with ignoreSize, caps the listing", () =>
    Effect.gen(function* () {
      const small = SimulatedMailbox.layer({ messages: ["tiny\r\n", "x".repeat(500)], limits: { maxMailSize: 100 } })
      const results = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* (yield* Mailbox).open
          const entries = yield* session.list
          const single = yield* session.retrieve(entries[1]!).pipe(Effect.flip)
          assert.strictEqual(single.reason, "TooLarge")
          return Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(entries)))
        })
      ).pipe(Effect.provide(small))
      assert.deepStrictEqual(
        results.map((r) => r._tag),
        ["Retrieved", "Skipped"]
      )
      const ignoring = SimulatedMailbox.layer({
        messages: ["x".repeat(500), "b", "c"],
        limits: { maxMailSize: 100, ignoreSize: true, maxMailsPerSession: 2 }
      })
      const sizes = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* (yield* Mailbox).open
          const entries = yield* session.list
          return yield* Effect.forEach(entries, (entry) => Effect.map(session.retrieve(entry), (b) => b.length))
        })
      ).pipe(Effect.provide(ignoring))
      assert.deepStrictEqual(sizes, [500, 1])
    })
  )

  it.effect("a mail delivered during a session appears in the next one (the maildrop is fixed at login)", () =>
    Effect.gen(function* () {
      const mailbox = yield* Mailbox
      const handle = yield* SimulatedMailboxHandle
      yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          yield* handle.deliver(mail(9), "late")
          assert.strictEqual((yield* session.list).length, 1)
        })
      )
      const uids = yield* Effect.scoped(Effect.flatMap(mailbox.open, (session) => session.list))
      assert.deepStrictEqual(
        uids.map((e) => e.uid),
        ["sim-00000001", "late"]
      )
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(1) })))
  )

  it.effect("latency runs on the Clock: TestClock decides when a session is done, pipelining saves round trips", () =>
    Effect.gen(function* () {
      // open = CONNECT + AUTH, list = LIST + UIDL, retrieveMany of 32 = 32 RETR (or 2 windows of 16), commit = QUIT
      const drain = Effect.scoped(
        Effect.gen(function* () {
          const session = yield* (yield* Mailbox).open
          yield* Stream.runDrain(session.retrieveMany(yield* session.list))
          yield* session.commit
        })
      )
      const timeToDrain = (pipelining: boolean) =>
        Effect.gen(function* () {
          const fiber = yield* Effect.fork(
            drain.pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(32), latency: "1 second", pipelining })))
          )
          let seconds = 0
          while ((yield* Fiber.poll(fiber))._tag === "None") {
            yield* TestClock.adjust("1 second")
            seconds++
            if (seconds > 100) break
          }
          yield* Fiber.join(fiber)
          return seconds
        })
      assert.strictEqual(yield* timeToDrain(false), 2 + 2 + 32 + 1)
      assert.strictEqual(yield* timeToDrain(true), 2 + 2 + 2 + 1)
    })
  )

  it.effect("operations after commit fail with Closed", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const session = yield* (yield* Mailbox).open
          yield* session.commit
          return yield* session.list
        })
      ).pipe(Effect.exit)
      assert.strictEqual(exitReason(exit), "Closed")
    }).pipe(Effect.provide(SimulatedMailbox.layer({ messages: mails(1) })))
  )
})
