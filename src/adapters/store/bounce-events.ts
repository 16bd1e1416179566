import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { NormalizedAddress } from "../../domain/address.js"
import type { BounceType, Reason } from "../../domain/report.js"
import { databaseError, type StoreError } from "./errors.js"
import type { CorrelationSource, CountedAgainst, LedgerKey, StoredBounceEvent } from "./model.js"
import { bool, flag, num, rowInserter, textOrNull } from "./values.js"

/** Bounce events: one row per record of the decoder, with every field, the rule and the correlation. */
export class BounceEvents extends Context.Tag("rebound/Store/BounceEvents")<
  BounceEvents,
  {
    readonly insert: (events: ReadonlyArray<StoredBounceEvent>) => Effect.Effect<void, StoreError>
    /** The newest events for an address first. */
    readonly forAddress: (
      address: NormalizedAddress,
      limit: number
    ) => Effect.Effect<ReadonlyArray<StoredBounceEvent>, StoreError>
    /** The events of one mail, in record order. */
    readonly forMail: (key: LedgerKey) => Effect.Effect<ReadonlyArray<StoredBounceEvent>, StoreError>
    readonly count: (since: number) => Effect.Effect<number, StoreError>
    /** Bounce records received in [from, to), counted per type and reason. */
    readonly reasonCounts: (range: {
      readonly from: number
      readonly to: number
    }) => Effect.Effect<ReadonlyArray<ReasonCount>, StoreError>
    /**
     * Bounce and complaint records received in [from, to), counted per correlation source and whom they counted
     * against: with signing keys, the unverified ones changed nothing, and this is where an operator sees them.
     */
    readonly correlationCounts: (range: {
      readonly from: number
      readonly to: number
    }) => Effect.Effect<ReadonlyArray<CorrelationCount>, StoreError>
  }
>() {}

/** How many bounce and complaint records had one correlation source and counted against one party. */
export interface CorrelationCount {
  readonly source: CorrelationSource
  readonly countedAgainst: CountedAgainst
  readonly count: number
}

/** How many bounce records of one type had one reason. */
export interface ReasonCount {
  readonly type: BounceType
  readonly reason: Reason
  readonly count: number
}

const columns = [
  "account",
  "uid",
  "sha256",
  "record_index",
  "received_at",
  "kind",
  "address",
  "domain",
  "type",
  "reason",
  "status",
  "rule",
  "correlation_source",
  "delivery_id",
  "sent_message_id",
  "counted_against",
  "suspect",
  "details"
]

const pushRow = (params: Array<unknown>, event: StoredBounceEvent) => {
  params.push(
    event.key.account,
    event.key.uid,
    event.key.sha256,
    event.recordIndex,
    event.receivedAt,
    event.kind,
    event.address,
    event.domain,
    event.type,
    event.reason,
    event.status,
    event.rule,
    event.correlationSource,
    event.correlationDeliveryId,
    event.sentMessageId,
    event.countedAgainst,
    flag(event.suspect),
    detailsOf(event)
  )
}

const detailFields = [
  "mailKind",
  "dialect",
  "reportMessageId",
  "reportFrom",
  "reportSubject",
  "reportDate",
  "recipient",
  "originalRecipient",
  "action",
  "replyCode",
  "diagnostic",
  "diagnosticType",
  "remoteMta",
  "reportingMta",
  "lastAttemptDate",
  "willRetryUntil",
  "campaignReason",
  "feedbackType",
  "originalMessageId",
  "originalEnvelopeId",
  "correlationMethod",
  "correlationVerified",
  "correlationValue",
  "correlationInstance",
  "correlationRecipientId"
] as const

/** The fields that are not columns, as JSON; null fields (most of them) are left out and read back as null. */
const detailsOf = (event: StoredBounceEvent): string => {
  const kept: Record<string, unknown> = {}
  for (const field of detailFields) {
    const value = event[field]
    if (value !== null) kept[field] = value
  }
  return JSON.stringify(kept)
}

const detailDefaults = {
  reportMessageId: null,
  reportFrom: null,
  reportSubject: null,
  reportDate: null,
  recipient: null,
  originalRecipient: null,
  action: null,
  replyCode: null,
  diagnostic: null,
  diagnosticType: null,
  remoteMta: null,
  reportingMta: null,
  lastAttemptDate: null,
  willRetryUntil: null,
  feedbackType: null,
  originalMessageId: null,
  originalEnvelopeId: null,
  correlationValue: null,
  correlationInstance: null,
  correlationRecipientId: null
}

const fromRow = (row: any): StoredBounceEvent => {
  const details = { ...detailDefaults, ...JSON.parse(row.details) }
  return {
    key: { account: row.account, uid: row.uid, sha256: row.sha256 },
    recordIndex: num(row.record_index),
    receivedAt: num(row.received_at),
    mailKind: details.mailKind,
    dialect: details.dialect,
    reportMessageId: details.reportMessageId,
    reportFrom: details.reportFrom,
    reportSubject: details.reportSubject,
    reportDate: details.reportDate,
    kind: row.kind,
    recipient: details.recipient,
    address: textOrNull<NormalizedAddress>(row.address),
    domain: textOrNull(row.domain),
    originalRecipient: details.originalRecipient,
    action: details.action,
    status: textOrNull(row.status),
    replyCode: details.replyCode,
    diagnostic: details.diagnostic,
    diagnosticType: details.diagnosticType,
    remoteMta: details.remoteMta,
    reportingMta: details.reportingMta,
    lastAttemptDate: details.lastAttemptDate,
    willRetryUntil: details.willRetryUntil,
    type: row.type,
    reason: row.reason,
    campaignReason: details.campaignReason,
    rule: row.rule,
    feedbackType: details.feedbackType,
    originalMessageId: details.originalMessageId,
    originalEnvelopeId: details.originalEnvelopeId,
    correlationMethod: details.correlationMethod,
    correlationVerified: details.correlationVerified,
    correlationValue: details.correlationValue,
    correlationInstance: details.correlationInstance,
    correlationDeliveryId: textOrNull(row.delivery_id),
    correlationRecipientId: details.correlationRecipientId,
    correlationSource: row.correlation_source,
    sentMessageId: textOrNull(row.sent_message_id),
    countedAgainst: row.counted_against,
    suspect: bool(row.suspect)
  }
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insertRows = rowInserter(sql, `INSERT INTO bounce_events (${columns.join(", ")})`, columns.length)

  const insert = Effect.fn("BounceEvents.insert")(
    function* (events: ReadonlyArray<StoredBounceEvent>) {
      yield* insertRows(events, pushRow)
    },
    Effect.mapError(databaseError("recording bounce events"))
  )

  const forAddress = Effect.fn("BounceEvents.forAddress")(
    function* (address: NormalizedAddress, limit: number) {
      const rows =
        yield* sql`SELECT * FROM bounce_events WHERE address = ${address} ORDER BY received_at DESC, id DESC LIMIT ${limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("reading bounce events"))
  )

  const forMail = Effect.fn("BounceEvents.forMail")(
    function* (key: LedgerKey) {
      const rows =
        yield* sql`SELECT * FROM bounce_events WHERE sha256 = ${key.sha256} AND account = ${key.account} AND uid = ${key.uid} ORDER BY record_index`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("reading bounce events"))
  )

  const count = Effect.fn("BounceEvents.count")(
    function* (since: number) {
      const rows = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM bounce_events WHERE received_at >= ${since}`
      return num(rows[0]?.n ?? 0)
    },
    Effect.mapError(databaseError("counting bounce events"))
  )

  const reasonCounts = Effect.fn("BounceEvents.reasonCounts")(
    function* (range: { readonly from: number; readonly to: number }) {
      const rows = yield* sql<{ type: BounceType; reason: Reason; n: unknown }>`SELECT type, reason, COUNT(*) AS n
        FROM bounce_events WHERE received_at >= ${range.from} AND received_at < ${range.to} AND kind = 'bounce'
        GROUP BY type, reason ORDER BY reason, type`
      return rows.map((row): ReasonCount => ({ type: row.type, reason: row.reason, count: num(row.n) }))
    },
    Effect.mapError(databaseError("counting bounce events by reason"))
  )

  const correlationCounts = Effect.fn("BounceEvents.correlationCounts")(
    function* (range: { readonly from: number; readonly to: number }) {
      const rows = yield* sql<{
        source: CorrelationSource
        against: CountedAgainst
        n: unknown
      }>`SELECT correlation_source AS source, counted_against AS against, COUNT(*) AS n
        FROM bounce_events WHERE received_at >= ${range.from} AND received_at < ${range.to}
        AND kind IN ('bounce', 'complaint')
        GROUP BY correlation_source, counted_against ORDER BY correlation_source, counted_against`
      return rows.map((row): CorrelationCount => ({
        source: row.source,
        countedAgainst: row.against,
        count: num(row.n)
      }))
    },
    Effect.mapError(databaseError("counting bounce events by correlation"))
  )

  return BounceEvents.of({ insert, forAddress, forMail, count, reasonCounts, correlationCounts })
})

export const layer = Layer.effect(BounceEvents, make)
