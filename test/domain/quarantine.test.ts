import { assert, describe, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as Schema from "effect/Schema"
import {
  type AddressState,
  defaultQuarantinePolicy as policy,
  initialState,
  isSendable,
  outageSuspected,
  QuarantineEvent,
  QuarantinePolicy,
  sameState,
  statusOf,
  transition,
  type Transition
} from "../../src/domain/quarantine.js"
import type { Reason } from "../../src/domain/report.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR
const start = Date.UTC(2025, 0, 6)
const operator = { who: "ops@example.com", why: "ticket 42" }

const hard = (reason: Reason = "userunknown", suspect = false) =>
  QuarantineEvent.Bounce({ type: "hard", reason, suspect, why: "test" })
const soft = (reason: Reason = "mailboxfull") =>
  QuarantineEvent.Bounce({ type: "soft", reason, suspect: false, why: "test" })

type Timed = readonly [QuarantineEvent, number]

const run = (events: ReadonlyArray<Timed>, from: AddressState = initialState, rules = policy) => {
  let state = from
  const history: Array<Transition> = []
  for (const [event, now] of events) {
    const result = transition(state, event, rules, now)
    state = result.state
    history.push(...result.transitions)
  }
  return { state, history }
}

describe("quarantine rules", () => {
  it("a hard bounce quarantines at once and records why", () => {
    const { state, history } = run([[hard(), start]])
    assert.strictEqual(statusOf(state), "quarantined")
    assert.strictEqual(state.quarantine?.cause, "hard-bounce")
    assert.strictEqual(state.quarantine?.reason, "userunknown")
    assert.deepStrictEqual(
      history.map((t) => [t.from, t.to, t.cause, t.who]),
      [["valid", "quarantined", "hard-bounce", "rebound"]]
    )
    assert.isFalse(isSendable(state))
  })

  it("soft bounces count once per 24 hours and quarantine at the fifth counted error", () => {
    const sameDay = run([
      [soft(), start],
      [soft(), start + 2 * HOUR],
      [soft(), start + 23 * HOUR]
    ])
    assert.strictEqual(sameDay.state.errorCount, 1)
    assert.strictEqual(statusOf(sameDay.state), "with-errors")

    const fourDays = run([0, 1, 2, 3].map((d): Timed => [soft(), start + d * DAY]))
    assert.strictEqual(fourDays.state.errorCount, 4)
    assert.strictEqual(statusOf(fourDays.state), "with-errors")
    const fifth = transition(fourDays.state, soft(), policy, start + 4 * DAY).state
    assert.strictEqual(statusOf(fifth), "quarantined")
    assert.strictEqual(fifth.quarantine?.cause, "error-threshold")
    assert.strictEqual(fifth.quarantine?.at, start + 4 * DAY)
  })

  it("the counter starts again after 10 days without a counted error", () => {
    const { state } = run([
      [soft(), start],
      [soft(), start + DAY],
      [soft(), start + 12 * DAY]
    ])
    assert.strictEqual(state.errorCount, 1)
    const expired = transition(state, QuarantineEvent.Expire(), policy, start + 22 * DAY)
    assert.strictEqual(statusOf(expired.state), "valid")
    assert.strictEqual(expired.transitions[0]?.cause, "counter-expired")
    assert.strictEqual(transition(state, QuarantineEvent.Expire(), policy, start + 21 * DAY).transitions.length, 0)
  })

  it("a successful delivery resets the counter but not a quarantine", () => {
    const withErrors = run([[soft(), start]]).state
    assert.strictEqual(
      statusOf(transition(withErrors, QuarantineEvent.Delivered({ why: "250" }), policy, start + HOUR).state),
      "valid"
    )
    const quarantined = run([[hard(), start]]).state
    const after = transition(quarantined, QuarantineEvent.Delivered({ why: "250" }), policy, start + HOUR)
    assert.strictEqual(statusOf(after.state), "quarantined")
    assert.strictEqual(after.transitions.length, 0)
  })

  it("a mailboxfull quarantine is released by the daily job after 30 days, a userunknown one is not", () => {
    const full = run([0, 1, 2, 3, 4].map((d): Timed => [soft("mailboxfull"), start + d * DAY])).state
    assert.strictEqual(full.quarantine?.reason, "mailboxfull")
    const at = full.quarantine!.at
    assert.strictEqual(transition(full, QuarantineEvent.Expire(), policy, at + 30 * DAY - 1).transitions.length, 0)
    const released = transition(full, QuarantineEvent.Expire(), policy, at + 30 * DAY)
    assert.strictEqual(statusOf(released.state), "valid")
    assert.strictEqual(released.state.errorCount, 0)
    assert.strictEqual(released.transitions[0]?.cause, "timed-release")

    const unknown = run([[hard("userunknown"), start]]).state
    assert.strictEqual(
      statusOf(transition(unknown, QuarantineEvent.Expire(), policy, start + 400 * DAY).state),
      "quarantined"
    )
  })

  it("a complaint denylists, except an allowlisted address", () => {
    const complained = transition(initialState, QuarantineEvent.Complaint({ why: "abuse" }), policy, start)
    assert.strictEqual(statusOf(complained.state), "denylisted")
    const allowed = transition(initialState, QuarantineEvent.Allow({ actor: operator }), policy, start).state
    const still = transition(allowed, QuarantineEvent.Complaint({ why: "abuse" }), policy, start + 1)
    assert.strictEqual(statusOf(still.state), "allowlisted")
    assert.strictEqual(still.transitions.length, 0)
  })

  it("reasons that are our problem do not count against the address", () => {
    for (const reason of ["blocked", "spamdetected", "toomanyconn", "mesgtoobig"] as const) {
      const result = transition(initialState, hard(reason), policy, start)
      assert.strictEqual(statusOf(result.state), "valid", reason)
      assert.strictEqual(result.transitions.length, 0)
    }
    const custom = Schema.decodeUnknownSync(QuarantinePolicy)({ domainReasons: [] })
    assert.strictEqual(statusOf(transition(initialState, hard("blocked"), custom, start).state), "quarantined")
  })

  it("ignored bounces change nothing", () => {
    const result = transition(
      initialState,
      QuarantineEvent.Bounce({ type: "ignored", reason: "vacation", suspect: false, why: "" }),
      policy,
      start
    )
    assert.strictEqual(result.state, initialState)
  })

  it("a suspect quarantine is held until confirmed; a later real hard bounce confirms it", () => {
    const held = transition(initialState, hard("userunknown", true), policy, start).state
    assert.isTrue(held.quarantine?.suspect)
    assert.strictEqual(statusOf(held), "quarantined")
    const confirmed = transition(held, QuarantineEvent.Confirm({ actor: operator }), policy, start + HOUR)
    assert.isFalse(confirmed.state.quarantine?.suspect)
    assert.strictEqual(confirmed.transitions[0]?.who, operator.who)
    assert.isFalse(transition(held, hard("userunknown", false), policy, start + 2 * DAY).state.quarantine?.suspect)
    const released = transition(held, QuarantineEvent.Release({ actor: operator }), policy, start + HOUR)
    assert.strictEqual(statusOf(released.state), "valid")
    assert.strictEqual(released.transitions[0]?.why, "ticket 42")
  })

  it("operators allow, deny and release", () => {
    const denied = transition(initialState, QuarantineEvent.Deny({ actor: operator }), policy, start)
    assert.deepStrictEqual(
      denied.transitions.map((t) => [t.from, t.to, t.cause, t.who, t.why]),
      [["valid", "denylisted", "deny", "ops@example.com", "ticket 42"]]
    )
    const released = transition(denied.state, QuarantineEvent.Release({ actor: operator }), policy, start + 1)
    assert.strictEqual(statusOf(released.state), "valid")
  })

  it("the outage guard compares hard bounces with recent sends, or counts them within an hour", () => {
    assert.isFalse(outageSuspected({ sends: 1000, hardBounces: 50, hardBouncesLastHour: 50 }, policy))
    assert.isTrue(outageSuspected({ sends: 1000, hardBounces: 301, hardBouncesLastHour: 301 }, policy))
    assert.isFalse(outageSuspected({ sends: 10, hardBounces: 10, hardBouncesLastHour: 10 }, policy))
    assert.isTrue(outageSuspected({ sends: 0, hardBounces: 1000, hardBouncesLastHour: 1000 }, policy))
    const off = Schema.decodeUnknownSync(QuarantinePolicy)({ outageGuard: { enabled: false } })
    assert.isFalse(outageSuspected({ sends: 0, hardBounces: 5000, hardBouncesLastHour: 5000 }, off))
  })

  it("the policy decodes partial settings over the defaults and rejects nonsense", () => {
    const custom = Schema.decodeUnknownSync(QuarantinePolicy)({ errorThreshold: 3, outageGuard: { minSends: 10 } })
    assert.strictEqual(custom.errorThreshold, 3)
    assert.strictEqual(custom.counterResetDays, 10)
    assert.strictEqual(custom.outageGuard.minSends, 10)
    assert.strictEqual(custom.outageGuard.hardBounceShare, 0.3)
    assert.throws(() => Schema.decodeUnknownSync(QuarantinePolicy)({ errorThreshold: 0 }))
  })
})

const reasons: ReadonlyArray<Reason> = ["userunknown", "mailboxfull", "hostunknown", "suspend", "blocked", "undefined"]
const bounceEvent = fc
  .record({
    type: fc.constantFrom("hard" as const, "soft" as const, "ignored" as const),
    reason: fc.constantFrom(...reasons),
    suspect: fc.boolean()
  })
  .map(({ reason, suspect, type }) => QuarantineEvent.Bounce({ type, reason, suspect, why: "prop" }))
const reportEvent = fc.oneof(
  { weight: 8, arbitrary: bounceEvent },
  { weight: 1, arbitrary: fc.constant(QuarantineEvent.Complaint({ why: "prop" })) }
)
const systemEvent = fc.oneof(
  { weight: 6, arbitrary: reportEvent },
  { weight: 1, arbitrary: fc.constant(QuarantineEvent.Delivered({ why: "prop" })) },
  { weight: 1, arbitrary: fc.constant(QuarantineEvent.Expire()) }
)
/** events over several weeks, in time order */
const history = (events: fc.Arbitrary<QuarantineEvent>) =>
  fc
    .array(fc.tuple(events, fc.integer({ min: 0, max: 60 * DAY })), { maxLength: 40 })
    .map((pairs) => [...pairs].sort((a, b) => a[1] - b[1]).map(([e, offset]): Timed => [e, start + offset]))
/** a prior state, reached by earlier days */
const priorState = history(reportEvent).map((events) => run(events).state)
/** one day's events, each with a key that gives another order */
const dayEvents = fc.array(fc.tuple(reportEvent, fc.integer({ min: 0, max: DAY - 1 }), fc.nat()), {
  minLength: 1,
  maxLength: 12
})

describe("quarantine properties", () => {
  it.prop(
    "the same day's events in another order give the same state",
    [priorState, dayEvents, fc.integer({ min: 62, max: 80 })],
    ([prior, events, day]) => {
      const timed = events.map(([event, offset]): Timed => [event, start + day * DAY + offset])
      const shuffled = events
        .map(([event, offset, key]) => ({ key, timed: [event, start + day * DAY + offset] as Timed }))
        .sort((x, y) => x.key - y.key)
        .map(({ timed }) => timed)
      const a = run(timed, prior).state
      const b = run(shuffled, prior).state
      assert.isTrue(sameState(a, b), JSON.stringify({ a, b }))
      // the same events, in another order but with the times still rising
      const times = timed.map(([, at]) => at).sort((x, y) => x - y)
      const reordered = shuffled.map(([event], i): Timed => [event, times[i]!])
      const sorted = timed.map(([event], i): Timed => [event, times[i]!])
      assert.strictEqual(statusOf(run(reordered, prior).state), statusOf(run(sorted, prior).state))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "replaying a report's event changes nothing",
    [history(reportEvent), fc.nat()],
    ([events, pick]) => {
      if (events.length === 0) return
      const once = run(events).state
      const replayed = run([...events, events[pick % events.length]!]).state
      assert.isTrue(sameState(once, replayed), JSON.stringify({ once, replayed }))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "denylisted and allowlisted addresses never leave their list by themselves",
    [history(systemEvent), fc.constantFrom("deny" as const, "allow" as const)],
    ([events, list]) => {
      const listed = transition(
        initialState,
        list === "deny" ? QuarantineEvent.Deny({ actor: operator }) : QuarantineEvent.Allow({ actor: operator }),
        policy,
        start - 1
      ).state
      const expected = list === "deny" ? "denylisted" : "allowlisted"
      let state = listed
      for (const [event, now] of events) {
        state = transition(state, event, policy, now).state
        assert.strictEqual(statusOf(state), expected)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "the error count never reaches the threshold without a quarantine",
    [history(systemEvent)],
    ([events]) => {
      let state = initialState
      for (const [event, now] of events) {
        state = transition(state, event, policy, now).state
        if (state.errorCount >= policy.errorThreshold) assert.isNotNull(state.quarantine)
        assert.notStrictEqual(statusOf(state) === "with-errors" && state.errorCount >= policy.errorThreshold, true)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "every change is recorded in the history, and the history chains",
    [history(systemEvent)],
    ([events]) => {
      let state = initialState
      let status = statusOf(state)
      for (const [event, now] of events) {
        const result = transition(state, event, policy, now)
        const changed = !sameState(state, result.state)
        assert.strictEqual(result.transitions.length, changed ? 1 : 0)
        for (const t of result.transitions) {
          assert.strictEqual(t.from, status)
          assert.strictEqual(t.to, statusOf(result.state))
          assert.strictEqual(t.at, now)
          assert.strictEqual(t.errorCount, result.state.errorCount)
          status = t.to
        }
        state = result.state
      }
      assert.strictEqual(status, statusOf(state))
    },
    { fastCheck: { numRuns: 300 } }
  )
})
