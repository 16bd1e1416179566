import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { databaseError, type StoreError } from "./errors.js"
import { chunksFor, num, numOrNull, textOrNull } from "./values.js"

/** Where a webhook delivery stands: waiting (first try or a retry), done, or given up after the last attempt. */
export const OutboxState = Schema.Literal("pending", "delivered", "failed")
export type OutboxState = typeof OutboxState.Type

/** One event for one receiving URL. */
export interface OutboxEntry {
  readonly id: number
  /** the event's stable id: the same event is queued once per URL, however often it is offered */
  readonly eventId: string
  readonly url: string
  readonly eventType: string
  /** the JSON body, byte for byte as it is signed and sent */
  readonly payload: string
  readonly createdAt: number
  readonly state: OutboxState
  readonly attempts: number
  readonly nextAttemptAt: number
  readonly lastStatus: number | null
  readonly lastError: string | null
  readonly deliveredAt: number | null
}

/** An event to queue for every configured URL. */
export interface OutboxEvent {
  readonly eventId: string
  readonly eventType: string
  readonly payload: string
  readonly createdAt: number
}

/**
 * The webhook outbox: events wait here until each receiving URL has taken them, so a restart or a receiver that is
 * down loses nothing. Claiming leases a row (its next attempt moves to the end of the lease), so a process that dies
 * while sending leaves the row to be retried by any process once the lease runs out.
 */
export class WebhookOutbox extends Context.Tag("rebound/Store/WebhookOutbox")<
  WebhookOutbox,
  {
    /** Queues each event for each URL; an event already queued for a URL is left alone. Returns the rows added. */
    readonly enqueue: (
      events: ReadonlyArray<OutboxEvent>,
      urls: ReadonlyArray<string>
    ) => Effect.Effect<number, StoreError>
    /** Leases up to `limit` pending rows due at `now` until `now + leaseMillis`, counting an attempt on each. */
    readonly claimDue: (
      now: number,
      leaseMillis: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<OutboxEntry>, StoreError>
    readonly markDelivered: (id: number, status: number, now: number) => Effect.Effect<void, StoreError>
    /** Records a failed attempt: retried at `retryAt`, or given up when it is null. */
    readonly markFailed: (
      id: number,
      failure: { readonly status: number | null; readonly error: string; readonly retryAt: number | null }
    ) => Effect.Effect<void, StoreError>
    /** Puts given-up rows back in the queue, due at `now` (an operator's retry). */
    readonly retryFailed: (now: number) => Effect.Effect<number, StoreError>
    /** The newest rows first. */
    readonly list: (options: {
      readonly state?: OutboxState
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<OutboxEntry>, StoreError>
    readonly counts: Effect.Effect<Readonly<Partial<Record<OutboxState, number>>>, StoreError>
    /** Deletes delivered and given-up rows created before `before`. */
    readonly purge: (before: number) => Effect.Effect<number, StoreError>
    /** The position a feed has queued up to (e.g. the last address history id). */
    readonly cursor: (name: string) => Effect.Effect<Option.Option<number>, StoreError>
    readonly setCursor: (name: string, position: number, now: number) => Effect.Effect<void, StoreError>
  }
>() {}

const fromRow = (row: any): OutboxEntry => ({
  id: num(row.id),
  eventId: row.event_id,
  url: row.url,
  eventType: row.event_type,
  payload: row.payload,
  createdAt: num(row.created_at),
  state: row.state,
  attempts: num(row.attempts),
  nextAttemptAt: num(row.next_attempt_at),
  lastStatus: numOrNull(row.last_status),
  lastError: textOrNull(row.last_error),
  deliveredAt: numOrNull(row.delivered_at)
})

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const skipLocked = sql.onDialectOrElse({
    pg: () => sql.literal("FOR UPDATE SKIP LOCKED"),
    orElse: () => sql.literal("")
  })

  const enqueue = Effect.fn("WebhookOutbox.enqueue")(
    function* (events: ReadonlyArray<OutboxEvent>, urls: ReadonlyArray<string>) {
      const rows = events.flatMap((event) =>
        urls.map((url) => ({
          event_id: event.eventId,
          url,
          event_type: event.eventType,
          payload: event.payload,
          created_at: event.createdAt,
          state: "pending",
          attempts: 0,
          next_attempt_at: event.createdAt
        }))
      )
      let added = 0
      for (const chunk of chunksFor(rows, 8)) {
        const inserted = yield* sql`INSERT INTO webhook_outbox ${sql.insert(chunk)}
          ON CONFLICT (event_id, url) DO NOTHING RETURNING id`
        added += inserted.length
      }
      return added
    },
    Effect.mapError(databaseError("queueing webhook events"))
  )

  const claimDue = Effect.fn("WebhookOutbox.claimDue")(
    function* (now: number, leaseMillis: number, limit: number) {
      const rows = yield* sql`UPDATE webhook_outbox SET next_attempt_at = ${now + leaseMillis}, attempts = attempts + 1
        WHERE id IN (SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= ${now}
          ORDER BY next_attempt_at, id LIMIT ${limit} ${skipLocked})
        RETURNING *`
      return rows.map(fromRow).sort((a, b) => a.id - b.id)
    },
    Effect.mapError(databaseError("claiming webhook deliveries"))
  )

  const markDelivered = Effect.fn("WebhookOutbox.markDelivered")(
    function* (id: number, status: number, now: number) {
      yield* sql`UPDATE webhook_outbox SET state = 'delivered', last_status = ${status}, last_error = NULL,
        delivered_at = ${now} WHERE id = ${id}`
    },
    Effect.mapError(databaseError("recording a webhook delivery"))
  )

  const markFailed = Effect.fn("WebhookOutbox.markFailed")(
    function* (
      id: number,
      failure: { readonly status: number | null; readonly error: string; readonly retryAt: number | null }
    ) {
      const state = failure.retryAt === null ? "failed" : "pending"
      yield* sql`UPDATE webhook_outbox SET state = ${state}, last_status = ${failure.status},
        last_error = ${failure.error.slice(0, 1000)}, next_attempt_at = ${failure.retryAt ?? 0} WHERE id = ${id}`
    },
    Effect.mapError(databaseError("recording a failed webhook delivery"))
  )

  const retryFailed = Effect.fn("WebhookOutbox.retryFailed")(
    function* (now: number) {
      const rows = yield* sql`UPDATE webhook_outbox SET state = 'pending', next_attempt_at = ${now}, attempts = 0
        WHERE state = 'failed' RETURNING id`
      return rows.length
    },
    Effect.mapError(databaseError("retrying webhook deliveries"))
  )

  const list = Effect.fn("WebhookOutbox.list")(
    function* (options: { readonly state?: OutboxState; readonly limit: number }) {
      const where = options.state === undefined ? sql`1 = 1` : sql`state = ${options.state}`
      const rows = yield* sql`SELECT * FROM webhook_outbox WHERE ${where} ORDER BY id DESC LIMIT ${options.limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("listing the webhook outbox"))
  )

  const counts = Effect.gen(function* () {
    const rows = yield* sql<{
      state: OutboxState
      n: unknown
    }>`SELECT state, COUNT(*) AS n FROM webhook_outbox GROUP BY state`
    return Object.fromEntries(rows.map((row) => [row.state, num(row.n)])) as Partial<Record<OutboxState, number>>
  }).pipe(Effect.mapError(databaseError("counting the webhook outbox")), Effect.withSpan("WebhookOutbox.counts"))

  const purge = Effect.fn("WebhookOutbox.purge")(
    function* (before: number) {
      const rows =
        yield* sql`DELETE FROM webhook_outbox WHERE state <> 'pending' AND created_at < ${before} RETURNING id`
      return rows.length
    },
    Effect.mapError(databaseError("purging the webhook outbox"))
  )

  const cursor = Effect.fn("WebhookOutbox.cursor")(
    function* (name: string) {
      const rows = yield* sql<{ position: unknown }>`SELECT position FROM webhook_cursors WHERE name = ${name}`
      return Option.map(Option.fromNullable(rows[0]), (row) => num(row.position))
    },
    Effect.mapError(databaseError("reading a webhook feed position"))
  )

  const setCursor = Effect.fn("WebhookOutbox.setCursor")(
    function* (name: string, position: number, now: number) {
      yield* sql`INSERT INTO webhook_cursors ${sql.insert({ name, position, updated_at: now })}
        ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
    },
    Effect.mapError(databaseError("saving a webhook feed position"))
  )

  return WebhookOutbox.of({
    enqueue,
    claimDue,
    markDelivered,
    markFailed,
    retryFailed,
    list,
    counts,
    purge,
    cursor,
    setCursor
  })
})

/** The outbox over the current `SqlClient` (the store's migrations create its table). */
export const layer = Layer.effect(WebhookOutbox, make)
