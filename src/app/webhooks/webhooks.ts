import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { databaseError, type StoreError } from "../../adapters/store/errors.js"
import type { HistoryEntry } from "../../adapters/store/model.js"
import * as WebhookOutboxRepo from "../../adapters/store/webhook-outbox.js"
import { type OutboxEntry, type OutboxEvent, WebhookOutbox } from "../../adapters/store/webhook-outbox.js"
import * as ReadModelRepo from "../http/read-model.js"
import { type BounceRow, ReadModel } from "../http/read-model.js"
import { webhookAttemptsTotal } from "../metrics.js"
import { type WebhookConfig, webhookConfig, type WebhookEventType } from "./config.js"
import { signatureHeader, signatureValue } from "./signature.js"

/** An event to announce: `id` is stable, so offering the same event twice queues it once. */
export interface WebhookEvent {
  readonly id: string
  readonly type: WebhookEventType
  /** Clock time of what happened */
  readonly at: number
  readonly data: Readonly<Record<string, unknown>>
}

export interface WebhookPass {
  readonly queued: number
  readonly delivered: number
  readonly retried: number
  readonly failed: number
}

/**
 * Webhooks: events go to an outbox table in the store (in the transaction that reads them from the address history
 * and the bounce events, or when an alert is raised), and a loop POSTs them, signed, to every URL until each
 * answers 2xx, retrying with backoff. Delivery is at least once: receivers deduplicate on `id`.
 */
export class Webhooks extends Context.Tag("rebound/Webhooks/Webhooks")<
  Webhooks,
  {
    /** Queues an event for every URL (nothing happens without URLs, or for a type not configured). */
    readonly publish: (event: WebhookEvent) => Effect.Effect<void, StoreError>
    /** One pass: the feeds into the outbox, then the deliveries that are due. */
    readonly runOnce: Effect.Effect<WebhookPass, StoreError>
  }
>() {}

const iso = (millis: number) => new Date(millis).toISOString()

/** The webhook event an address history line announces, if any. */
export const historyEvent = (entry: HistoryEntry & { readonly id: number }): WebhookEvent | null => {
  const type: WebhookEventType | null =
    entry.to === "quarantined" && entry.from !== "quarantined"
      ? "address.quarantined"
      : entry.to === "denylisted" && entry.from !== "denylisted"
        ? "address.denylisted"
        : entry.to === "allowlisted" && entry.from !== "allowlisted"
          ? "address.allowlisted"
          : (entry.cause === "release" || entry.cause === "timed-release") &&
              (entry.from === "quarantined" || entry.from === "denylisted")
            ? "address.released"
            : null
  if (type === null) return null
  return {
    id: `history-${entry.id}`,
    type,
    at: entry.at,
    data: {
      address: entry.address,
      from: entry.from,
      to: entry.to,
      cause: entry.cause,
      reason: entry.reason,
      suspect: entry.suspect,
      errorCount: entry.errorCount,
      who: entry.who,
      why: entry.why
    }
  }
}

/** The webhook event of a stored complaint (ARF report). */
export const complaintEvent = (row: BounceRow): WebhookEvent => ({
  id: `event-${row.id}`,
  type: "complaint",
  at: row.receivedAt,
  data: {
    address: row.address,
    recipient: row.recipient,
    domain: row.domain,
    feedbackType: row.feedbackType,
    deliveryId: row.deliveryId,
    messageId: row.messageId,
    account: row.account
  }
})

/** The JSON body of an event, exactly as it is signed and sent. */
export const payloadOf = (event: WebhookEvent): string =>
  JSON.stringify({ id: event.id, type: event.type, createdAt: iso(event.at), data: event.data })

/** The delay before attempt `attempts + 1`: doubling from the initial backoff, capped, with up to 20% jitter. */
export const backoffMillis = (config: WebhookConfig, attempts: number, jitter: number): number => {
  const base = Math.min(config.maxBackoffSeconds, config.initialBackoffSeconds * 2 ** Math.max(0, attempts - 1))
  return Math.round(base * 1000 * (1 - 0.2 * jitter))
}

const lookbackMillis = 60_000
/** how often the look-back runs: often enough that a line committed within 50 s of its time is still seen */
const lookbackEvery = 10_000
const feedBatch = 1000

export const make = (config: WebhookConfig) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* WebhookOutbox
    const readModel = yield* ReadModel
    const client = yield* HttpClient.HttpClient
    const wanted = new Set<string>(config.events)
    const enabled = config.urls.length > 0 && config.secret !== undefined
    const secret = config.secret === undefined ? "" : Redacted.value(config.secret)
    // transactions committed out of id order (PostgreSQL's sequences) are caught by looking back a minute
    const outOfOrder = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
    // several processes on one PostgreSQL: one feeds at a time (the others skip the pass); the lock ends with the
    // transaction, so a killed process holds it no longer than its connection. Deliveries are claimed row by row.
    const feedTurn = sql.onDialectOrElse({
      pg: () =>
        Effect.map(
          sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(hashtext('rebound:webhook-feed')) AS locked`,
          (rows) => rows[0]?.locked === true
        ),
      orElse: () => Effect.succeed(true)
    })
    const lastPurge = yield* Ref.make(0)
    const lastLookback = yield* Ref.make(0)
    const sqlFailure = (doing: string) => (error: SqlError | StoreError) =>
      error._tag === "StoreError" ? error : databaseError(doing)(error)

    const toOutbox = (events: ReadonlyArray<WebhookEvent>): Array<OutboxEvent> =>
      events
        .filter((event) => wanted.has(event.type))
        .map((event) => ({ eventId: event.id, eventType: event.type, payload: payloadOf(event), createdAt: event.at }))

    const publish = (event: WebhookEvent) =>
      enabled ? Effect.asVoid(outbox.enqueue(toOutbox([event]), config.urls)) : Effect.void

    const feed = (now: number) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            if (!(yield* feedTurn)) return 0
            let queued = 0
            const historyCursor = yield* outbox.cursor("address_history")
            const eventsCursor = yield* outbox.cursor("bounce_events")
            if (Option.isNone(historyCursor) || Option.isNone(eventsCursor)) {
              // first start: announce what happens from now on, not the whole past
              const last = yield* readModel.lastIds
              if (Option.isNone(historyCursor)) yield* outbox.setCursor("address_history", last.history, now)
              if (Option.isNone(eventsCursor)) yield* outbox.setCursor("bounce_events", last.events, now)
              return 0
            }
            const lines = yield* readModel.historyAfter(historyCursor.value, feedBatch)
            const lookBack = outOfOrder && now - (yield* Ref.get(lastLookback)) >= lookbackEvery
            if (lookBack) yield* Ref.set(lastLookback, now)
            const late = lookBack ? yield* readModel.historySince(now - lookbackMillis, feedBatch) : []
            const complaints = yield* readModel.eventsAfter(eventsCursor.value, ["complaint"], feedBatch)
            const events = [
              ...[...lines, ...late].flatMap((line) => historyEvent(line) ?? []),
              ...complaints.map(complaintEvent)
            ]
            queued += yield* outbox.enqueue(toOutbox(events), config.urls)
            if (lines.length > 0) yield* outbox.setCursor("address_history", lines[lines.length - 1]!.id, now)
            if (complaints.length > 0)
              yield* outbox.setCursor("bounce_events", complaints[complaints.length - 1]!.id, now)
            return queued
          })
        )
        .pipe(Effect.mapError(sqlFailure("queueing webhook events")))

    const attempt = (entry: OutboxEntry, now: number) =>
      Effect.gen(function* () {
        const timestamp = Math.floor(now / 1000)
        const request = HttpClientRequest.post(entry.url).pipe(
          HttpClientRequest.bodyText(entry.payload, "application/json"),
          HttpClientRequest.setHeaders({
            [signatureHeader]: signatureValue(secret, timestamp, entry.payload),
            "x-rebound-event": entry.eventType,
            "x-rebound-delivery": entry.eventId,
            "user-agent": "rebound-webhooks"
          })
        )
        const outcome = yield* client.execute(request).pipe(
          Effect.map((response) => response.status),
          Effect.scoped,
          Effect.timeoutFail({
            duration: `${config.timeoutSeconds} seconds`,
            onTimeout: () => new Error(`no answer within ${config.timeoutSeconds} s`)
          }),
          Effect.either
        )
        const done = yield* Clock.currentTimeMillis
        if (outcome._tag === "Right" && outcome.right >= 200 && outcome.right < 300) {
          yield* outbox.markDelivered(entry.id, outcome.right, done)
          yield* Metric.increment(Metric.tagged(webhookAttemptsTotal, "result", "delivered"))
          return "delivered" as const
        }
        const status = outcome._tag === "Right" ? outcome.right : null
        const error = outcome._tag === "Right" ? `HTTP ${outcome.right}` : outcome.left.message
        const giveUp = entry.attempts >= config.maxAttempts
        const retryAt = giveUp ? null : done + backoffMillis(config, entry.attempts, yield* Random.next)
        yield* outbox.markFailed(entry.id, { status, error, retryAt })
        yield* Metric.increment(Metric.tagged(webhookAttemptsTotal, "result", giveUp ? "failed" : "retry"))
        if (giveUp)
          yield* Effect.logError("webhook delivery given up").pipe(
            Effect.annotateLogs({ url: entry.url, event: entry.eventId, attempts: entry.attempts, error })
          )
        else
          yield* Effect.logWarning("webhook delivery failed, will retry").pipe(
            Effect.annotateLogs({ url: entry.url, event: entry.eventId, attempt: entry.attempts, error })
          )
        return giveUp ? ("failed" as const) : ("retried" as const)
      })

    const runOnce = Effect.gen(function* () {
      if (!enabled) return { queued: 0, delivered: 0, retried: 0, failed: 0 }
      const now = yield* Clock.currentTimeMillis
      const queued = yield* feed(now)
      const due = yield* outbox.claimDue(now, (config.timeoutSeconds + 30) * 1000, 64)
      const results = yield* Effect.forEach(due, (entry) => attempt(entry, now), { concurrency: 8 })
      if (now - (yield* Ref.get(lastPurge)) > 3_600_000) {
        yield* Ref.set(lastPurge, now)
        yield* outbox.purge(now - config.retentionDays * 86_400_000)
      }
      return {
        queued,
        delivered: results.filter((r) => r === "delivered").length,
        retried: results.filter((r) => r === "retried").length,
        failed: results.filter((r) => r === "failed").length
      }
    }).pipe(Effect.withSpan("Webhooks.runOnce"))

    return Webhooks.of({ publish, runOnce })
  })

/**
 * Webhooks for as long as the layer lives: the outbox is fed and delivered every `pollMillis`. Without URLs the
 * service only drops what is published.
 */
export const layerService = (
  config: WebhookConfig
): Layer.Layer<Webhooks, never, SqlClient.SqlClient | ReadModel | WebhookOutbox | HttpClient.HttpClient> =>
  Layer.scoped(
    Webhooks,
    Effect.gen(function* () {
      const webhooks = yield* make(config)
      if (config.urls.length > 0) {
        yield* Effect.logInfo(`webhooks to ${config.urls.length} URL(s): ${config.events.join(", ")}`)
        yield* webhooks.runOnce.pipe(
          Effect.catchAll((error) => Effect.logError("webhook pass failed", error)),
          Effect.repeat(Schedule.spaced(`${config.pollMillis} millis`)),
          Effect.forkScoped
        )
      }
      return webhooks
    })
  )

/** Webhooks over the store's SQL client, with their outbox, the read model and a fetch-based HTTP client. */
export const layer = (config: WebhookConfig): Layer.Layer<Webhooks, never, SqlClient.SqlClient> =>
  layerService(config).pipe(
    Layer.provide(Layer.mergeAll(WebhookOutboxRepo.layer, ReadModelRepo.layer, FetchHttpClient.layer))
  )

/** Webhooks configured by WEBHOOK_URLS, WEBHOOK_SECRET, WEBHOOK_EVENTS, ... */
export const layerConfig: Layer.Layer<Webhooks, ConfigError.ConfigError, SqlClient.SqlClient> = Layer.unwrapEffect(
  Effect.map(webhookConfig, layer)
)
