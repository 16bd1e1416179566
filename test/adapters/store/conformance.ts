import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, FastCheck as fc, Fiber, Layer, Option, Schedule, TestClock, TestServices } from "effect"
import type { NormalizedAddress } from "../../../src/domain/address.js"
import {
  type AddressList,
  type AddressState,
  type ErrorType,
  type QuarantineCause,
  statusOf as statusOfState
} from "../../../src/domain/quarantine.js"
import type { BounceRecord, BounceReport, Correlation, Reason } from "../../../src/domain/report.js"
import { noCorrelation } from "../../../src/domain/report.js"
import { type AddressListFilter, AddressStates } from "../../../src/adapters/store/address-states.js"
import { BounceEvents } from "../../../src/adapters/store/bounce-events.js"
import { DeliveryLog } from "../../../src/adapters/store/delivery-log.js"
import { DomainStats } from "../../../src/adapters/store/domain-stats.js"
import type { StoreError } from "../../../src/adapters/store/errors.js"
import { MailLedger } from "../../../src/adapters/store/mail-ledger.js"
import type { LedgerKey, MailOutcome, StoredAddressState } from "../../../src/adapters/store/model.js"
import { migrations } from "../../../src/adapters/store/migrations.js"
import { QualificationLog } from "../../../src/adapters/store/qualification-log.js"
import { RawArchive } from "../../../src/adapters/store/raw-archive.js"
import { type MailToApply, type Repositories, sha256Hex, Store } from "../../../src/adapters/store/store.js"

const time = fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 })
const reasons = fc.constantFrom<Reason>("userunknown", "mailboxfull", "blocked")
const errorTypes = fc.constantFrom<ErrorType>("hard", "soft")
const stateArbitrary: fc.Arbitrary<AddressState> = fc.record({
  list: fc.constantFrom<AddressList | null>(null, "allow", "deny"),
  errorCount: fc.nat(9),
  lastErrorAt: fc.option(time, { nil: null }),
  lastErrorReason: fc.option(reasons, { nil: null }),
  lastErrorType: fc.option(errorTypes, { nil: null }),
  previousErrorAt: fc.option(time, { nil: null }),
  previousErrorCount: fc.nat(9),
  quarantine: fc.option(
    fc.record({
      at: time,
      reason: reasons,
      type: errorTypes,
      cause: fc.constantFrom<QuarantineCause>("hard-bounce", "error-threshold"),
      suspect: fc.boolean()
    }),
    { nil: null }
  )
})

/** A state, and one that keeps each of its fields (and each field of its quarantine) or takes another's, 3 in 4 kept. */
const statePairs = fc
  .tuple(stateArbitrary, stateArbitrary, fc.array(fc.nat(3), { minLength: 13, maxLength: 13 }))
  .map(([before, other, draws]): [AddressState, AddressState] => {
    const keep = draws.map((n) => n > 0)
    const quarantine =
      before.quarantine !== null && other.quarantine !== null
        ? {
            at: keep[8] ? before.quarantine.at : other.quarantine.at,
            reason: keep[9] ? before.quarantine.reason : other.quarantine.reason,
            type: keep[10] ? before.quarantine.type : other.quarantine.type,
            cause: keep[11] ? before.quarantine.cause : other.quarantine.cause,
            suspect: keep[12] ? before.quarantine.suspect : other.quarantine.suspect
          }
        : keep[8]
          ? before.quarantine
          : other.quarantine
    return [
      before,
      {
        list: keep[0] ? before.list : other.list,
        errorCount: keep[1] ? before.errorCount : other.errorCount,
        lastErrorAt: keep[2] ? before.lastErrorAt : other.lastErrorAt,
        lastErrorReason: keep[3] ? before.lastErrorReason : other.lastErrorReason,
        lastErrorType: keep[4] ? before.lastErrorType : other.lastErrorType,
        previousErrorAt: keep[5] ? before.previousErrorAt : other.previousErrorAt,
        previousErrorCount: keep[6] ? before.previousErrorCount : other.previousErrorCount,
        quarantine
      }
    ]
  })

/** A store implementation under test: a fresh, empty store per call. */
export interface Backend {
  readonly name: string
  readonly layer: () => Layer.Layer<Store | Repositories | SqlClient.SqlClient, StoreError>
  /** whether `concurrent` writers really run in parallel (a pool), rather than one after the other */
  readonly pooled: boolean
  /** a layer on the same database as the last `layer()`, to check that migrations run once */
  readonly reopen?: () => Layer.Layer<Store | Repositories | SqlClient.SqlClient, StoreError>
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const start = Date.UTC(2025, 0, 6, 9)
const operator = { who: "ops@example.com", why: "INC-7: provider outage" }

let uid = 0
const keyFor = (label: string): LedgerKey => {
  uid += 1
  return {
    account: "bounces@example.com",
    uid: `${uid}.${label}`,
    sha256: sha256Hex(new TextEncoder().encode(`${uid} ${label}`))
  }
}

const record = (overrides: Partial<BounceRecord> = {}): BounceRecord => ({
  kind: "bounce",
  recipient: "user@example.org",
  originalRecipient: null,
  action: "failed",
  status: "5.1.1",
  replyCode: "550",
  diagnostic: "550 5.1.1 <user@example.org>: Recipient address rejected: User unknown",
  diagnosticType: "smtp",
  remoteMta: "mx.example.org",
  reportingMta: "mta.example.com",
  lastAttemptDate: "Mon, 6 Jan 2025 09:00:00 +0000",
  willRetryUntil: null,
  type: "hard",
  reason: "userunknown",
  campaignReason: "User unknown",
  rule: "dsn-status-5.1.1",
  feedbackType: null,
  originalMessageId: null,
  originalEnvelopeId: null,
  correlation: noCorrelation,
  ...overrides
})

const report = (records: ReadonlyArray<BounceRecord>, overrides: Partial<BounceReport> = {}): BounceReport => ({
  kind: records[0]?.kind ?? "not-bounce",
  dialect: "rfc3464",
  subject: "Undelivered Mail Returned to Sender",
  from: "MAILER-DAEMON@mta.example.com",
  messageId: "<dsn-1@mta.example.com>",
  date: "Mon, 6 Jan 2025 09:00:00 +0000",
  reportingMta: "mta.example.com",
  arrivalDate: null,
  originalEnvelopeId: null,
  originalMessageId: null,
  records,
  ...overrides
})

const mail = (records: ReadonlyArray<BounceRecord>, outcome: MailOutcome = "applied"): MailToApply => ({
  key: keyFor(records[0]?.reason ?? "none"),
  outcome,
  report: report(records),
  bytes: new TextEncoder().encode(`From: MAILER-DAEMON\r\n\r\n${JSON.stringify(records)}`)
})

const soft = (recipient: string, reason: BounceRecord["reason"] = "mailboxfull") =>
  mail([
    record({
      recipient,
      type: "soft",
      reason,
      status: "4.2.2",
      replyCode: "452",
      diagnostic: `452 4.2.2 <${recipient}>: Mailbox full`,
      campaignReason: "Mailbox full"
    })
  ])
const hard = (recipient: string, overrides: Partial<BounceRecord> = {}) =>
  mail([record({ recipient, diagnostic: `550 5.1.1 <${recipient}>: User unknown`, ...overrides })])

/**
 * Moves the TestClock on a day at a time, each time waiting (on the real clock, bounded) until the forked daily job
 * has run at the new time: with a database driver that does real I/O, the job's run is still in flight when
 * `TestClock.adjust` returns.
 */
const advanceDaily = (days: number) =>
  Effect.gen(function* () {
    for (let day = 0; day < days; day++) {
      yield* TestClock.adjust("1 day")
      yield* awaitDailyRun
    }
  })

const awaitDailyRun = Effect.gen(function* () {
  const now = yield* Clock.currentTimeMillis
  const store = yield* Store
  yield* store.lastMaintenance.pipe(
    Effect.filterOrFail((last) => Option.isSome(last) && last.value.at >= now),
    Effect.retry(Schedule.spaced("2 millis").pipe(Schedule.upTo("10 seconds"))),
    TestServices.provideLive,
    Effect.orDieWith(() => new Error("the daily job did not run"))
  )
})

/** Forks the daily job and waits for its first run. */
const forkDaily = Effect.gen(function* () {
  const fiber = yield* Effect.fork(Effect.flatMap(Store, (store) => store.runDaily))
  yield* awaitDailyRun
  return fiber
})

const statusOf = (address: string) =>
  Effect.flatMap(Store, (store) => store.address(address)).pipe(Effect.map((s) => s.status))

/** The conformance suite every store implementation passes. */
export const conformance = (backend: Backend) => {
  const test = (name: string, body: () => Effect.Effect<void, unknown, Store | Repositories | SqlClient.SqlClient>) =>
    it.effect(name, () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(start)
        yield* body()
      }).pipe(Effect.provide(backend.layer()))
    )

  describe(`store conformance: ${backend.name}`, () => {
    test("a mail is applied once: applying it again changes nothing", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const events = yield* BounceEvents
        const states = yield* AddressStates
        const qualification = yield* QualificationLog
        const bounce = hard("Someone@Example.ORG")
        const first = yield* store.applyMail(bounce)
        assert.isFalse(first.duplicate)
        assert.strictEqual(first.events, 1)
        assert.deepStrictEqual(
          first.transitions.map((t) => [t.address, t.from, t.to, t.cause]),
          [["someone@example.org", "valid", "quarantined", "hard-bounce"]]
        )
        yield* TestClock.adjust("2 days")
        const again = yield* store.applyMail(bounce)
        assert.isTrue(again.duplicate)
        assert.strictEqual(again.events, 0)
        assert.lengthOf(yield* events.forMail(bounce.key), 1)
        assert.lengthOf(yield* states.history("someone@example.org" as never), 1)
        const texts = yield* qualification.list({ limit: 10 })
        assert.strictEqual(texts[0]?.seen, 1)
        const state = yield* store.address("someone@example.org")
        assert.strictEqual(state.state.quarantine?.at, start)
      }))

    test("a state written over another reads back whole, field by field", () =>
      Effect.gen(function* () {
        const states = yield* AddressStates
        const sql = yield* SqlClient.SqlClient
        const pairs = fc.sample(statePairs, { numRuns: 60, seed: 20261128 })
        for (const [index, [before, after]] of pairs.entries()) {
          const address = `pair${index}@example.org` as NormalizedAddress
          const stored = (state: AddressState, updatedAt: number): StoredAddressState => ({
            address,
            domain: "example.org",
            status: statusOfState(state),
            state,
            updatedAt
          })
          const first = stored(before, start)
          const second = stored(after, start + HOUR)
          yield* sql.withTransaction(states.save([first], []))
          assert.deepStrictEqual(yield* states.get(address), Option.some(first))
          yield* sql.withTransaction(states.save([second], []))
          assert.deepStrictEqual(yield* states.get(address), Option.some(second), `pair ${index}`)
        }
      }))

    test("every field of a record is stored with its correlation", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const events = yield* BounceEvents
        const correlation: Correlation = {
          method: "verp",
          verified: true,
          value: "bounce+abc@example.com",
          ids: { instance: "prod", deliveryId: "D42", recipientId: "R7" }
        }
        const full = record({
          recipient: "rfc822; Jane@Example.org",
          originalRecipient: "rfc822; jane@example.org",
          willRetryUntil: "Tue, 7 Jan 2025 09:00:00 +0000",
          feedbackType: null,
          originalMessageId: "<m1@example.com>",
          originalEnvelopeId: "ENV1",
          correlation
        })
        const applied = yield* store.applyMail({ ...mail([full]), report: report([full], { arrivalDate: "x" }) })
        const [event] = yield* events.forMail(applied.key)
        assert.isDefined(event)
        const { key, recordIndex, receivedAt, ...fields } = event!
        assert.deepStrictEqual(key, applied.key)
        assert.strictEqual(recordIndex, 0)
        assert.strictEqual(receivedAt, start)
        assert.deepStrictEqual(fields as Record<string, unknown>, {
          mailKind: "bounce",
          dialect: "rfc3464",
          reportMessageId: "<dsn-1@mta.example.com>",
          reportFrom: "MAILER-DAEMON@mta.example.com",
          reportSubject: "Undelivered Mail Returned to Sender",
          reportDate: "Mon, 6 Jan 2025 09:00:00 +0000",
          kind: "bounce",
          recipient: "rfc822; Jane@Example.org",
          address: "jane@example.org",
          domain: "example.org",
          originalRecipient: "rfc822; jane@example.org",
          action: "failed",
          status: "5.1.1",
          replyCode: "550",
          diagnostic: full.diagnostic,
          diagnosticType: "smtp",
          remoteMta: "mx.example.org",
          reportingMta: "mta.example.com",
          lastAttemptDate: "Mon, 6 Jan 2025 09:00:00 +0000",
          willRetryUntil: "Tue, 7 Jan 2025 09:00:00 +0000",
          type: "hard",
          reason: "userunknown",
          campaignReason: "User unknown",
          rule: "dsn-status-5.1.1",
          feedbackType: null,
          originalMessageId: "<m1@example.com>",
          originalEnvelopeId: "ENV1",
          correlationMethod: "verp",
          correlationVerified: true,
          correlationValue: "bounce+abc@example.com",
          correlationInstance: "prod",
          correlationDeliveryId: "D42",
          correlationRecipientId: "R7",
          correlationSource: "signed",
          sentMessageId: null,
          countedAgainst: "address",
          suspect: false
        })
        const log = yield* DeliveryLog
        const entry = yield* log.get("signed:prod:D42:R7")
        assert.strictEqual(Option.getOrThrow(entry).state, "Failed")
      }))

    test("the ledger keeps every outcome, and the archive the bytes of mails that were not applied", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const ledger = yield* MailLedger
        const archive = yield* RawArchive
        const applied = hard("a@example.org")
        const notBounce: MailToApply = { ...mail([]), outcome: "not-a-bounce", report: report([]) }
        const failed: MailToApply = {
          key: keyFor("failed"),
          outcome: "failed",
          report: null,
          bytes: new Uint8Array([0, 255, 13, 10, 1]),
          detail: "no MIME boundary"
        }
        const foreign: MailToApply = { ...hard("b@example.org"), outcome: "foreign-instance" }
        const results = yield* store.applyMails([applied, notBounce, failed, foreign])
        assert.deepStrictEqual(
          results.map((r) => [r.outcome, r.duplicate]),
          [
            ["applied", false],
            ["not-a-bounce", false],
            ["failed", false],
            ["foreign-instance", false]
          ]
        )
        const failedEntry = Option.getOrThrow(yield* ledger.get(failed.key))
        assert.strictEqual(failedEntry.detail, "no MIME boundary")
        assert.isTrue(failedEntry.archived)
        assert.strictEqual(failedEntry.size, 5)
        assert.deepStrictEqual(Option.getOrThrow(yield* archive.get(failed.key.sha256)).bytes, failed.bytes)
        assert.isTrue(Option.isSome(yield* archive.get(notBounce.key.sha256)))
        assert.isTrue(Option.isNone(yield* archive.get(applied.key.sha256)))
        assert.isFalse(Option.getOrThrow(yield* ledger.get(applied.key)).archived)
        assert.deepStrictEqual(yield* ledger.outcomes(start), {
          applied: 1,
          "not-a-bounce": 1,
          failed: 1,
          "foreign-instance": 1
        })
        // a foreign instance's bounce does not touch our addresses
        assert.strictEqual(yield* statusOf("b@example.org"), "valid")
        assert.lengthOf(yield* ledger.list({ account: "bounces@example.com", outcome: "failed", limit: 10 }), 1)
        // the processor skips what is durable by unique id, before it retrieves the bytes
        assert.deepStrictEqual(
          [...(yield* ledger.seen(failed.key.account, [failed.key.uid, "never-seen", applied.key.uid]))].sort(),
          [
            [applied.key.uid, "applied"],
            [failed.key.uid, "failed"]
          ].sort()
        )
        assert.strictEqual((yield* ledger.seen("another-account", [failed.key.uid])).size, 0)
      }))

    test("the same key twice in one batch is applied once", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const bounce = soft("twice@example.org")
        const results = yield* store.applyMails([bounce, bounce])
        assert.deepStrictEqual(
          results.map((r) => r.duplicate),
          [false, true]
        )
        assert.strictEqual((yield* store.address("twice@example.org")).state.errorCount, 1)
      }))

    test("a failed transaction leaves no ledger entry and no effect, so the mail can be applied again", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const sql = yield* SqlClient.SqlClient
        const ledger = yield* MailLedger
        const bounce = hard("crash@example.org")
        const crashed = yield* sql
          .withTransaction(Effect.zipRight(store.applyMail(bounce), Effect.fail("crash after apply" as const)))
          .pipe(Effect.flip)
        assert.strictEqual(crashed, "crash after apply")
        assert.isTrue(Option.isNone(yield* ledger.get(bounce.key)))
        assert.strictEqual(yield* statusOf("crash@example.org"), "valid")
        const retried = yield* store.applyMail(bounce)
        assert.isFalse(retried.duplicate)
        assert.strictEqual(yield* statusOf("crash@example.org"), "quarantined")
      }))

    test("concurrent writers applying the same mail apply it exactly once", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const bounces = Array.from({ length: 20 }, (_, i) => soft(`c${i}@example.org`))
        const runs = yield* Effect.all(
          [store.applyMails(bounces), store.applyMails([...bounces].reverse()), store.applyMails(bounces)],
          { concurrency: backend.pooled ? 3 : 1 }
        )
        const applied = runs.flat().filter((r) => !r.duplicate)
        assert.lengthOf(applied, 20)
        for (let i = 0; i < 20; i++) assert.strictEqual((yield* store.address(`c${i}@example.org`)).state.errorCount, 1)
      }))

    test("soft errors count once per 24 hours and quarantine at the fifth (TestClock)", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMail(soft("full@example.org"))
        yield* TestClock.adjust("23 hours")
        yield* store.applyMail(soft("full@example.org"))
        assert.strictEqual((yield* store.address("full@example.org")).state.errorCount, 1)
        for (let day = 1; day <= 3; day++) {
          yield* TestClock.adjust("1 day")
          yield* store.applyMail(soft("full@example.org"))
        }
        const four = yield* store.address("full@example.org")
        assert.strictEqual(four.state.errorCount, 4)
        assert.strictEqual(four.status, "with-errors")
        yield* TestClock.adjust("1 day")
        const fifth = yield* store.applyMail(soft("full@example.org"))
        assert.deepStrictEqual(
          fifth.transitions.map((t) => [t.from, t.to, t.errorCount, t.reason]),
          [["with-errors", "quarantined", 5, "mailboxfull"]]
        )
        const history = yield* (yield* AddressStates).history("full@example.org" as never)
        assert.deepStrictEqual(
          history.map((h) => h.errorCount),
          [1, 2, 3, 4, 5]
        )
        assert.isTrue(history.every((h) => h.who === "rebound" && h.why.includes("rule")))
      }))

    test("the counter resets after 10 days without a counted error, by the daily job (TestClock)", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMail(soft("quiet@example.org", "suspend"))
        const daily = yield* forkDaily
        yield* advanceDaily(9)
        assert.strictEqual(yield* statusOf("quiet@example.org"), "with-errors")
        yield* advanceDaily(1)
        assert.strictEqual(yield* statusOf("quiet@example.org"), "valid")
        const history = yield* (yield* AddressStates).history("quiet@example.org" as never)
        assert.strictEqual(history.at(-1)?.cause, "counter-expired")
        assert.strictEqual(history.at(-1)?.at, start + 10 * DAY)
        yield* Fiber.interrupt(daily)
      }))

    test("a mailboxfull quarantine is released after 30 days by the daily job, a userunknown one is not", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const daily = yield* forkDaily
        for (let day = 0; day < 5; day++) {
          yield* store.applyMails([soft("box@example.org"), soft("gone@example.org", "suspend")])
          yield* TestClock.adjust("1 day")
        }
        yield* store.applyMail(hard("unknown@example.org"))
        assert.strictEqual(yield* statusOf("box@example.org"), "quarantined")
        assert.strictEqual(yield* statusOf("gone@example.org"), "quarantined")
        yield* advanceDaily(28)
        assert.strictEqual(yield* statusOf("box@example.org"), "quarantined")
        yield* advanceDaily(2)
        assert.strictEqual(yield* statusOf("box@example.org"), "valid")
        assert.strictEqual(yield* statusOf("gone@example.org"), "quarantined")
        assert.strictEqual(yield* statusOf("unknown@example.org"), "quarantined")
        const history = yield* (yield* AddressStates).history("box@example.org" as never)
        assert.strictEqual(history.at(-1)?.cause, "timed-release")
        yield* Fiber.interrupt(daily)
      }))

    test("a complaint denylists; bounces then leave the status alone; an allowlisted address stays", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const complaint = (recipient: string) =>
          mail([
            record({
              kind: "complaint",
              recipient,
              type: "ignored",
              reason: "feedback",
              feedbackType: "abuse",
              status: null,
              diagnostic: null
            })
          ])
        yield* store.applyMail(complaint("angry@example.org"))
        assert.strictEqual(yield* statusOf("angry@example.org"), "denylisted")
        yield* store.applyMail(hard("angry@example.org"))
        yield* TestClock.adjust("40 days")
        yield* store.maintenance
        assert.strictEqual(yield* statusOf("angry@example.org"), "denylisted")

        yield* store.operate("allow", "seed@example.org", operator)
        yield* store.applyMails([complaint("seed@example.org"), hard("seed@example.org")])
        assert.strictEqual(yield* statusOf("seed@example.org"), "allowlisted")
        const stats = yield* (yield* DomainStats).totals({ sinceHour: 0 })
        assert.strictEqual(stats.find((d) => d.domain === "example.org")?.counters["complaint"], 2)
      }))

    test("reasons on our side count against the receiving domain, not the address", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const events = yield* BounceEvents
        const blocked = hard("ok@example.net", {
          reason: "blocked",
          status: "5.7.1",
          diagnostic: "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked using zen.spamhaus.org"
        })
        const result = yield* store.applyMail(blocked)
        assert.lengthOf(result.transitions, 0)
        assert.strictEqual(yield* statusOf("ok@example.net"), "valid")
        assert.strictEqual((yield* events.forMail(blocked.key))[0]?.countedAgainst, "domain")
        const stats = yield* (yield* DomainStats).totals({ sinceHour: 0, domains: ["example.net"] })
        assert.deepStrictEqual(stats, [{ domain: "example.net", counters: { "ours:blocked": 1 } }])
      }))

    test("a delivery notification resets the counter", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMail(soft("back@example.org"))
        assert.strictEqual(yield* statusOf("back@example.org"), "with-errors")
        yield* TestClock.adjust("1 hour")
        const delivered = mail([
          record({
            kind: "delivered",
            recipient: "back@example.org",
            action: "delivered",
            status: "2.0.0",
            type: "ignored",
            reason: "delivered",
            diagnostic: "250 2.0.0 OK"
          })
        ])
        const result = yield* store.applyMail(delivered)
        assert.strictEqual(result.transitions[0]?.cause, "delivered")
        assert.strictEqual(yield* statusOf("back@example.org"), "valid")
      }))

    test("sent messages: correlation by Message-ID, the marked recent-recipient guess, and the delivery log", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const events = yield* BounceEvents
        const log = yield* DeliveryLog
        const registered = yield* store.registerSent([
          { messageId: "<m-1@sender.example>", deliveryId: "D1", recipient: "Reg@Example.org" },
          { messageId: "m-2@sender.example", deliveryId: "D1", recipient: "guess@example.org" },
          { messageId: "m-3@sender.example", deliveryId: "D0", recipient: "old@example.org", sentAt: start - 8 * DAY }
        ])
        assert.strictEqual(registered, 3)
        assert.strictEqual(Option.getOrThrow(yield* log.get("m-1@sender.example")).state, "Sent")
        yield* TestClock.adjust("1 hour")
        const byId = hard("reg@example.org", { originalMessageId: "< m-1@sender.example >" })
        const guessed = soft("guess@example.org")
        const tooOld = soft("old@example.org")
        yield* store.applyMails([byId, guessed, tooOld])
        const [first] = yield* events.forMail(byId.key)
        assert.strictEqual(first?.correlationSource, "registered")
        assert.strictEqual(first?.sentMessageId, "m-1@sender.example")
        assert.strictEqual(first?.correlationDeliveryId, "D1")
        const [second] = yield* events.forMail(guessed.key)
        assert.strictEqual(second?.correlationSource, "recent-recipient")
        assert.strictEqual(second?.sentMessageId, "m-2@sender.example")
        assert.strictEqual((yield* events.forMail(tooOld.key))[0]?.correlationSource, "none")
        assert.strictEqual(Option.getOrThrow(yield* log.get("m-1@sender.example")).state, "Failed")
        assert.strictEqual(Option.getOrThrow(yield* log.get("m-2@sender.example")).state, "Failed")
        // a late delay notice does not hide the failure
        const late = mail([
          record({
            kind: "delay",
            recipient: "reg@example.org",
            action: "delayed",
            type: "soft",
            reason: "expired",
            originalMessageId: "m-1@sender.example"
          })
        ])
        yield* store.applyMail(late)
        const entry = Option.getOrThrow(yield* log.get("m-1@sender.example"))
        assert.strictEqual(entry.state, "Failed")
        assert.strictEqual(entry.reason, "userunknown")
        assert.deepStrictEqual(
          (yield* log.forDelivery("D1")).map((e) => [e.messageKey, e.state]),
          [
            ["m-1@sender.example", "Failed"],
            ["m-2@sender.example", "Failed"]
          ]
        )
        const stats = yield* (yield* DomainStats).totals({ sinceHour: 0, domains: ["example.org"] })
        assert.strictEqual(stats[0]?.counters["sent"], 3)
      }))

    test("a signed record whose message was registered is logged under its Message-ID", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const log = yield* DeliveryLog
        yield* store.registerSent([
          { messageId: "<signed-1@sender.example>", deliveryId: "D5", recipient: "s@example.org" }
        ])
        const signed = hard("s@example.org", {
          originalMessageId: "<signed-1@sender.example>",
          correlation: {
            method: "message-id",
            verified: true,
            value: "signed-1@sender.example",
            ids: { instance: "prod", deliveryId: "D5", recipientId: "R1" }
          }
        })
        yield* store.applyMail(signed)
        const [event] = yield* (yield* BounceEvents).forMail(signed.key)
        assert.deepStrictEqual([event?.correlationSource, event?.sentMessageId], ["signed", "signed-1@sender.example"])
        assert.strictEqual(Option.getOrThrow(yield* log.get("signed-1@sender.example")).state, "Failed")
        assert.isTrue(Option.isNone(yield* log.get("signed:prod:D5:R1")))
      }))

    test("the outage guard holds a burst's hard quarantines as suspect until an operator releases them", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.registerSent(
          Array.from({ length: 300 }, (_, i) => ({
            messageId: `s${i}@sender.example`,
            deliveryId: "D9",
            recipient: `u${i}@big.example`
          }))
        )
        yield* TestClock.adjust("1 hour")
        const bounces = Array.from({ length: 100 }, (_, i) => hard(`u${i}@big.example`))
        const results = yield* store.applyMails(bounces)
        const suspects = results.flatMap((r) => r.transitions).filter((t) => t.suspect)
        // 30% of 300 sends: the 91st hard bounce and the ones after it are held
        assert.lengthOf(suspects, 10)
        const listed = yield* (yield* AddressStates).list({
          status: "quarantined",
          domain: "big.example",
          suspect: true,
          limit: 1000
        })
        assert.lengthOf(listed, 10)
        assert.isFalse((yield* store.address("u0@big.example")).state.quarantine!.suspect)
        // an unrelated domain is not affected
        yield* store.applyMail(hard("x@small.example"))
        assert.isFalse((yield* store.address("x@small.example")).state.quarantine!.suspect)

        const released = yield* store.bulk("release", { domain: "big.example", suspectOnly: true }, operator)
        assert.strictEqual(released, 10)
        assert.strictEqual(yield* statusOf("u95@big.example"), "valid")
        assert.strictEqual(yield* statusOf("u5@big.example"), "quarantined")
        const history = yield* (yield* AddressStates).history("u95@big.example" as never)
        assert.deepStrictEqual(
          history.map((h) => [h.to, h.cause, h.suspect, h.who, h.why]),
          [
            ["quarantined", "hard-bounce", true, "rebound", "hard userunknown 5.1.1 rule dsn-status-5.1.1"],
            ["valid", "release", false, operator.who, operator.why]
          ]
        )
      }))

    test("the outage guard's hourly count marks a burst without recorded sends; confirm makes it ordinary", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const bounces = Array.from({ length: 1001 }, (_, i) => hard(`v${i}@burst.example`))
        yield* store.applyMails(bounces)
        assert.isFalse((yield* store.address("v998@burst.example")).state.quarantine!.suspect)
        assert.isTrue((yield* store.address("v999@burst.example")).state.quarantine!.suspect)
        const confirmed = yield* store.bulk("confirm", { domain: "burst.example" }, operator)
        assert.strictEqual(confirmed, 2)
        assert.isFalse((yield* store.address("v1000@burst.example")).state.quarantine!.suspect)
        assert.strictEqual(yield* statusOf("v1000@burst.example"), "quarantined")
      }))

    test("bulk release by domain, reason and time range leaves listed and other addresses alone", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMails([hard("a@one.example"), hard("b@one.example"), hard("c@two.example")])
        yield* TestClock.adjust("2 days")
        yield* store.applyMails([
          hard("d@one.example"),
          hard("e@one.example", { reason: "hostunknown", campaignReason: "Invalid domain" })
        ])
        yield* store.operate("deny", "b@one.example", operator)
        const released = yield* store.bulk(
          "release",
          { domain: "one.example", reason: "userunknown", from: start, to: start + DAY },
          operator
        )
        assert.strictEqual(released, 1)
        assert.strictEqual(yield* statusOf("a@one.example"), "valid")
        assert.strictEqual(yield* statusOf("b@one.example"), "denylisted")
        assert.strictEqual(yield* statusOf("c@two.example"), "quarantined")
        assert.strictEqual(yield* statusOf("d@one.example"), "quarantined")
        assert.strictEqual(yield* statusOf("e@one.example"), "quarantined")
        assert.strictEqual(yield* store.bulk("release", { reason: "hostunknown" }, operator), 1)
        assert.strictEqual(yield* statusOf("e@one.example"), "valid")
      }))

    test("address lists and counts filter by status, domain, reason, suspect and quarantine time", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const states = yield* AddressStates
        yield* store.applyMails([hard("a@one.example"), hard("b@one.example"), soft("w@one.example")])
        yield* TestClock.adjust("2 days")
        yield* store.applyMails([
          hard("c@one.example"),
          hard("d@two.example", { reason: "hostunknown", campaignReason: "Invalid domain" })
        ])
        yield* store.operate("deny", "b@one.example", operator)
        const listed = (filter: Omit<AddressListFilter, "limit">) =>
          Effect.map(states.list({ ...filter, limit: 100 }), (rows) => rows.map((row) => row.address))
        assert.deepStrictEqual(yield* listed({ status: "quarantined" }), [
          "a@one.example",
          "c@one.example",
          "d@two.example"
        ])
        assert.deepStrictEqual(yield* listed({ status: "quarantined", from: start + DAY }), [
          "c@one.example",
          "d@two.example"
        ])
        assert.deepStrictEqual(yield* listed({ to: start + DAY }), ["a@one.example", "b@one.example"])
        assert.deepStrictEqual(yield* listed({ reason: "hostunknown" }), ["d@two.example"])
        assert.deepStrictEqual(yield* listed({ domain: "one.example", status: "with-errors" }), ["w@one.example"])
        assert.deepStrictEqual(yield* listed({ suspect: true }), [])
        // counts what a bulk operation would select: quarantined, on no list
        assert.strictEqual(yield* states.countQuarantined({}), 3)
        assert.strictEqual(yield* states.countQuarantined({ domain: "one.example" }), 2)
        assert.strictEqual(yield* states.countQuarantined({ domain: "one.example", to: start + DAY }), 1)
        assert.strictEqual(yield* states.countQuarantined({ reason: "hostunknown", from: start + 3 * DAY }), 0)
        assert.strictEqual(yield* states.countQuarantined({ suspectOnly: true }), 0)
      }))

    test("report queries: bounces per type and reason, domain counters over hours, deliveries by state", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const events = yield* BounceEvents
        const log = yield* DeliveryLog
        const stats = yield* DomainStats
        yield* store.registerSent([
          { messageId: "r1@sender.example", deliveryId: "D1", recipient: "r1@example.org" },
          { messageId: "r2@sender.example", deliveryId: "D1", recipient: "r2@example.org" },
          { messageId: "r3@sender.example", deliveryId: "D1", recipient: "r3@example.org" },
          { messageId: "r4@sender.example", deliveryId: "D2", recipient: "r4@example.net" }
        ])
        yield* store.applyMails([
          hard("r1@example.org", { originalMessageId: "r1@sender.example" }),
          mail([
            record({
              recipient: "r2@example.org",
              type: "soft",
              reason: "mailboxfull",
              status: "4.2.2",
              originalMessageId: "r2@sender.example"
            })
          ]),
          mail([record({ recipient: "x@example.org", type: "ignored", reason: "onhold", status: null })])
        ])
        yield* TestClock.adjust("3 hours")
        yield* store.applyMail(hard("r4@example.net", { originalMessageId: "r4@sender.example" }))

        const counts = (from: number, to: number) =>
          Effect.map(events.reasonCounts({ from, to }), (rows) => rows.map((r) => [r.reason, r.type, r.count]))
        assert.deepStrictEqual(yield* counts(start, start + DAY), [
          ["mailboxfull", "soft", 1],
          ["onhold", "ignored", 1],
          ["userunknown", "hard", 2]
        ])
        assert.deepStrictEqual(yield* counts(start, start + HOUR), [
          ["mailboxfull", "soft", 1],
          ["onhold", "ignored", 1],
          ["userunknown", "hard", 1]
        ])
        assert.deepStrictEqual(yield* counts(start + HOUR, start + DAY), [["userunknown", "hard", 1]])
        const byCorrelation = (from: number, to: number) =>
          Effect.map(events.correlationCounts({ from, to }), (rows) =>
            rows.map((r) => [r.source, r.countedAgainst, r.count])
          )
        // three bounces of registered messages changed their addresses; the ignored one, of no message, nothing
        assert.deepStrictEqual(yield* byCorrelation(start, start + DAY), [
          ["none", "none", 1],
          ["registered", "address", 3]
        ])
        assert.deepStrictEqual(yield* byCorrelation(start + HOUR, start + DAY), [["registered", "address", 1]])

        const hour = start / HOUR
        const byDomain = (untilHour: number) =>
          Effect.map(stats.totals({ sinceHour: hour, untilHour }), (rows) =>
            Object.fromEntries(rows.map((row) => [row.domain, row.counters]))
          )
        assert.deepStrictEqual(yield* byDomain(hour + 1), {
          "example.org": { sent: 3, hard: 1, soft: 1 },
          "example.net": { sent: 1 }
        })
        assert.deepStrictEqual((yield* byDomain(hour + 4))["example.net"], { sent: 1, hard: 1 })

        assert.deepStrictEqual(yield* log.totals({ from: start, to: start + DAY, limit: 10 }), [
          {
            deliveryId: "D2",
            messages: 1,
            hard: 1,
            soft: 0,
            delayed: 0,
            complaints: 0,
            lastUpdate: start + 3 * HOUR
          },
          { deliveryId: "D1", messages: 3, hard: 1, soft: 1, delayed: 0, complaints: 0, lastUpdate: start }
        ])
        // a delivery counts whole when one of its messages changed in the range
        assert.deepStrictEqual(
          (yield* log.totals({ from: start + HOUR, to: start + DAY, limit: 10 })).map((d) => d.deliveryId),
          ["D2"]
        )
        assert.lengthOf(yield* log.totals({ from: start, to: start + DAY, limit: 1 }), 1)
      }))

    test("operators allow, deny and release with who, when and why; bad addresses are refused", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const denied = yield* store.operate("deny", "Spam.Trap@Example.COM", operator)
        assert.deepStrictEqual(
          denied.map((t) => [t.address, t.from, t.to, t.who, t.why, t.at]),
          [["spam.trap@example.com", "valid", "denylisted", operator.who, operator.why, start]]
        )
        yield* TestClock.adjust("1 hour")
        yield* store.operate("release", "spam.trap@example.com", { who: "lead@example.com", why: "false positive" })
        assert.strictEqual(yield* statusOf("spam.trap@example.com"), "valid")
        const history = yield* (yield* AddressStates).history("spam.trap@example.com" as never)
        assert.deepStrictEqual(
          history.map((h) => [h.cause, h.who, h.why, h.at]),
          [
            ["deny", operator.who, operator.why, start],
            ["release", "lead@example.com", "false positive", start + HOUR]
          ]
        )
        const error = yield* Effect.flip(store.operate("deny", "not an address", operator))
        assert.strictEqual(error.reason, "InvalidInput")
        const counts = yield* (yield* AddressStates).counts
        assert.deepStrictEqual(counts, { valid: 1 })
      }))

    test("the qualification log counts each normalised text and keeps the review", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const qualification = yield* QualificationLog
        const unknown = (recipient: string, queue: string) =>
          record({
            recipient,
            type: "soft",
            reason: "undefined",
            status: null,
            replyCode: "554",
            diagnostic: `554 Message ${queue} rejected for ${recipient} at mx7.example.org`,
            campaignReason: "Not defined",
            rule: "fallback"
          })
        yield* store.applyMails([
          { ...mail([unknown("a@example.org", "4Yk9Lm2Qz7")]), outcome: "unqualified" },
          { ...mail([unknown("b@example.org", "8Hq2Wx5Rt1")]), outcome: "unqualified" },
          hard("c@example.org")
        ])
        const toQualify = yield* qualification.list({ review: "to-qualify", limit: 10 })
        assert.lengthOf(toQualify, 1)
        assert.strictEqual(toQualify[0]?.seen, 2)
        assert.strictEqual(toQualify[0]?.text, "554 Message <id> rejected for <address> at <host>")
        assert.include(toQualify[0]!.sample, "a@example.org")
        // an unqualified mail's records are stored but do not change the address
        assert.strictEqual(yield* statusOf("a@example.org"), "valid")
        assert.isTrue(yield* store.reviewText(toQualify[0]!.textKey, "ignore", operator))
        const reviewed = Option.getOrThrow(yield* qualification.get(toQualify[0]!.textKey))
        assert.deepStrictEqual(
          [reviewed.review, reviewed.reviewedBy, reviewed.reviewNote],
          ["ignore", operator.who, operator.why]
        )
        assert.isFalse(yield* store.reviewText("no-such-key", "keep", operator))
        assert.lengthOf(yield* qualification.list({ review: "keep", limit: 10 }), 1)
      }))

    test("maintenance purges the archive, sent messages and statistics past their retention", () =>
      Effect.gen(function* () {
        const store = yield* Store
        const archive = yield* RawArchive
        const failed: MailToApply = {
          key: keyFor("old"),
          outcome: "failed",
          report: null,
          bytes: new Uint8Array([1, 2, 3])
        }
        yield* store.applyMail(failed)
        yield* store.registerSent([{ messageId: "old@sender.example", deliveryId: "D", recipient: "r@example.org" }])
        yield* TestClock.adjust("89 days")
        assert.strictEqual((yield* store.maintenance).archivePurged, 0)
        yield* TestClock.adjust("2 days")
        const report = yield* store.maintenance
        assert.strictEqual(report.archivePurged, 1)
        assert.strictEqual(report.sentPurged, 1)
        assert.isTrue(Option.isNone(yield* archive.get(failed.key.sha256)))
      }))

    test("addresses are normalised: case of the domain, IDNA, and the local-part setting", () =>
      Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMail(hard("Anna@Bücher.Example"))
        assert.strictEqual(yield* statusOf("anna@xn--bcher-kva.example"), "quarantined")
        assert.strictEqual(yield* statusOf("ANNA@bücher.example"), "quarantined")
        assert.strictEqual((yield* store.address("anna@bücher.example")).address, "anna@xn--bcher-kva.example")
        const events = yield* (yield* BounceEvents).forAddress("anna@xn--bcher-kva.example" as never, 10)
        assert.lengthOf(events, 1)
      }))

    if (backend.reopen !== undefined) {
      const reopen = backend.reopen
      it.effect("migrations run once; a reopened store keeps its data", () =>
        Effect.gen(function* () {
          yield* Effect.gen(function* () {
            yield* (yield* Store).applyMail(hard("kept@example.org"))
          }).pipe(Effect.provide(backend.layer()))
          yield* Effect.gen(function* () {
            assert.strictEqual(yield* statusOf("kept@example.org"), "quarantined")
            const sql = yield* SqlClient.SqlClient
            const rows = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM rebound_migrations`
            assert.strictEqual(Number(rows[0]?.n), (yield* migrations).length)
          }).pipe(Effect.provide(reopen()))
        })
      )
    }
  })
}
