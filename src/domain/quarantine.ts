import * as Data from "effect/Data"
import * as Schema from "effect/Schema"
import { BounceType, Reason } from "./report.js"

const HOUR = 3_600_000
const DAY = 86_400_000

/** What a sender may do with an address (see docs/quarantine.md for the Adobe Campaign equivalents). */
export const AddressStatus = Schema.Literal("valid", "with-errors", "quarantined", "denylisted", "allowlisted")
export type AddressStatus = typeof AddressStatus.Type

/** An operator's list decision; it wins over anything the bounces say and never changes by itself. */
export const AddressList = Schema.Literal("deny", "allow")
export type AddressList = typeof AddressList.Type

/** What put an address in quarantine. */
export const QuarantineCause = Schema.Literal("hard-bounce", "error-threshold")
export type QuarantineCause = typeof QuarantineCause.Type

/** The error types that count against an address. */
export const ErrorType = Schema.Literal("hard", "soft")
export type ErrorType = typeof ErrorType.Type

export const Quarantine = Schema.Struct({
  at: Schema.Number,
  reason: Reason,
  type: ErrorType,
  cause: QuarantineCause,
  /** held by the outage guard until an operator confirms or releases it */
  suspect: Schema.Boolean
})
export type Quarantine = typeof Quarantine.Type

/**
 * The quarantine state of one address. The status is derived (`statusOf`): a list decision first, then the
 * quarantine, then the error counter. Errors keep being counted under a list decision, so that lifting the
 * decision shows what the bounces said meanwhile.
 */
export const AddressState = Schema.Struct({
  list: Schema.NullOr(AddressList),
  errorCount: Schema.Number,
  /** time of the last counted error (errors closer than the spacing are not counted) */
  lastErrorAt: Schema.NullOr(Schema.Number),
  lastErrorReason: Schema.NullOr(Reason),
  lastErrorType: Schema.NullOr(ErrorType),
  /** the counted error before the last one and the count before it: lets a same-day error that arrives late take
   * the place of the last one, so the order of one day's bounces does not matter */
  previousErrorAt: Schema.NullOr(Schema.Number),
  previousErrorCount: Schema.Number,
  quarantine: Schema.NullOr(Quarantine)
})
export type AddressState = typeof AddressState.Type

/** A never-seen address. */
export const initialState: AddressState = {
  list: null,
  errorCount: 0,
  lastErrorAt: null,
  lastErrorReason: null,
  lastErrorType: null,
  previousErrorAt: null,
  previousErrorCount: 0,
  quarantine: null
}

/** Reasons that say the problem is on the sending side; by default they count against the receiving domain only. */
export const ourProblemReasons: ReadonlyArray<Reason> = [
  "blocked",
  "badreputation",
  "requireptr",
  "authfailure",
  "policyviolation",
  "spamdetected",
  "virusdetected",
  "securityerror",
  "norelaying",
  "rejected",
  "speeding",
  "toomanyconn",
  "failedstarttls",
  "notcompliantrfc",
  "contenterror",
  "mesgtoobig",
  "syntaxerror",
  "mailererror",
  "suppressed"
]

const int = (min: number) => Schema.Int.pipe(Schema.greaterThanOrEqualTo(min))
const withDefault = <S extends Schema.Schema.AnyNoContext>(schema: S, value: () => Schema.Schema.Type<S>) =>
  Schema.optionalWith(schema, { default: value as never })

/** The outage guard: a burst of hard bounces from one receiving domain holds its new hard quarantines as suspect. */
export const OutageGuardPolicy = Schema.Struct({
  enabled: withDefault(Schema.Boolean, () => true),
  /** the window over which sends and hard bounces are compared */
  windowHours: withDefault(int(1), () => 24),
  /** below this many recorded sends in the window the share rule does not apply */
  minSends: withDefault(int(1), () => 200),
  /** hard bounces above this share of the window's sends make the domain suspect */
  hardBounceShare: withDefault(Schema.Number.pipe(Schema.between(0, 1)), () => 0.3),
  /** this many hard bounces within the last hour make the domain suspect, whatever was sent */
  hardBouncesPerHour: withDefault(int(1), () => 1000)
})
export type OutageGuardPolicy = typeof OutageGuardPolicy.Type

/** Every rule of the quarantine, with Adobe Campaign's defaults. `Schema.decodeUnknown` of `{}` gives the defaults. */
export const QuarantinePolicy = Schema.Struct({
  /** counted errors that quarantine an address (Campaign: 5) */
  errorThreshold: withDefault(int(1), () => 5),
  /** two errors count separately only this far apart (Campaign: 24 hours) */
  errorSpacingHours: withDefault(int(0), () => 24),
  /** the counter starts again after this long without a counted error (Campaign: 10 days) */
  counterResetDays: withDefault(int(1), () => 10),
  /** quarantines for `timedReleaseReasons` are released by the daily job after this long (Campaign: 30 days) */
  timedReleaseDays: withDefault(int(1), () => 30),
  timedReleaseReasons: withDefault(Schema.Array(Reason), (): ReadonlyArray<Reason> => ["mailboxfull"]),
  /** a hard bounce quarantines at once; when false it only counts as an error */
  hardBounceQuarantines: withDefault(Schema.Boolean, () => true),
  /** an ARF complaint puts the address on the denylist */
  complaintDenylists: withDefault(Schema.Boolean, () => true),
  /** a successful delivery resets the error counter of an address that is not quarantined */
  deliveryResetsCounter: withDefault(Schema.Boolean, () => true),
  /** reasons that count against the receiving domain, not the address */
  domainReasons: withDefault(Schema.Array(Reason), () => ourProblemReasons),
  outageGuard: withDefault(OutageGuardPolicy, () => Schema.decodeUnknownSync(OutageGuardPolicy)({}))
})
export type QuarantinePolicy = typeof QuarantinePolicy.Type

export const defaultQuarantinePolicy: QuarantinePolicy = Schema.decodeUnknownSync(QuarantinePolicy)({})

/** Who did something to an address, and why (an operator, or "rebound" with the rule that applied). */
export interface Actor {
  readonly who: string
  readonly why: string
}

/** What can happen to an address. Time is the `now` given to `transition`. */
export type QuarantineEvent = Data.TaggedEnum<{
  /** a failed recipient; `suspect` is the outage guard's verdict for its receiving domain */
  Bounce: { readonly type: BounceType; readonly reason: Reason; readonly suspect: boolean; readonly why: string }
  Complaint: { readonly why: string }
  Delivered: { readonly why: string }
  /** the daily job: counter reset after the quiet period, timed release of mailboxfull quarantines */
  Expire: {}
  Release: { readonly actor: Actor }
  Allow: { readonly actor: Actor }
  Deny: { readonly actor: Actor }
  /** an operator confirms a suspect quarantine: it becomes an ordinary one */
  Confirm: { readonly actor: Actor }
}>
export const QuarantineEvent = Data.taggedEnum<QuarantineEvent>()

export const TransitionCause = Schema.Literal(
  "hard-bounce",
  "soft-bounce",
  "complaint",
  "delivered",
  "counter-expired",
  "timed-release",
  "release",
  "allow",
  "deny",
  "confirm"
)
export type TransitionCause = typeof TransitionCause.Type

/** One change of an address's state, as recorded in its history. */
export interface Transition {
  readonly at: number
  readonly from: AddressStatus
  readonly to: AddressStatus
  readonly cause: TransitionCause
  readonly errorCount: number
  readonly reason: Reason | null
  readonly suspect: boolean
  readonly who: string
  readonly why: string
}

export interface TransitionResult {
  readonly state: AddressState
  /** empty when the event changed nothing; one entry otherwise */
  readonly transitions: ReadonlyArray<Transition>
}

/** The status a sender sees. */
export const statusOf = (state: AddressState): AddressStatus =>
  state.list === "deny"
    ? "denylisted"
    : state.list === "allow"
      ? "allowlisted"
      : state.quarantine !== null
        ? "quarantined"
        : state.errorCount > 0
          ? "with-errors"
          : "valid"

/** Whether a sender may send to the address (a suspect quarantine is held, so it blocks too). */
export const isSendable = (state: AddressState): boolean => {
  const status = statusOf(state)
  return status === "valid" || status === "with-errors" || status === "allowlisted"
}

/** Whether a bounce with this reason counts against the receiving domain rather than the address. */
export const countsAgainstDomain = (reason: Reason, policy: QuarantinePolicy): boolean =>
  policy.domainReasons.includes(reason)

/** What the store knows about a receiving domain when a hard bounce from it arrives. */
export interface DomainWindow {
  /** sends recorded in the guard's window */
  readonly sends: number
  /** hard bounces (counting against addresses) in the guard's window, this one included */
  readonly hardBounces: number
  /** the same, within the last hour */
  readonly hardBouncesLastHour: number
}

/** The outage guard's verdict: does this domain currently bounce so much that new hard quarantines are suspect? */
export const outageSuspected = (window: DomainWindow, policy: QuarantinePolicy): boolean => {
  const guard = policy.outageGuard
  if (!guard.enabled) return false
  const share = window.sends >= guard.minSends && window.hardBounces / window.sends > guard.hardBounceShare
  return share || window.hardBouncesLastHour >= guard.hardBouncesPerHour
}

const dayOf = (millis: number) => Math.floor(millis / DAY)
const typeRank = (type: ErrorType) => (type === "hard" ? 0 : 1)

interface Occurrence {
  readonly at: number
  readonly type: ErrorType
  readonly reason: Reason
  readonly cause?: QuarantineCause
}

/** A total order on same-day errors, so that the one kept does not depend on arrival order. */
const precedes = (a: Occurrence, b: Occurrence): boolean => {
  if (a.at !== b.at) return a.at < b.at
  if (a.type !== b.type) return typeRank(a.type) < typeRank(b.type)
  if (a.reason !== b.reason) return a.reason < b.reason
  return a.cause === "hard-bounce" && b.cause === "error-threshold"
}

const countAfter = (previousAt: number | null, previousCount: number, at: number, policy: QuarantinePolicy) =>
  previousAt === null || at - previousAt >= policy.counterResetDays * DAY ? 1 : previousCount + 1

const withQuarantine = (current: Quarantine | null, candidate: Quarantine): Quarantine => {
  if (current === null) return candidate
  const suspect = current.suspect && candidate.suspect
  return dayOf(candidate.at) === dayOf(current.at) && precedes(candidate, current)
    ? { ...candidate, suspect }
    : { ...current, suspect }
}

const resetCounter = (state: AddressState): AddressState => ({
  ...state,
  errorCount: 0,
  lastErrorAt: null,
  lastErrorReason: null,
  lastErrorType: null,
  previousErrorAt: null,
  previousErrorCount: 0
})

const countError = (state: AddressState, error: Occurrence, policy: QuarantinePolicy): AddressState => {
  const spacing = policy.errorSpacingHours * HOUR
  const last = state.lastErrorAt
  if (last === null || error.at - last >= spacing) {
    return {
      ...state,
      previousErrorAt: last,
      previousErrorCount: state.errorCount,
      lastErrorAt: error.at,
      lastErrorReason: error.reason,
      lastErrorType: error.type,
      errorCount: countAfter(last, state.errorCount, error.at, policy)
    }
  }
  const lastError: Occurrence = { at: last, type: state.lastErrorType ?? "soft", reason: state.lastErrorReason! }
  const previous = state.previousErrorAt
  const replacesLast =
    dayOf(error.at) === dayOf(last) &&
    precedes(error, lastError) &&
    (previous === null || error.at - previous >= spacing)
  if (!replacesLast) return state
  return {
    ...state,
    lastErrorAt: error.at,
    lastErrorReason: error.reason,
    lastErrorType: error.type,
    errorCount: countAfter(previous, state.previousErrorCount, error.at, policy)
  }
}

const applyBounce = (
  state: AddressState,
  event: Extract<QuarantineEvent, { _tag: "Bounce" }>,
  policy: QuarantinePolicy,
  now: number
): AddressState => {
  if (event.type === "ignored" || countsAgainstDomain(event.reason, policy)) return state
  const error: Occurrence = { at: now, type: event.type, reason: event.reason }
  const counted = countError(state, error, policy)
  let quarantine = counted.quarantine
  if (event.type === "hard" && policy.hardBounceQuarantines) {
    quarantine = withQuarantine(quarantine, { ...error, cause: "hard-bounce", suspect: event.suspect })
  }
  if (counted !== state && counted.errorCount >= policy.errorThreshold) {
    quarantine = withQuarantine(quarantine, {
      at: counted.lastErrorAt!,
      reason: counted.lastErrorReason!,
      type: counted.lastErrorType!,
      cause: "error-threshold",
      suspect: false
    })
  }
  return quarantine === counted.quarantine ? counted : { ...counted, quarantine }
}

const expire = (state: AddressState, policy: QuarantinePolicy, now: number): [AddressState, TransitionCause] => {
  const quarantine = state.quarantine
  if (quarantine !== null) {
    const timed =
      policy.timedReleaseReasons.includes(quarantine.reason) && now - quarantine.at >= policy.timedReleaseDays * DAY
    return timed ? [{ ...resetCounter(state), quarantine: null }, "timed-release"] : [state, "timed-release"]
  }
  const quiet = state.lastErrorAt !== null && now - state.lastErrorAt >= policy.counterResetDays * DAY
  return [quiet ? resetCounter(state) : state, "counter-expired"]
}

const step = (
  state: AddressState,
  event: QuarantineEvent,
  policy: QuarantinePolicy,
  now: number
): [AddressState, TransitionCause, Actor] => {
  const system = (why: string): Actor => ({ who: "rebound", why })
  switch (event._tag) {
    case "Bounce":
      return [
        applyBounce(state, event, policy, now),
        event.type === "hard" ? "hard-bounce" : "soft-bounce",
        system(event.why)
      ]
    case "Complaint":
      return [
        policy.complaintDenylists && state.list === null ? { ...state, list: "deny" } : state,
        "complaint",
        system(event.why)
      ]
    case "Delivered": {
      const resets = policy.deliveryResetsCounter && state.quarantine === null && state.lastErrorAt !== null
      return [resets ? resetCounter(state) : state, "delivered", system(event.why)]
    }
    case "Expire": {
      const [next, cause] = expire(state, policy, now)
      const why =
        cause === "timed-release"
          ? `${state.quarantine?.reason} quarantine older than ${policy.timedReleaseDays} days`
          : `no counted error for ${policy.counterResetDays} days`
      return [next, cause, system(why)]
    }
    case "Release":
      return [{ ...resetCounter(state), quarantine: null, list: null }, "release", event.actor]
    case "Allow":
      return [{ ...state, list: "allow" }, "allow", event.actor]
    case "Deny":
      return [{ ...state, list: "deny" }, "deny", event.actor]
    case "Confirm":
      return [
        state.quarantine?.suspect ? { ...state, quarantine: { ...state.quarantine, suspect: false } } : state,
        "confirm",
        event.actor
      ]
  }
}

const sameQuarantine = (a: Quarantine | null, b: Quarantine | null): boolean =>
  a === b ||
  (a !== null &&
    b !== null &&
    a.at === b.at &&
    a.reason === b.reason &&
    a.type === b.type &&
    a.cause === b.cause &&
    a.suspect === b.suspect)

/** Whether two states are the same (every field). */
export const sameState = (a: AddressState, b: AddressState): boolean =>
  a === b ||
  (a.list === b.list &&
    a.errorCount === b.errorCount &&
    a.lastErrorAt === b.lastErrorAt &&
    a.lastErrorReason === b.lastErrorReason &&
    a.lastErrorType === b.lastErrorType &&
    a.previousErrorAt === b.previousErrorAt &&
    a.previousErrorCount === b.previousErrorCount &&
    sameQuarantine(a.quarantine, b.quarantine))

/**
 * The quarantine state machine: the next state of an address after `event` at `now`, with the transition to record
 * in its history when anything changed. Pure; the store persists both in the transaction that applies the mail.
 */
export const transition = (
  state: AddressState,
  event: QuarantineEvent,
  policy: QuarantinePolicy,
  now: number
): TransitionResult => {
  const [next, cause, actor] = step(state, event, policy, now)
  if (sameState(state, next)) return { state, transitions: [] }
  return {
    state: next,
    transitions: [
      {
        at: now,
        from: statusOf(state),
        to: statusOf(next),
        cause,
        errorCount: next.errorCount,
        reason: next.quarantine?.reason ?? next.lastErrorReason,
        suspect: next.quarantine?.suspect ?? false,
        who: actor.who,
        why: actor.why
      }
    ]
  }
}
