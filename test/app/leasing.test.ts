import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Ref, Schema, Scope, TestClock } from "effect"
import { type Forward, Forwarder } from "../../src/adapters/forward/forwarder.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { BounceEvents } from "../../src/adapters/store/bounce-events.js"
import { AccountLeases, layerMemory as leasesInMemory } from "../../src/adapters/store/leases.js"
import { MailLedger } from "../../src/adapters/store/mail-ledger.js"
import * as MemoryStore from "../../src/adapters/store/memory.js"
import { makeTokenVerifier, type SigningKey } from "../../src/domain/codec.js"
import { type Account, MaildirAccount } from "../../src/app/config.js"
import {
  type HeldLease,
  isDeadLocalHolder,
  Leasing,
  make as makeLeasing,
  onceAcrossProcesses
} from "../../src/app/leasing.js"
import { type AccountHandle, make as makeProcessor, SessionGuard } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { spawnSync } from "node:child_process"
import * as os from "node:os"
import { postfixDsn, qmailBounce } from "../support/mails.js"

const ttl = Duration.seconds(3)
const names = ["a", "b", "c", "d"]

/** A process's Leasing in its own scope, so the test can start and stop processes. */
const startProcess = (holder: string) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const leasing = yield* makeLeasing({ holder, ttl, accounts: names.length, member: true }).pipe(Scope.extend(scope))
    return { leasing, scope }
  })

/** Takes each free account within the process's share; each lease in a scope of its own (as `run` does). */
const takeAll = (leasing: Context.Tag.Service<Leasing>) =>
  Effect.gen(function* () {
    const held = new Map<string, { readonly lease: HeldLease; readonly scope: Scope.CloseableScope }>()
    for (const name of names) {
      const scope = yield* Scope.make()
      const lease = yield* leasing.account(name).pipe(Scope.extend(scope))
      if (Option.isSome(lease)) held.set(name, { lease: lease.value, scope })
      else yield* Scope.close(scope, Exit.void)
    }
    return held
  })

describe("Leasing", () => {
  it.effect("a process alone takes every account; a second one gets half once the first hands them over", () =>
    Effect.gen(function* () {
      const first = yield* startProcess("p1")
      const firstHeld = yield* takeAll(first.leasing)
      assert.deepStrictEqual([...firstHeld.keys()], names)

      const second = yield* startProcess("p2")
      assert.strictEqual((yield* takeAll(second.leasing)).size, 0, "all held by the first")
      // the first sees two live processes at its next count (ttl / 3) and keeps the two accounts that sort first
      yield* TestClock.adjust(Duration.seconds(1))
      const keeps = yield* Effect.forEach(names, (name) => firstHeld.get(name)!.lease.keep)
      assert.deepStrictEqual(keeps, [true, true, false, false])
      for (const name of ["c", "d"]) yield* Scope.close(firstHeld.get(name)!.scope, Exit.void)
      assert.deepStrictEqual([...(yield* takeAll(second.leasing)).keys()], ["c", "d"])
      assert.strictEqual((yield* takeAll(first.leasing)).size, 0, "the first holds its share")
    }).pipe(Effect.provide(leasesInMemory))
  )

  it.effect("the accounts of a process that died are taken over once its leases expire, not before", () =>
    Effect.gen(function* () {
      const leases = yield* AccountLeases
      // a killed process: leases never renewed nor released
      yield* leases.acquire("process:dead", "dead", ttl)
      for (const name of names) yield* leases.acquire(`account:${name}`, "dead", ttl)
      const survivor = yield* startProcess("p2")
      assert.strictEqual((yield* takeAll(survivor.leasing)).size, 0)
      yield* TestClock.adjust(Duration.millis(2900))
      assert.strictEqual((yield* takeAll(survivor.leasing)).size, 0, "still within the dead holder's ttl")
      yield* TestClock.adjust(Duration.millis(200))
      // the dead process's membership has expired too: its share is all four
      assert.deepStrictEqual([...(yield* takeAll(survivor.leasing)).keys()], names)
    }).pipe(Effect.provide(leasesInMemory))
  )

  it.effect("a process of this machine that no longer runs is not waited out: its leases are taken at once", () =>
    Effect.gen(function* () {
      const leases = yield* AccountLeases
      const exited = spawnSync(process.execPath, ["-e", ""])
      const dead = `prod@${os.hostname()}:${exited.pid}:0badc0de`
      const elsewhere = `prod@another-host.example:${exited.pid}:0badc0de`
      assert.isTrue(isDeadLocalHolder(dead))
      assert.isFalse(isDeadLocalHolder(elsewhere), "a pid of another machine cannot be checked from here")
      assert.isFalse(isDeadLocalHolder(`prod@${os.hostname()}:${process.pid}:0badc0de`), "this process is alive")
      yield* leases.acquire(`process:${dead}`, dead, ttl)
      for (const name of ["a", "b"]) yield* leases.acquire(`account:${name}`, dead, ttl)
      for (const name of ["c", "d"]) yield* leases.acquire(`account:${name}`, elsewhere, ttl)
      const restarted = yield* startProcess("p2")
      // no clock moved: the dead local holder's accounts now, the other machine's only after their ttl
      assert.deepStrictEqual([...(yield* takeAll(restarted.leasing)).keys()], ["a", "b"])
      assert.isFalse((yield* leases.list("process:")).some((lease) => lease.holder === dead))
    }).pipe(Effect.provide(leasesInMemory))
  )

  it.effect("a lease another holder has taken is lost at the next heartbeat", () =>
    Effect.gen(function* () {
      const leases = yield* AccountLeases
      const process = yield* startProcess("p1")
      const held = yield* takeAll(process.leasing)
      const lease = held.get("a")!.lease
      assert.isTrue(yield* lease.keep)
      // as after a pause longer than the ttl: the lease expired and someone else took it
      yield* leases.release("account:a", "p1")
      yield* leases.acquire("account:a", "p3", ttl)
      yield* TestClock.adjust(Duration.seconds(1))
      assert.isFalse(yield* lease.keep)
      yield* lease.lost
      assert.isTrue(yield* held.get("b")!.lease.keep, "the other leases stay")
      // closing the lost lease's scope does not release p3's lease
      yield* Scope.close(held.get("a")!.scope, Exit.void)
      assert.strictEqual((yield* leases.list("account:a"))[0]!.holder, "p3")
    }).pipe(Effect.provide(leasesInMemory))
  )

  it.effect("a job runs once per period across processes", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make<ReadonlyArray<string>>([])
      const job = (holder: string) =>
        onceAcrossProcesses({
          name: "job:daily",
          holder,
          period: "24 hours",
          checkEvery: "1 hour",
          job: Ref.update(runs, (list) => [...list, holder])
        })
      yield* Effect.fork(job("p1"))
      yield* Effect.fork(job("p2"))
      yield* Effect.fork(job("p3"))
      for (let hour = 0; hour < 71; hour++) yield* TestClock.adjust("1 hour")
      assert.strictEqual((yield* Ref.get(runs)).length, 3, "at 0, 24 and 48 hours")
    }).pipe(Effect.provide(leasesInMemory))
  )
})

const key: SigningKey = { id: "k1", secret: Redacted.make("leasing-test-secret-0123") }

const accountOf = (name: string): Account =>
  Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name, path: "unused", maxMailsPerSession: 10 })

const mailsFor = (account: string, count: number) =>
  Array.from({ length: count }, (_, index) => {
    const address = `user${index}@${account}.example`
    return index % 2 === 0
      ? postfixDsn({ recipients: [{ address, status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }] })
      : qmailBounce(address, "Remote host said: 552 5.2.2 mailbox full")
  })

const appLayer = () =>
  Layer.mergeAll(
    MemoryStore.layer(),
    ProcessorStatus.layer,
    Forwarder.layerMemory(Ref.unsafeMake<ReadonlyArray<Forward>>([]), Ref.unsafeMake(false))
  )

const settings = { instance: "prod", decode: { verifier: makeTokenVerifier([key]) }, batchSize: 4 }

describe("Processor with leases", () => {
  it.effect("two processes on one store empty four accounts between them, each mail applied once", () =>
    Effect.gen(function* () {
      const perAccount = 30
      const boxes = yield* Effect.forEach(names, (name) =>
        SimulatedMailbox.make({ messages: mailsFor(name, perAccount), latency: "5 millis" })
      )
      const handles: Array<AccountHandle> = names.map((name, index) => ({
        account: accountOf(name),
        mailbox: boxes[index]!.mailbox
      }))
      const processes = yield* Effect.forEach(["p1", "p2"], (holder) =>
        Effect.gen(function* () {
          const { leasing } = yield* startProcess(holder)
          const processor = yield* makeProcessor(settings).pipe(Effect.provideService(Leasing, leasing))
          return yield* Effect.forEach(handles, (handle) => Effect.fork(processor.run(handle, Duration.seconds(5))))
        })
      )
      for (let second = 0; second < 60; second++) yield* TestClock.adjust("1 second")
      const holders = (yield* (yield* AccountLeases).list("account:")).map((lease) => lease.holder.slice(0, 2)).sort()
      assert.deepStrictEqual(holders, ["p1", "p1", "p2", "p2"], "the accounts are divided between the processes")
      yield* Fiber.interruptAll(processes.flat())
      for (const box of boxes) assert.strictEqual((yield* box.handle.messages).length, 0, "mailbox emptied")
      const ledger = yield* MailLedger
      const outcomes = yield* ledger.outcomes(0)
      assert.strictEqual(outcomes["applied"], names.length * perAccount)
      assert.strictEqual(yield* (yield* BounceEvents).count(0), names.length * perAccount, "one event per mail")
      // each account's mailbox was opened by one process at a time: no POP3 lock conflicts
      for (const box of boxes) assert.strictEqual((yield* box.handle.stats).aborted, 0)
    }).pipe(Effect.provide(appLayer()))
  )

  it.effect("a session whose lease is lost applies and commits its current batch, then stops", () =>
    Effect.gen(function* () {
      const box = yield* SimulatedMailbox.make({ messages: mailsFor("a", 20) })
      const processor = yield* makeProcessor(settings)
      const checks = yield* Ref.make(0)
      // the lease is lost while the sixth mail is in hand
      const keep = Ref.updateAndGet(checks, (n) => n + 1).pipe(Effect.map((n) => n < 6))
      const handle = { account: accountOf("a"), mailbox: box.mailbox }
      const results = yield* processor.drain(handle).pipe(Effect.provideService(SessionGuard, { keep }))
      assert.strictEqual(results.length, 1, "no further session")
      // batches of 4: the first batch, then the batch the sixth mail is in, cut short
      assert.strictEqual(results[0]!.retrieved, 6)
      assert.strictEqual(results[0]!.deleted, 6)
      assert.strictEqual((yield* box.handle.messages).length, 14, "the rest stays for the next holder")
      const rest = yield* processor.drain(handle)
      assert.strictEqual(
        rest.reduce((sum, result) => sum + result.retrieved, 0),
        14
      )
      assert.strictEqual((yield* (yield* MailLedger).outcomes(0))["applied"], 20)
    }).pipe(Effect.provide(appLayer()))
  )
})
