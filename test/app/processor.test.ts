import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import { type Forward, Forwarder } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../src/adapters/mailbox/simulated-mailbox.js"
import { AddressStates } from "../../src/adapters/store/address-states.js"
import { BounceEvents } from "../../src/adapters/store/bounce-events.js"
import { MailLedger } from "../../src/adapters/store/mail-ledger.js"
import { RawArchive } from "../../src/adapters/store/raw-archive.js"
import { ledgerKeyOf, sha256Hex, type StoreSettings } from "../../src/adapters/store/store.js"
import * as MemoryStore from "../../src/adapters/store/memory.js"
import { Redacted } from "effect"
import { encodeMessageId, type SigningKey, makeTokenVerifier } from "../../src/domain/codec.js"
import { type Account, MaildirAccount } from "../../src/app/config.js"
import {
  type AccountHandle,
  type Crashpoint,
  Crashpoints,
  failingAfter,
  InjectedCrash,
  Processor,
  type Progress,
  layer as processorLayer
} from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { makeStopSignal, StopSignal } from "../../src/app/stop.js"
import { eximBounce, personalMail, postfixDsn, qmailBounce } from "../support/mails.js"

const key: SigningKey = { id: "k1", secret: Redacted.make("processor-test-secret-0123") }

const accountOf = (overrides: Partial<typeof MaildirAccount.Encoded> = {}): Account =>
  Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name: "bounces", path: "unused", ...overrides })

/**
 * The test's mailbox content: hard bounces (of messages with a signed Message-ID, so they fill the delivery log),
 * soft bounces, not-bounces, one per address.
 */
const mails = (count: number) =>
  Array.from({ length: count }, (_, index) => {
    const address = `user${index}@receiver.example`
    // each one its own Message-ID: identical mails would share one archive row, and hide a lost one
    if (index % 5 === 4) return Buffer.from(personalMail().toString().replace("personal-0001@", `personal-${index}@`))
    return index % 2 === 0
      ? postfixDsn({
          recipients: [{ address, status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }],
          original: {
            from: "news@sender.example",
            to: address,
            messageId: encodeMessageId(
              { instance: "prod", deliveryId: "D1", recipientId: `R${index}` },
              key,
              "sender.example"
            )
          }
        })
      : qmailBounce(address, "Remote host said: 552 5.2.2 mailbox full")
  })

const forwarded = Ref.unsafeMake<ReadonlyArray<Forward>>([])
const relayDown = Ref.unsafeMake(false)

const layers = (
  messages: ReadonlyArray<Uint8Array>,
  latency?: Duration.DurationInput,
  listed?: number,
  store: Partial<StoreSettings> = {},
  mailbox: Pick<
    SimulatedMailbox.SimulatedMailboxOptions,
    "sharedMaildrop" | "overlappingSessions" | "loginDelaySeconds"
  > = {}
) =>
  Layer.mergeAll(
    processorLayer({ instance: "prod", decode: { verifier: makeTokenVerifier([key]) }, batchSize: 4 }).pipe(
      Layer.provideMerge(
        Layer.mergeAll(MemoryStore.layer(store), ProcessorStatus.layer, Forwarder.layerMemory(forwarded, relayDown))
      )
    ),
    // one round trip per command, as a server without PIPELINING
    SimulatedMailbox.layer({
      ...mailbox,
      messages,
      pipelining: false,
      ...(latency === undefined ? {} : { latency }),
      // a mailbox that lists only so many mails per session, as POP3 and Maildir do with maxMailsPerSession
      ...(listed === undefined ? {} : { limits: { maxMailsPerSession: listed } })
    })
  )

const handleFor = (account: Account) => Effect.map(Mailbox, (mailbox): AccountHandle => ({ account, mailbox }))

/** Columns that hold a time on the Clock: runs that apply a mail at different moments differ in them, rightly. */
const timeColumns = new Set([
  "processed_at",
  "stored_at",
  "received_at",
  "updated_at",
  "at",
  "last_error_at",
  "previous_error_at",
  "quarantined_at",
  "first_seen",
  "last_seen",
  "sent_at",
  "created_at",
  "next_attempt_at",
  "delivered_at",
  "opened_at",
  "resolved_at",
  "reviewed_at",
  "acquired_at",
  "expires_at",
  "claimed_until"
])

/**
 * Everything the store holds, table by table and column by column, in a form two runs can be compared by. Read from
 * the memory store's SQLite tables rather than through the ports: no port lists a whole table (the delivery log, the
 * domain counters), and a table added later is compared without a change here. Left out: the migrations table (its
 * created_at is the wall clock), and row ids (SQLite hands out the next one, so a run that rolled a transaction back
 * numbers its later rows differently). Rows are sorted by content, except an address's history, which keeps its
 * order. Bytes are compared by their SHA-256. With `times: false`, for runs that apply mails at different moments on
 * the Clock, a time only says whether it is set.
 */
const storeSnapshot = (options: { readonly times: boolean } = { times: true }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const tables = yield* sql<{ readonly name: string }>`SELECT name FROM sqlite_master
      WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'rebound_migrations' ORDER BY name`
    const snapshot: Record<string, ReadonlyArray<Record<string, unknown>>> = {}
    for (const { name } of tables) {
      const columns = yield* sql<{ readonly name: string }>`SELECT name FROM pragma_table_info(${name})`
      const hasId = columns.some((column) => column.name === "id")
      const rows = yield* sql.unsafe<Record<string, unknown>>(
        `SELECT * FROM ${name} ORDER BY ${hasId ? "id" : "rowid"}`
      )
      const canonical = rows.map((row) => {
        const kept: Record<string, unknown> = {}
        for (const [column, value] of Object.entries(row)) {
          if (column === "id") continue
          if (!options.times && timeColumns.has(column)) kept[column] = value === null ? null : "a time"
          else if (value instanceof Uint8Array) kept[`${column}:sha256`] = sha256Hex(value)
          else if (column === "details" && typeof value === "string") {
            const details = JSON.parse(value) as Record<string, unknown>
            for (const [field, detail] of Object.entries(details)) kept[`details.${field}`] = detail
          } else kept[column] = value
        }
        return kept
      })
      snapshot[name] =
        name === "address_history"
          ? canonical.sort((a, b) => String(a.address).localeCompare(String(b.address)))
          : canonical
              .map((row) => [JSON.stringify(row), row] as const)
              .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
              .map(([, row]) => row)
    }
    return snapshot
  })

/** The tables a drain of `mails` writes to: a comparison of snapshots means something only when they hold rows. */
const assertFilled = (snapshot: Record<string, ReadonlyArray<unknown>>) => {
  for (const table of [
    "mail_ledger",
    "raw_mails",
    "bounce_events",
    "delivery_log",
    "address_states",
    "address_history",
    "domain_counts",
    "qualification_log"
  ]) {
    assert.isNotEmpty(snapshot[table], table)
  }
}

describe("Processor", () => {
  it.effect("applies bounces, records not-bounces, and deletes only what is durable", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const result = yield* processor.session(yield* handleFor(accountOf()))
      assert.strictEqual(result.listed, 10)
      assert.strictEqual(result.retrieved, 10)
      assert.deepStrictEqual(result.outcomes, { applied: 8, "not-a-bounce": 2 })
      assert.strictEqual(result.deleted, 10)
      assert.isFalse(result.limited)
      assert.lengthOf(yield* mailbox.messages, 0)
      assert.strictEqual(yield* Effect.flatMap(BounceEvents, (events) => events.count(0)), 8)
      const states = yield* AddressStates
      const hard = yield* states.list({ status: "quarantined", limit: 100 })
      assert.deepStrictEqual(hard.map((state) => state.address).sort(), [
        "user0@receiver.example",
        "user2@receiver.example",
        "user6@receiver.example",
        "user8@receiver.example"
      ])
      const soft = yield* states.list({ status: "with-errors", limit: 100 })
      assert.lengthOf(soft, 4)
    }).pipe(Effect.provide(layers(mails(10))))
  )

  for (const archiveAll of [false, true]) {
    it.effect(
      `archives the bytes of ${archiveAll ? "every mail (archiveAll)" : "the mails not applied"}, and records every size`,
      () =>
        Effect.gen(function* () {
          const processor = yield* Processor
          const archive = yield* RawArchive
          const ledger = yield* MailLedger
          const sent = mails(5)
          yield* processor.drain(yield* handleFor(accountOf()))
          const entries = yield* ledger.list({ limit: 10 })
          assert.lengthOf(entries, 5)
          for (const entry of entries) {
            const bytes = sent.find((mail) => ledgerKeyOf("bounces", entry.key.uid, mail).sha256 === entry.key.sha256)
            assert.isDefined(bytes)
            assert.strictEqual(entry.size, bytes!.byteLength)
            const archived = yield* archive.get(entry.key.sha256)
            assert.strictEqual(Option.isSome(archived), archiveAll || entry.outcome !== "applied", entry.outcome)
            assert.strictEqual(entry.archived, archiveAll || entry.outcome !== "applied")
          }
          assert.includeMembers(
            entries.map((entry) => entry.outcome),
            ["applied", "not-a-bounce"]
          )
        }).pipe(Effect.provide(layers(mails(5), undefined, undefined, { archiveAll })))
    )
  }

  it.effect("stops a session at its mail limit and drains the rest in later sessions", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const handle = yield* handleFor(accountOf({ maxMailsPerSession: 3 }))
      const first = yield* processor.session(handle)
      assert.strictEqual(first.retrieved, 3)
      assert.isTrue(first.limited)
      assert.lengthOf(yield* mailbox.messages, 4)
      const rest = yield* processor.drain(handle)
      assert.deepStrictEqual(
        rest.map((result) => result.retrieved),
        [3, 1]
      )
      assert.lengthOf(yield* mailbox.messages, 0)
      assert.strictEqual((yield* mailbox.stats).committed, 3)
    }).pipe(Effect.provide(layers(mails(7))))
  )

  it.effect(
    "a drain reports progress over all its sessions, counting the mailbox when a session lists only its share",
    () =>
      Effect.gen(function* () {
        const processor = yield* Processor
        const handle = yield* handleFor(accountOf({ maxMailsPerSession: 3 }))
        const seen: Array<Progress> = []
        const results = yield* processor.drain(handle, (progress) => Effect.sync(() => void seen.push(progress)))
        assert.deepStrictEqual(
          results.map((result) => result.retrieved),
          [3, 3, 1]
        )
        assert.deepStrictEqual(
          seen.map((progress) => [progress.done, progress.total]),
          [
            [0, 7],
            [3, 7],
            [3, 7],
            [6, 7],
            [6, 7],
            [7, 7]
          ]
        )
      }).pipe(Effect.provide(layers(mails(7), undefined, 3)))
  )

  it.effect("stops a session at its time limit on the Clock", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const handle = yield* handleFor(accountOf({ maxSecondsPerSession: 5 }))
      const fiber = yield* Effect.fork(processor.session(handle))
      yield* TestClock.adjust(Duration.seconds(60))
      const result = yield* Fiber.join(fiber)
      assert.isTrue(result.limited)
      assert.isAbove(result.retrieved, 0)
      assert.isBelow(result.retrieved, 20)
      assert.lengthOf(yield* mailbox.messages, 20 - result.deleted)
    }).pipe(Effect.provide(layers(mails(20), Duration.millis(400))))
  )

  it.effect("leaves mails of another instance in the mailbox and does not fetch them again", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const foreignId = encodeMessageId(
        { instance: "staging", deliveryId: "D1", recipientId: "R1" },
        key,
        "sender.example"
      )
      yield* mailbox.deliver(
        postfixDsn({
          recipients: [{ address: "x@receiver.example", status: "5.1.1" }],
          original: { from: "news@sender.example", to: "x@receiver.example", messageId: foreignId }
        }),
        "foreign-1"
      )
      const handle = yield* handleFor(accountOf())
      const first = yield* processor.session(handle)
      assert.deepStrictEqual(first.outcomes, { "foreign-instance": 1 })
      assert.strictEqual(first.left, 1)
      assert.lengthOf(yield* mailbox.messages, 1)
      const second = yield* processor.session(handle)
      assert.strictEqual(second.retrieved, 0)
      assert.strictEqual(second.alreadyDurable, 1)
      assert.lengthOf(yield* mailbox.messages, 1)
      assert.strictEqual(yield* Effect.flatMap(BounceEvents, (events) => events.count(0)), 0)
    }).pipe(Effect.provide(layers([])))
  )

  const crashpoints: ReadonlyArray<Crashpoint> = [
    "after-retrieve",
    "after-decode",
    "after-apply",
    "after-mark",
    "before-commit"
  ]
  for (const at of crashpoints) {
    it.effect(`a crash ${at} loses nothing and counts nothing twice`, () =>
      Effect.gen(function* () {
        const reference = yield* Effect.gen(function* () {
          const processor = yield* Processor
          yield* processor.drain(yield* handleFor(accountOf()))
          return yield* storeSnapshot()
        }).pipe(Effect.provide(layers(mails(12))))
        assertFilled(reference)

        const crashed = yield* Effect.gen(function* () {
          const processor = yield* Processor
          const mailbox = yield* SimulatedMailboxHandle
          const handle = yield* handleFor(accountOf())
          // a batch step crashes in the second batch (the first went through); the commit step on its only visit
          const armed = yield* Ref.make(at === "before-commit" ? 1 : 2)
          const crash = {
            reached: (point: Crashpoint) =>
              point !== at
                ? Effect.void
                : Effect.flatMap(
                    Ref.getAndUpdate(armed, (n) => n - 1),
                    (n) => (n === 1 ? Effect.fail(new InjectedCrash({ at })) : Effect.void)
                  )
          }
          const exit = yield* Effect.exit(processor.session(handle).pipe(Effect.provideService(Crashpoints, crash)))
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual((yield* mailbox.stats).committed, 0)
          // restart: the same store, a new session
          const results = yield* processor.drain(handle)
          assert.strictEqual(
            results.reduce((sum, result) => sum + result.duplicates, 0),
            0
          )
          assert.lengthOf(yield* mailbox.messages, 0)
          return yield* storeSnapshot()
        }).pipe(Effect.provide(layers(mails(12))))

        assert.deepStrictEqual(crashed, reference)
      })
    )
  }

  // a server that lets two sessions into one maildrop (Dovecot), and one that locks it (RFC 1939)
  const overlapping = { sharedMaildrop: true, overlappingSessions: true } as const
  const locking = { sharedMaildrop: false, overlappingSessions: true } as const

  /** A drain on a mailbox whose commands take 10 ms each, so that sessions can overlap in time. */
  const drainOnClock = (handle: AccountHandle, onProgress?: (progress: Progress) => Effect.Effect<void>) =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const fiber = yield* Effect.fork(processor.drain(handle, onProgress))
      yield* TestClock.adjust(Duration.minutes(10))
      return yield* Fiber.join(fiber)
    })

  /** The store after 18 mails drained in sessions of 4, one after the other: what an overlapping drain must equal. */
  const sequentialReference = Effect.gen(function* () {
    yield* drainOnClock(yield* handleFor(accountOf({ maxMailsPerSession: 4 })))
    const snapshot = yield* storeSnapshot({ times: false })
    assertFilled(snapshot)
    return snapshot
  }).pipe(Effect.provide(layers(mails(18), Duration.millis(10), 4)))

  it.effect("opens the next session while the previous one commits, and reads every mail once", () =>
    Effect.gen(function* () {
      const reference = yield* sequentialReference

      const overlapped = yield* Effect.gen(function* () {
        const mailbox = yield* SimulatedMailboxHandle
        const progress: Array<Progress> = []
        const results = yield* drainOnClock(yield* handleFor(accountOf({ maxMailsPerSession: 4 })), (p) =>
          Effect.sync(() => void progress.push(p))
        )
        assert.strictEqual((yield* mailbox.stats).mostOpen, 2)
        assert.deepStrictEqual(
          results.map((result) => [result.listed, result.retrieved, result.deleted]),
          [
            [4, 4, 4],
            [4, 4, 4],
            [4, 4, 4],
            [4, 4, 4],
            [2, 2, 2]
          ]
        )
        assert.strictEqual(
          results.reduce((sum, result) => sum + result.duplicates, 0),
          0
        )
        const log = yield* mailbox.commandLog
        assert.lengthOf(
          log.filter((command) => command.startsWith("RETR")),
          18
        )
        assert.lengthOf(yield* mailbox.messages, 0)
        for (let i = 1; i < progress.length; i++) assert.isAtLeast(progress[i]!.done, progress[i - 1]!.done)
        assert.deepStrictEqual([progress.at(-1)!.done, progress.at(-1)!.total], [18, 18])
        return yield* storeSnapshot({ times: false })
      }).pipe(Effect.provide(layers(mails(18), Duration.millis(10), 4, {}, overlapping)))

      assert.deepStrictEqual(overlapped, reference)
    })
  )

  it.effect("waits for the previous session when the server locks the maildrop, and overlaps no more", () =>
    Effect.gen(function* () {
      const mailbox = yield* SimulatedMailboxHandle
      const results = yield* drainOnClock(yield* handleFor(accountOf({ maxMailsPerSession: 4 })))
      assert.lengthOf(results, 5)
      assert.strictEqual(
        results.reduce((sum, result) => sum + result.retrieved, 0),
        18
      )
      assert.lengthOf(yield* mailbox.messages, 0)
      const stats = yield* mailbox.stats
      assert.strictEqual(stats.mostOpen, 1)
      assert.strictEqual(stats.opened, 5)
      // one login refused ([IN-USE]) while the first session committed; none tried after it
      const log = yield* mailbox.commandLog
      assert.lengthOf(
        log.filter((command) => command === "CONNECT"),
        6
      )
    }).pipe(Effect.provide(layers(mails(18), Duration.millis(10), 4, {}, locking)))
  )

  for (const at of crashpoints) {
    it.effect(`a crash ${at} while the next session runs loses nothing and counts nothing twice`, () =>
      Effect.gen(function* () {
        const reference = yield* sequentialReference

        const crashed = yield* Effect.gen(function* () {
          const mailbox = yield* SimulatedMailboxHandle
          const handle = yield* handleFor(accountOf({ maxMailsPerSession: 4 }))
          // each session has one batch (4 mails): the crash comes in the second session, as the third one runs.
          // "after-retrieve" comes with every chunk the mailbox gives: it crashes at the second session's first one
          // (a session has received all its mails before the next one opens)
          const armed = yield* Ref.make(2)
          const crash = {
            reached: (point: Crashpoint) =>
              point !== at
                ? Effect.void
                : at === "after-retrieve"
                  ? Effect.flatMap(mailbox.stats, (stats) =>
                      Effect.flatMap(
                        Ref.getAndUpdate(armed, (n) => (stats.opened >= 2 ? 0 : n)),
                        (n) => (stats.opened >= 2 && n > 0 ? Effect.fail(new InjectedCrash({ at })) : Effect.void)
                      )
                    )
                  : Effect.flatMap(
                      Ref.getAndUpdate(armed, (n) => n - 1),
                      (n) => (n === 1 ? Effect.fail(new InjectedCrash({ at })) : Effect.void)
                    )
          }
          const exit = yield* Effect.exit(drainOnClock(handle).pipe(Effect.provideService(Crashpoints, crash)))
          assert.isTrue(Exit.isFailure(exit))
          assert.strictEqual((yield* mailbox.stats).mostOpen, 2)
          // restart: the same store, a new drain
          const results = yield* drainOnClock(handle)
          assert.strictEqual(
            results.reduce((sum, result) => sum + result.duplicates, 0),
            0
          )
          assert.lengthOf(yield* mailbox.messages, 0)
          return yield* storeSnapshot({ times: false })
        }).pipe(Effect.provide(layers(mails(18), Duration.millis(10), 4, {}, overlapping)))

        assert.deepStrictEqual(crashed, reference)
      })
    )
  }

  it.effect("drains on after a session that only deleted what a crashed session had applied", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const handle = yield* handleFor(accountOf({ maxMailsPerSession: 3 }))
      const crash = {
        reached: (point: Crashpoint) =>
          point === "before-commit" ? Effect.fail(new InjectedCrash({ at: point })) : Effect.void
      }
      const exit = yield* Effect.exit(processor.session(handle).pipe(Effect.provideService(Crashpoints, crash)))
      assert.isTrue(Exit.isFailure(exit))
      const results = yield* processor.drain(handle)
      assert.deepStrictEqual(
        results.map((result) => [result.alreadyDurable, result.retrieved, result.deleted]),
        [
          [3, 0, 3],
          [0, 3, 3],
          [0, 1, 1]
        ]
      )
      assert.lengthOf(yield* mailbox.messages, 0)
    }).pipe(Effect.provide(layers(mails(7), undefined, 3)))
  )

  it.effect("commits what it applied when it is interrupted (SIGTERM)", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const handle = yield* handleFor(accountOf())
      const batches = yield* Ref.make(0)
      // the signal arrives with the third batch, before it is applied: two batches are applied and marked
      const signal = {
        reached: (point: Crashpoint) =>
          point === "after-decode"
            ? Effect.flatMap(
                Ref.updateAndGet(batches, (n) => n + 1),
                (n) => (n === 3 ? Effect.interrupt : Effect.void)
              )
            : Effect.void
      }
      const exit = yield* Effect.exit(processor.session(handle).pipe(Effect.provideService(Crashpoints, signal)))
      assert.isTrue(Exit.isInterrupted(exit))
      assert.strictEqual((yield* mailbox.stats).committed, 1)
      assert.lengthOf(yield* mailbox.messages, 20 - 8)
      const ledger = yield* MailLedger
      const outcomes = yield* ledger.outcomes(0)
      assert.strictEqual(
        Object.values(outcomes).reduce((sum, n) => sum + (n ?? 0), 0),
        8
      )
    }).pipe(Effect.provide(layers(mails(20))))
  )

  it.effect(
    "forwards unapplied mails to the operator, and keeps a mail whose forward failed for the next session",
    () =>
      Effect.gen(function* () {
        const processor = yield* Processor
        const mailbox = yield* SimulatedMailboxHandle
        yield* Ref.set(forwarded, [])
        const handle = yield* handleFor(
          accountOf({ unapplied: { action: "forward", forwardTo: "ops@sender.example", smtpPort: 2525 } })
        )
        yield* Ref.set(relayDown, true)
        const first = yield* processor.session(handle)
        assert.deepStrictEqual(first.outcomes, { applied: 4 })
        assert.strictEqual(first.left, 1)
        assert.lengthOf(yield* mailbox.messages, 1)
        yield* Ref.set(relayDown, false)
        const second = yield* processor.session(handle)
        assert.deepStrictEqual(second.outcomes, { "not-a-bounce": 1 })
        assert.lengthOf(yield* mailbox.messages, 0)
        const sent = yield* Ref.get(forwarded)
        assert.lengthOf(sent, 1)
        assert.strictEqual(sent[0]!.to, "ops@sender.example")
        assert.deepStrictEqual(sent[0]!.relay, { host: "127.0.0.1", port: 2525 })
        assert.include(Buffer.from(sent[0]!.bytes).toString(), "Question about the undelivered parcel")
      }).pipe(Effect.provide(layers(mails(5))))
  )

  it.effect("backs off when polls fail, reports the account as failing, and recovers", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const status = yield* ProcessorStatus
      yield* mailbox.holdLock
      const handle = yield* handleFor(accountOf())
      yield* Effect.fork(processor.run(handle, Duration.seconds(10)))
      let opened = 0
      // over an hour, failing polls back off: far fewer than one attempt per 10 s
      for (let minute = 0; minute < 60; minute++) yield* TestClock.adjust(Duration.minutes(1))
      opened = (yield* mailbox.stats).opened
      const [failing] = yield* status.accounts
      assert.strictEqual(failing!.state, "failing")
      assert.isAtLeast(failing!.consecutiveFailures, failingAfter)
      assert.isBelow(opened, 20)
      assert.include(failing!.lastError ?? "", "")
      yield* mailbox.releaseLock
      yield* TestClock.adjust(Duration.minutes(20))
      const [recovered] = yield* status.accounts
      assert.strictEqual(recovered!.consecutiveFailures, 0)
      assert.strictEqual(recovered!.state, "idle")
      assert.lengthOf(yield* mailbox.messages, 0)
      assert.strictEqual(recovered!.applied, 4)
    }).pipe(Effect.provide(layers(mails(5))))
  )

  it.effect("keeps polling on its schedule", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      yield* Effect.fork(processor.run(yield* handleFor(accountOf()), Duration.seconds(30)))
      yield* TestClock.adjust(Duration.seconds(1))
      assert.lengthOf(yield* mailbox.messages, 0)
      yield* mailbox.deliver(eximBounce([["late@receiver.example", "550 5.1.1 unknown"]]))
      yield* TestClock.adjust(Duration.seconds(10))
      assert.lengthOf(yield* mailbox.messages, 1)
      yield* TestClock.adjust(Duration.seconds(25))
      assert.lengthOf(yield* mailbox.messages, 0)
      const states = yield* AddressStates
      assert.lengthOf(yield* states.list({ status: "quarantined", limit: 10 }), 1)
    }).pipe(Effect.provide(layers([])))
  )

  it.effect("a stop ends the wait for the next poll at once: run returns without another session", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const stop = yield* makeStopSignal
      const running = yield* Effect.fork(
        processor
          .run(yield* handleFor(accountOf()), Duration.hours(1))
          .pipe(Effect.provideService(StopSignal, stop.signal))
      )
      yield* TestClock.adjust(Duration.seconds(1))
      assert.strictEqual((yield* mailbox.stats).opened, 1)
      yield* stop.request
      // no time passes: the hour's wait is cut short
      const exit = yield* Fiber.await(running)
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual((yield* mailbox.stats).opened, 1)
    }).pipe(Effect.provide(layers([])))
  )

  it.effect("a stop in the middle of a session: the mail in hand is the last, its batch applied and committed", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      const ledger = yield* MailLedger
      // asked once before the poll, then once for each mail as it comes: the stop comes with the sixth mail
      const asked = yield* Ref.make(0)
      const requested = Ref.updateAndGet(asked, (n) => n + 1).pipe(Effect.map((n) => n > 6))
      const running = yield* Effect.fork(
        processor
          .run(yield* handleFor(accountOf()), Duration.hours(1))
          .pipe(Effect.provideService(StopSignal, { requested, await: Effect.never }))
      )
      yield* TestClock.adjust(Duration.seconds(1))
      const exit = yield* Fiber.await(running)
      assert.isTrue(Exit.isSuccess(exit), "run returns by itself")
      // batches of 4: the first one, then the sixth mail's, cut short at it
      assert.lengthOf(yield* mailbox.messages, 14)
      assert.strictEqual((yield* mailbox.stats).committed, 1)
      assert.strictEqual((yield* mailbox.stats).opened, 1)
      const outcomes = yield* ledger.outcomes(0)
      assert.strictEqual(
        Object.values(outcomes).reduce((sum, n) => sum + (n ?? 0), 0),
        6
      )
    }).pipe(Effect.provide(layers(mails(20))))
  )

  for (const overlappingSessions of [false, true]) {
    it.effect(
      `a backlog's sessions wait out the server's LOGIN-DELAY between logins${overlappingSessions ? " (even when sessions may overlap)" : ""}`,
      () =>
        Effect.gen(function* () {
          const processor = yield* Processor
          const mailbox = yield* SimulatedMailboxHandle
          const drained = yield* Effect.fork(processor.drain(yield* handleFor(accountOf({ maxMailsPerSession: 5 }))))
          yield* TestClock.adjust(Duration.seconds(1))
          assert.strictEqual((yield* mailbox.stats).opened, 1)
          assert.lengthOf(yield* mailbox.messages, 7, "the first session took its 5 mails")
          yield* TestClock.adjust(Duration.seconds(58))
          assert.strictEqual((yield* mailbox.stats).opened, 1, "no login within the delay")
          yield* TestClock.adjust(Duration.seconds(2))
          assert.strictEqual((yield* mailbox.stats).opened, 2)
          yield* TestClock.adjust(Duration.seconds(60))
          const results = yield* Fiber.join(drained)
          assert.lengthOf(results, 3)
          assert.lengthOf(yield* mailbox.messages, 0)
          assert.strictEqual((yield* mailbox.stats).refusedLogins, 0)
        }).pipe(
          Effect.provide(
            layers(
              mails(12),
              undefined,
              5,
              {},
              { loginDelaySeconds: 60, overlappingSessions, sharedMaildrop: overlappingSessions }
            )
          )
        )
    )
  }
  /** Two simulated mailboxes, each its own account, polled by one processor (one store) on their own intervals. */
  const pollBoth = (options: { readonly failing?: boolean } = {}) =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const fast = { name: "fast", every: Duration.seconds(10), box: yield* SimulatedMailbox.make() }
      // a failing account whose every attempt takes 25 s to fail: a poll loop that waited for it would fall behind
      const other = options.failing
        ? { name: "broken", every: Duration.seconds(10), box: yield* SimulatedMailbox.make({ latency: "25 seconds" }) }
        : { name: "slow", every: Duration.seconds(60), box: yield* SimulatedMailbox.make() }
      if (options.failing) yield* other.box.handle.holdLock
      for (const { name, every, box } of [fast, other]) {
        yield* Effect.fork(processor.run({ account: accountOf({ name }), mailbox: box.mailbox }, every))
      }
      return { fast, other }
    })

  type Polled = Effect.Effect.Success<ReturnType<typeof pollBoth>>["fast"]

  /**
   * Moves the clock second by second up to `seconds`, looking half a second after each whole second (a poll at second
   * n has run by n + 0.5). Returns the seconds at which each account's mailbox opened a session, and the second at
   * which each mail `deliveries` drops in (second, account, address) had left its mailbox.
   */
  const watch = (
    accounts: ReadonlyArray<Polled>,
    seconds: number,
    deliveries: ReadonlyArray<readonly [number, Polled, string]>
  ) =>
    Effect.gen(function* () {
      const polledAt = new Map(accounts.map((account) => [account.name, [] as Array<number>]))
      const opened = new Map(accounts.map((account) => [account.name, 0]))
      const pickedUp = new Map<string, number>()
      const waiting = new Map<string, Polled>()
      yield* TestClock.adjust("500 millis")
      for (let second = 0; second <= seconds; second++) {
        for (const account of accounts) {
          const now = (yield* account.box.handle.stats).opened
          if (now > opened.get(account.name)!) polledAt.get(account.name)!.push(second)
          opened.set(account.name, now)
        }
        for (const [address, account] of waiting) {
          if ((yield* account.box.handle.messages).length === 0) {
            pickedUp.set(address, second)
            waiting.delete(address)
          }
        }
        for (const [at, account, address] of deliveries) {
          if (at !== second) continue
          yield* account.box.handle.deliver(eximBounce([[address, "550 5.1.1 unknown user"]]))
          waiting.set(address, account)
        }
        yield* TestClock.adjust("1 second")
      }
      return { polledAt, pickedUp }
    })

  const every = (step: number, until: number) => Array.from({ length: until / step + 1 }, (_, index) => index * step)

  it.effect(
    "polls several accounts in parallel, each on its own schedule, and takes mail within its own interval",
    () =>
      Effect.gen(function* () {
        const { fast, other: slow } = yield* pollBoth()
        const { pickedUp, polledAt } = yield* watch([fast, slow], 180, [
          [1, fast, "first-fast@receiver.example"],
          [1, slow, "first-slow@receiver.example"],
          [95, fast, "second-fast@receiver.example"],
          [95, slow, "second-slow@receiver.example"]
        ])
        assert.deepStrictEqual(polledAt.get("fast"), every(10, 180))
        assert.deepStrictEqual(polledAt.get("slow"), every(60, 180))
        // delivered just after a poll: each mail waits for its own account's next poll, no sooner, no later
        assert.deepStrictEqual(Object.fromEntries(pickedUp), {
          "first-fast@receiver.example": 10,
          "first-slow@receiver.example": 60,
          "second-fast@receiver.example": 100,
          "second-slow@receiver.example": 120
        })
        const states = yield* AddressStates
        const quarantined = yield* states.list({ status: "quarantined", limit: 10 })
        assert.deepStrictEqual(quarantined.map((state) => state.address).sort(), [
          "first-fast@receiver.example",
          "first-slow@receiver.example",
          "second-fast@receiver.example",
          "second-slow@receiver.example"
        ])
        const ledger = yield* MailLedger
        assert.lengthOf(yield* ledger.list({ account: "fast", limit: 10 }), 2)
        assert.lengthOf(yield* ledger.list({ account: "slow", limit: 10 }), 2)
      }).pipe(Effect.provide(layers([])))
  )

  it.effect("an account that keeps failing, slowly, does not delay the polls of another", () =>
    Effect.gen(function* () {
      const { fast, other: broken } = yield* pollBoth({ failing: true })
      const status = yield* ProcessorStatus
      const { pickedUp, polledAt } = yield* watch([fast, broken], 600, [
        [1, fast, "early@receiver.example"],
        [301, fast, "later@receiver.example"]
      ])
      assert.deepStrictEqual(polledAt.get("fast"), every(10, 600))
      assert.deepStrictEqual(Object.fromEntries(pickedUp), {
        "early@receiver.example": 10,
        "later@receiver.example": 310
      })
      assert.deepStrictEqual(polledAt.get("broken"), [])
      const attempts = (yield* broken.box.handle.commandLog).filter((command) => command === "CONNECT").length
      // backing off: far fewer attempts than one every 10 s
      assert.isAtLeast(attempts, failingAfter)
      assert.isBelow(attempts, 20)
      const accounts = yield* status.accounts
      const failing = accounts.find((account) => account.account === "broken")!
      // reported failing; at the moment of the check a retry (25 s long) may be under way, with the count kept
      assert.isAtLeast(failing.consecutiveFailures, failingAfter)
      assert.include(["failing", "polling"], failing.state)
      assert.include(failing.lastError ?? "", "IN-USE")
      const healthy = accounts.find((account) => account.account === "fast")!
      assert.strictEqual(healthy.consecutiveFailures, 0)
      assert.strictEqual(healthy.applied, 2)
    }).pipe(Effect.provide(layers([])))
  )
})
