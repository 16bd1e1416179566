import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { NormalizedAddress } from "../../domain/address.js"
import { databaseError, type StoreError } from "./errors.js"
import type { LedgerKey, StoredBounceEvent } from "./model.js"
import { bool, chunksFor, flag, num, textOrNull } from "./values.js"

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
  }
>() {}

const toRow = (event: StoredBounceEvent) => ({
  account: event.key.account,
  uid: event.key.uid,
  sha256: event.key.sha256,
  record_index: event.recordIndex,
  received_at: event.receivedAt,
  mail_kind: event.mailKind,
  dialect: event.dialect,
  report_message_id: event.reportMessageId,
  report_from: event.reportFrom,
  report_subject: event.reportSubject,
  report_date: event.reportDate,
  kind: event.kind,
  recipient: event.recipient,
  address: event.address,
  domain: event.domain,
  original_recipient: event.originalRecipient,
  action: event.action,
  status: event.status,
  reply_code: event.replyCode,
  diagnostic: event.diagnostic,
  diagnostic_type: event.diagnosticType,
  remote_mta: event.remoteMta,
  reporting_mta: event.reportingMta,
  last_attempt_date: event.lastAttemptDate,
  will_retry_until: event.willRetryUntil,
  type: event.type,
  reason: event.reason,
  campaign_reason: event.campaignReason,
  rule: event.rule,
  feedback_type: event.feedbackType,
  original_message_id: event.originalMessageId,
  original_envelope_id: event.originalEnvelopeId,
  correlation_method: event.correlationMethod,
  correlation_verified: flag(event.correlationVerified),
  correlation_value: event.correlationValue,
  correlation_instance: event.correlationInstance,
  correlation_delivery_id: event.correlationDeliveryId,
  correlation_recipient_id: event.correlationRecipientId,
  correlation_source: event.correlationSource,
  sent_message_id: event.sentMessageId,
  counted_against: event.countedAgainst,
  suspect: flag(event.suspect)
})

const columnCount = Object.keys(toRow({ key: {} } as StoredBounceEvent)).length

const fromRow = (row: any): StoredBounceEvent => ({
  key: { account: row.account, uid: row.uid, sha256: row.sha256 },
  recordIndex: num(row.record_index),
  receivedAt: num(row.received_at),
  mailKind: row.mail_kind,
  dialect: row.dialect,
  reportMessageId: textOrNull(row.report_message_id),
  reportFrom: textOrNull(row.report_from),
  reportSubject: textOrNull(row.report_subject),
  reportDate: textOrNull(row.report_date),
  kind: row.kind,
  recipient: textOrNull(row.recipient),
  address: textOrNull<NormalizedAddress>(row.address),
  domain: textOrNull(row.domain),
  originalRecipient: textOrNull(row.original_recipient),
  action: textOrNull(row.action),
  status: textOrNull(row.status),
  replyCode: textOrNull(row.reply_code),
  diagnostic: textOrNull(row.diagnostic),
  diagnosticType: textOrNull(row.diagnostic_type),
  remoteMta: textOrNull(row.remote_mta),
  reportingMta: textOrNull(row.reporting_mta),
  lastAttemptDate: textOrNull(row.last_attempt_date),
  willRetryUntil: textOrNull(row.will_retry_until),
  type: row.type,
  reason: row.reason,
  campaignReason: row.campaign_reason,
  rule: row.rule,
  feedbackType: textOrNull(row.feedback_type),
  originalMessageId: textOrNull(row.original_message_id),
  originalEnvelopeId: textOrNull(row.original_envelope_id),
  correlationMethod: row.correlation_method,
  correlationVerified: bool(row.correlation_verified),
  correlationValue: textOrNull(row.correlation_value),
  correlationInstance: textOrNull(row.correlation_instance),
  correlationDeliveryId: textOrNull(row.correlation_delivery_id),
  correlationRecipientId: textOrNull(row.correlation_recipient_id),
  correlationSource: row.correlation_source,
  sentMessageId: textOrNull(row.sent_message_id),
  countedAgainst: row.counted_against,
  suspect: bool(row.suspect)
})

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insert = Effect.fn("BounceEvents.insert")(
    function* (events: ReadonlyArray<StoredBounceEvent>) {
      for (const chunk of chunksFor(events, columnCount)) {
        yield* sql`INSERT INTO bounce_events ${sql.insert(chunk.map(toRow))} ON CONFLICT DO NOTHING`
      }
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

  return BounceEvents.of({ insert, forAddress, forMail, count })
})

export const layer = Layer.effect(BounceEvents, make)
