import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Context from "effect/Context"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ReviewStatus } from "../../domain/qualification-log.js"
import { AddressStatus, TransitionCause } from "../../domain/quarantine.js"
import { BounceType, MailKind, Reason } from "../../domain/report.js"
import { Scope } from "./config.js"
import { packageVersion } from "./package-version.js"

const status = <const S extends number>(code: S) =>
  Schema.Literal(code).pipe(
    Schema.propertySignature,
    Schema.withConstructorDefault(() => code)
  )

/** The request is malformed or names something invalid (an address that is not one, an empty filter). */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { status: status(400), message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** No bearer token, or one that is not configured. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { status: status(401), message: Schema.String },
  HttpApiSchema.annotations({ status: 401 })
) {}

/** A read-only token asked for an admin operation. */
export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { status: status(403), message: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { status: status(404), message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The store cannot be reached or failed; the request may be retried. */
export class Unavailable extends Schema.TaggedError<Unavailable>()(
  "Unavailable",
  { status: status(503), message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/** Who is calling: the token's name and scope (with no token configured: "local" with the admin scope). */
export class Caller extends Context.Tag("rebound/Http/Caller")<
  Caller,
  { readonly name: string; readonly scope: Scope; readonly open: boolean }
>() {}

const bearer = HttpApiSecurity.bearer.pipe(
  HttpApiSecurity.annotate(OpenApi.Description, "A token from HTTP_READ_TOKENS or HTTP_ADMIN_TOKENS.")
)

/** Any configured token (read or admin). */
export class ReadAccess extends HttpApiMiddleware.Tag<ReadAccess>()("rebound/Http/ReadAccess", {
  failure: Unauthorized,
  provides: Caller,
  security: { bearer }
}) {}

/** An admin token. */
export class AdminAccess extends HttpApiMiddleware.Tag<AdminAccess>()("rebound/Http/AdminAccess", {
  failure: Schema.Union(Unauthorized, Forbidden),
  provides: Caller,
  security: { bearer }
}) {}

/** A point in time: ISO 8601 (2025-01-06T09:00:00Z) or milliseconds since the epoch. */
export const Instant = Schema.transformOrFail(Schema.String, Schema.Number, {
  strict: true,
  decode: (text, _, ast) => {
    const millis = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
    return Number.isFinite(millis)
      ? ParseResult.succeed(millis)
      : ParseResult.fail(new ParseResult.Type(ast, text, `"${text}" is not an ISO 8601 time or epoch milliseconds`))
  },
  encode: (millis) => ParseResult.succeed(new Date(millis).toISOString())
}).annotations({ identifier: "Instant", description: "ISO 8601 time or epoch milliseconds" })

const Limit = (max: number, fallback: number) =>
  Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, max)), { default: () => fallback })

/** Times in answers are ISO 8601 strings. */
const Time = Schema.String.annotations({ description: "ISO 8601 time" })
const NullableTime = Schema.NullOr(Time)

// ---- system

export const Health = Schema.Struct({
  status: Schema.Literal("ok"),
  version: Schema.String,
  uptimeSeconds: Schema.Number
})

export const AccountState = Schema.Struct({
  account: Schema.String,
  kind: Schema.Literal("pop3", "maildir", "smtp"),
  state: Schema.Literal("idle", "polling", "backoff", "failing"),
  lastPollAt: NullableTime,
  lastSuccessAt: NullableTime,
  lastError: Schema.NullOr(Schema.String),
  consecutiveFailures: Schema.Number,
  mailsWaiting: Schema.NullOr(Schema.Number),
  fetched: Schema.Number,
  applied: Schema.Number,
  notApplied: Schema.Number,
  failed: Schema.Number
})
export type AccountState = typeof AccountState.Type

export const Readiness = Schema.Struct({
  ready: Schema.Boolean,
  store: Schema.Struct({ reachable: Schema.Boolean, error: Schema.NullOr(Schema.String) }),
  accounts: Schema.Array(AccountState)
})

/** The server is up but cannot serve: the store is unreachable. */
export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { status: status(503), message: Schema.String, readiness: Readiness },
  HttpApiSchema.annotations({ status: 503 })
) {}

const system = HttpApiGroup.make("system")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(Health)
      .annotate(OpenApi.Summary, "Liveness: the process answers")
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Readiness)
      .addError(NotReady)
      .annotate(OpenApi.Summary, "Readiness: the store answers; each account's last poll")
  )
  .annotate(OpenApi.Title, "System")

const metrics = HttpApiGroup.make("metrics")
  .add(
    HttpApiEndpoint.get("metrics", "/metrics")
      .addSuccess(
        Schema.String.pipe(
          HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain; version=0.0.4; charset=utf-8" })
        )
      )
      .annotate(OpenApi.Summary, "Prometheus text exposition")
  )
  .middleware(ReadAccess)
  .annotate(OpenApi.Title, "Metrics")

// ---- addresses

export const Quarantine = Schema.Struct({
  at: Time,
  reason: Reason,
  type: Schema.Literal("hard", "soft"),
  cause: Schema.Literal("hard-bounce", "error-threshold"),
  suspect: Schema.Boolean
})

export const AddressView = Schema.Struct({
  address: Schema.String,
  domain: Schema.String,
  status: AddressStatus,
  /** whether a sender may mail it */
  sendable: Schema.Boolean,
  list: Schema.NullOr(Schema.Literal("allow", "deny")),
  errorCount: Schema.Number,
  lastErrorAt: NullableTime,
  lastErrorReason: Schema.NullOr(Reason),
  lastErrorType: Schema.NullOr(Schema.Literal("hard", "soft")),
  quarantine: Schema.NullOr(Quarantine),
  updatedAt: Time
})
export type AddressView = typeof AddressView.Type

export const HistoryLine = Schema.Struct({
  at: Time,
  from: AddressStatus,
  to: AddressStatus,
  cause: TransitionCause,
  errorCount: Schema.Number,
  reason: Schema.NullOr(Reason),
  suspect: Schema.Boolean,
  who: Schema.String,
  why: Schema.String
})
export type HistoryLine = typeof HistoryLine.Type

export const BounceView = Schema.Struct({
  id: Schema.Number,
  receivedAt: Time,
  account: Schema.String,
  kind: MailKind,
  dialect: Schema.String,
  recipient: Schema.NullOr(Schema.String),
  address: Schema.NullOr(Schema.String),
  domain: Schema.NullOr(Schema.String),
  type: BounceType,
  reason: Reason,
  campaignReason: Schema.String,
  status: Schema.NullOr(Schema.String),
  replyCode: Schema.NullOr(Schema.String),
  diagnostic: Schema.NullOr(Schema.String),
  remoteMta: Schema.NullOr(Schema.String),
  reportingMta: Schema.NullOr(Schema.String),
  rule: Schema.String,
  feedbackType: Schema.NullOr(Schema.String),
  deliveryId: Schema.NullOr(Schema.String),
  messageId: Schema.NullOr(Schema.String),
  correlation: Schema.String,
  countedAgainst: Schema.String,
  suspect: Schema.Boolean
})
export type BounceView = typeof BounceView.Type

export const AddressDetail = Schema.Struct({
  ...AddressView.fields,
  history: Schema.Array(HistoryLine),
  recentBounces: Schema.Array(BounceView)
})

export const CheckRequest = Schema.Struct({
  addresses: Schema.Array(Schema.String).pipe(Schema.minItems(1), Schema.maxItems(10_000))
})

export const Suppression = Schema.Struct({
  address: Schema.String,
  status: AddressStatus,
  /** the quarantine reason, or "denylisted" */
  reason: Schema.String,
  since: NullableTime,
  suspect: Schema.Boolean
})

export const CheckResult = Schema.Struct({
  checked: Schema.Number,
  /** addresses a sender must not mail, with why */
  suppress: Schema.Array(Suppression),
  /** entries that are not addresses */
  invalid: Schema.Array(Schema.Struct({ address: Schema.String, message: Schema.String }))
})

export const OperatorNote = Schema.Struct({
  why: Schema.optional(Schema.String.pipe(Schema.maxLength(500)))
})

export const OperationResult = Schema.Struct({
  address: AddressView,
  changed: Schema.Boolean,
  transitions: Schema.Array(HistoryLine)
})

export const BulkRelease = Schema.Struct({
  domain: Schema.optional(Schema.String),
  reason: Schema.optional(Reason),
  /** quarantined at or after */
  from: Schema.optional(Instant),
  /** quarantined before */
  to: Schema.optional(Instant),
  suspectOnly: Schema.optional(Schema.Boolean),
  why: Schema.optional(Schema.String.pipe(Schema.maxLength(500)))
})

const AddressPath = Schema.Struct({ address: Schema.String })

const addresses = HttpApiGroup.make("addresses")
  .add(
    HttpApiEndpoint.get("get", "/v1/addresses/:address")
      .setPath(AddressPath)
      .addSuccess(AddressDetail)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "An address: status, counters, history and recent bounces")
  )
  .add(
    HttpApiEndpoint.post("check", "/v1/addresses/check")
      .setPayload(CheckRequest)
      .addSuccess(CheckResult)
      .annotate(OpenApi.Summary, "Which of up to 10,000 addresses to suppress, and why")
  )
  .addError(Unavailable)
  .middleware(ReadAccess)
  .annotate(OpenApi.Title, "Addresses")

const operation = <const Name extends "release" | "allow" | "deny" | "confirm">(name: Name, summary: string) =>
  HttpApiEndpoint.post(name, `/v1/addresses/:address/${name}`)
    .setPath(AddressPath)
    .setPayload(OperatorNote)
    .addSuccess(OperationResult)
    .addError(BadRequest)
    .annotate(OpenApi.Summary, summary)

const addressAdmin = HttpApiGroup.make("addressAdmin")
  .add(operation("release", "Release an address: out of quarantine and off any list, counter reset"))
  .add(operation("allow", "Put an address on the allowlist"))
  .add(operation("deny", "Put an address on the denylist"))
  .add(operation("confirm", "Confirm a quarantine the outage guard held as suspect"))
  .add(
    HttpApiEndpoint.post("bulkRelease", "/v1/addresses/release")
      .setPayload(BulkRelease)
      .addSuccess(Schema.Struct({ released: Schema.Number }))
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Release every quarantined, unlisted address matching a filter")
  )
  .addError(Unavailable)
  .middleware(AdminAccess)
  .annotate(OpenApi.Title, "Address administration")

// ---- messages and deliveries

export const SentMessageBody = Schema.Struct({
  messageId: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(998)),
  deliveryId: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
  recipient: Schema.String,
  sentAt: Schema.optional(Instant)
})

export const DeliveredBody = Schema.Struct({
  messageId: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(998)),
  recipient: Schema.String,
  deliveredAt: Schema.optional(Instant)
})

const messages = HttpApiGroup.make("messages")
  .add(
    HttpApiEndpoint.post("register", "/v1/messages")
      .setPayload(
        Schema.Struct({ messages: Schema.Array(SentMessageBody).pipe(Schema.minItems(1), Schema.maxItems(10_000)) })
      )
      .addSuccess(Schema.Struct({ registered: Schema.Number }))
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Register sent messages (Message-ID, delivery id, recipient) for correlation")
  )
  .add(
    HttpApiEndpoint.post("delivered", "/v1/deliveries/success")
      .setPayload(
        Schema.Struct({ deliveries: Schema.Array(DeliveredBody).pipe(Schema.minItems(1), Schema.maxItems(10_000)) })
      )
      .addSuccess(Schema.Struct({ applied: Schema.Number, duplicates: Schema.Number }))
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Report delivered messages: resets the error counter of their recipients")
  )
  .addError(Unavailable)
  .middleware(AdminAccess)
  .annotate(OpenApi.Title, "Messages")

// ---- bounces and reports

export const BounceFilter = Schema.Struct({
  from: Schema.optional(Instant),
  to: Schema.optional(Instant),
  address: Schema.optional(Schema.String),
  domain: Schema.optional(Schema.String),
  type: Schema.optional(BounceType),
  reason: Schema.optional(Reason),
  kind: Schema.optional(MailKind),
  deliveryId: Schema.optional(Schema.String),
  account: Schema.optional(Schema.String),
  limit: Limit(1000, 100),
  cursor: Schema.optional(Schema.String)
})
export type BounceFilter = typeof BounceFilter.Type

export const BouncePage = Schema.Struct({
  items: Schema.Array(BounceView),
  /** pass as `cursor` for the next (older) page; null on the last page */
  nextCursor: Schema.NullOr(Schema.String)
})

export const Range = Schema.Struct({
  from: Schema.optional(Instant),
  to: Schema.optional(Instant),
  limit: Limit(1000, 50)
})
export type Range = typeof Range.Type

export const ReasonRow = Schema.Struct({
  reason: Reason,
  type: BounceType,
  count: Schema.Number,
  addresses: Schema.Number
})

export const DomainRow = Schema.Struct({
  domain: Schema.String,
  sent: Schema.Number,
  hard: Schema.Number,
  soft: Schema.Number,
  delayed: Schema.Number,
  delivered: Schema.Number,
  complaints: Schema.Number,
  /** bounces for reasons on the sending side, counted against the domain */
  ours: Schema.Number,
  hardRate: Schema.NullOr(Schema.Number),
  softRate: Schema.NullOr(Schema.Number)
})

export const DeliveryRow = Schema.Struct({
  deliveryId: Schema.String,
  messages: Schema.Number,
  hard: Schema.Number,
  soft: Schema.Number,
  delayed: Schema.Number,
  complaints: Schema.Number,
  hardRate: Schema.Number,
  softRate: Schema.Number,
  lastUpdate: Time
})

export const TimelineBucket = Schema.Struct({
  at: Time,
  hard: Schema.Number,
  soft: Schema.Number,
  ignored: Schema.Number,
  delayed: Schema.Number,
  complaints: Schema.Number
})

export const RangeAnswer = <A, I>(rows: Schema.Schema<A, I>) =>
  Schema.Struct({ from: Time, to: Time, rows: Schema.Array(rows) })

const bounces = HttpApiGroup.make("bounces")
  .add(
    HttpApiEndpoint.get("list", "/v1/bounces")
      .setUrlParams(BounceFilter)
      .addSuccess(BouncePage)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Bounce events, newest first, with filters and cursor paging")
  )
  .add(
    HttpApiEndpoint.get("reasons", "/v1/reports/reasons")
      .setUrlParams(Range)
      .addSuccess(RangeAnswer(ReasonRow))
      .annotate(OpenApi.Summary, "Bounces per type and reason over a time range")
  )
  .add(
    HttpApiEndpoint.get("domains", "/v1/reports/domains")
      .setUrlParams(Range)
      .addSuccess(RangeAnswer(DomainRow))
      .annotate(OpenApi.Summary, "Receiving domains: sends, hard/soft bounces and rates over a time range")
  )
  .add(
    HttpApiEndpoint.get("deliveries", "/v1/reports/deliveries")
      .setUrlParams(Range)
      .addSuccess(RangeAnswer(DeliveryRow))
      .annotate(OpenApi.Summary, "Deliveries (campaigns): hard and soft bounce rates")
  )
  .add(
    HttpApiEndpoint.get("timeline", "/v1/reports/timeline")
      .setUrlParams(
        Schema.Struct({
          from: Schema.optional(Instant),
          to: Schema.optional(Instant),
          bucket: Schema.optionalWith(Schema.Literal("hour", "day"), { default: () => "hour" as const })
        })
      )
      .addSuccess(RangeAnswer(TimelineBucket))
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Bounces over time per type, by hour or day")
  )
  .addError(Unavailable)
  .middleware(ReadAccess)
  .annotate(OpenApi.Title, "Bounces and reports")

// ---- operations: quarantines, qualification log, alerts, accounts, webhooks

export const QuarantineLine = Schema.Struct({ address: Schema.String, ...HistoryLine.fields })

export const QualificationView = Schema.Struct({
  textKey: Schema.String,
  text: Schema.String,
  sample: Schema.String,
  status: Schema.NullOr(Schema.String),
  replyCode: Schema.NullOr(Schema.String),
  type: BounceType,
  reason: Reason,
  rule: Schema.String,
  seen: Schema.Number,
  firstSeen: Time,
  lastSeen: Time,
  review: ReviewStatus,
  reviewedBy: Schema.NullOr(Schema.String),
  reviewedAt: NullableTime,
  reviewNote: Schema.NullOr(Schema.String)
})

export const AlertView = Schema.Struct({
  id: Schema.Number,
  key: Schema.String,
  kind: Schema.String,
  subject: Schema.String,
  severity: Schema.Literal("warning", "critical"),
  message: Schema.String,
  details: Schema.Unknown,
  openedAt: Time,
  updatedAt: Time,
  resolvedAt: NullableTime
})
export type AlertView = typeof AlertView.Type

export const OutboxView = Schema.Struct({
  id: Schema.Number,
  eventId: Schema.String,
  eventType: Schema.String,
  url: Schema.String,
  state: Schema.Literal("pending", "delivered", "failed"),
  attempts: Schema.Number,
  createdAt: Time,
  nextAttemptAt: NullableTime,
  lastStatus: Schema.NullOr(Schema.Number),
  lastError: Schema.NullOr(Schema.String)
})

export const Session = Schema.Struct({
  name: Schema.String,
  scope: Scope,
  /** no token is configured: the API answers anyone on this machine */
  open: Schema.Boolean
})

const operations = HttpApiGroup.make("operations")
  .add(
    HttpApiEndpoint.get("session", "/v1/session")
      .addSuccess(Session)
      .annotate(OpenApi.Summary, "Who the token belongs to and what it may do")
  )
  .add(
    HttpApiEndpoint.get("quarantines", "/v1/quarantines")
      .setUrlParams(Range)
      .addSuccess(RangeAnswer(QuarantineLine))
      .annotate(OpenApi.Summary, "Addresses quarantined or denylisted in a time range, newest first")
  )
  .add(
    HttpApiEndpoint.get("qualification", "/v1/qualification")
      .setUrlParams(Schema.Struct({ review: Schema.optional(ReviewStatus), limit: Limit(1000, 100) }))
      .addSuccess(Schema.Struct({ rows: Schema.Array(QualificationView) }))
      .annotate(OpenApi.Summary, "The qualification log: distinct diagnostic texts, most frequent first")
  )
  .add(
    HttpApiEndpoint.get("alerts", "/v1/alerts")
      .setUrlParams(
        Schema.Struct({
          state: Schema.optionalWith(Schema.Literal("open", "all"), { default: () => "open" as const }),
          limit: Limit(1000, 100)
        })
      )
      .addSuccess(Schema.Struct({ rows: Schema.Array(AlertView) }))
      .annotate(OpenApi.Summary, "Alerts: open ones, or all, newest first")
  )
  .add(
    HttpApiEndpoint.get("accounts", "/v1/accounts")
      .addSuccess(Schema.Struct({ rows: Schema.Array(AccountState) }))
      .annotate(OpenApi.Summary, "Mailbox accounts: last poll, mails waiting, errors")
  )
  .add(
    HttpApiEndpoint.get("webhooks", "/v1/webhooks")
      .setUrlParams(
        Schema.Struct({
          state: Schema.optional(Schema.Literal("pending", "delivered", "failed")),
          limit: Limit(1000, 50)
        })
      )
      .addSuccess(
        Schema.Struct({
          counts: Schema.Struct({ pending: Schema.Number, delivered: Schema.Number, failed: Schema.Number }),
          rows: Schema.Array(OutboxView)
        })
      )
      .annotate(OpenApi.Summary, "The webhook outbox: counts and the latest deliveries")
  )
  .addError(Unavailable)
  .middleware(ReadAccess)
  .annotate(OpenApi.Title, "Operations")

const operationsAdmin = HttpApiGroup.make("operationsAdmin")
  .add(
    HttpApiEndpoint.post("review", "/v1/qualification/:textKey/review")
      .setPath(Schema.Struct({ textKey: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)) }))
      .setPayload(
        Schema.Struct({ review: ReviewStatus, note: Schema.optional(Schema.String.pipe(Schema.maxLength(500))) })
      )
      .addSuccess(QualificationView)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "Review a text of the qualification log: to-qualify, keep or ignore")
  )
  .add(
    HttpApiEndpoint.post("retryWebhooks", "/v1/webhooks/retry")
      .addSuccess(Schema.Struct({ requeued: Schema.Number }))
      .annotate(OpenApi.Summary, "Queue the webhook deliveries that were given up again")
  )
  .addError(Unavailable)
  .middleware(AdminAccess)
  .annotate(OpenApi.Title, "Operations (admin)")

/** rebound's HTTP API: the definition the server, the OpenAPI document and typed clients derive from. */
export class ReboundApi extends HttpApi.make("rebound")
  .add(system)
  .add(metrics)
  .add(addresses)
  .add(addressAdmin)
  .add(messages)
  .add(bounces)
  .add(operations)
  .add(operationsAdmin)
  .addError(BadRequest)
  .addError(NotFound)
  .annotate(OpenApi.Title, "rebound")
  .annotate(OpenApi.Version, packageVersion())
  .annotate(
    OpenApi.Description,
    "Bounce processing: address status and suppression checks, sent-message registration, bounce events, reports, " +
      "the qualification log and alerts. Errors are JSON objects with a status and a message."
  ) {}
