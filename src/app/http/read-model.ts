import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { NormalizedAddress } from "../../domain/address.js"
import type { AddressStatus } from "../../domain/quarantine.js"
import { bool, lookupChunks, num, numOrNull, textOrNull } from "../../adapters/store/values.js"
import type { HistoryEntry } from "../../adapters/store/model.js"
import { fromHistoryRow } from "../../adapters/store/address-states.js"
import { type DeliveryTotals, totalsFromRow } from "../../adapters/store/delivery-log.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A stored bounce event as the API lists it (the row id is its cursor). */
export interface BounceRow {
  readonly id: number
  readonly receivedAt: number
  readonly account: string
  readonly kind: string
  readonly dialect: string
  readonly recipient: string | null
  readonly address: string | null
  readonly domain: string | null
  readonly type: string
  readonly reason: string
  readonly campaignReason: string
  readonly status: string | null
  readonly replyCode: string | null
  readonly diagnostic: string | null
  readonly remoteMta: string | null
  readonly reportingMta: string | null
  readonly rule: string
  readonly feedbackType: string | null
  readonly deliveryId: string | null
  readonly messageId: string | null
  readonly correlation: string
  readonly countedAgainst: string
  readonly suspect: boolean
}

export interface BounceQuery {
  readonly from?: number | undefined
  readonly to?: number | undefined
  readonly address?: string | undefined
  readonly domain?: string | undefined
  readonly type?: string | undefined
  readonly reason?: string | undefined
  readonly kind?: string | undefined
  readonly deliveryId?: string | undefined
  readonly account?: string | undefined
  /** only rows with a smaller id (the previous page's last) */
  readonly before?: number | undefined
  readonly limit: number
}

/** A suppressing state found by `suppressed`. */
export interface SuppressedRow {
  readonly address: NormalizedAddress
  readonly status: AddressStatus
  readonly reason: string | null
  readonly quarantinedAt: number | null
  readonly suspect: boolean
}

export interface DomainCounters {
  readonly domain: string
  readonly counters: Readonly<Record<string, number>>
}

/** The messages of one delivery by their state, as the dashboard and the alerts read them. */
export type DeliveryCounters = DeliveryTotals

export interface TimelineCount {
  readonly bucket: number
  readonly kind: string
  readonly type: string
  readonly n: number
}

/**
 * The queries the API, the dashboard and the alerts read with: lists and aggregates over the store's tables that the
 * store's own repositories do not offer (paged bounce events, reports, batched suppression lookups).
 */
export class ReadModel extends Context.Tag("rebound/Http/ReadModel")<
  ReadModel,
  {
    readonly ping: Effect.Effect<void, SqlError>
    /** Of `addresses`, those whose state forbids sending (quarantined or denylisted). */
    readonly suppressed: (
      addresses: ReadonlyArray<NormalizedAddress>
    ) => Effect.Effect<ReadonlyArray<SuppressedRow>, SqlError>
    readonly bounces: (query: BounceQuery) => Effect.Effect<ReadonlyArray<BounceRow>, SqlError>
    readonly reasons: (
      from: number,
      to: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<{ type: string; reason: string; count: number; addresses: number }>, SqlError>
    readonly domains: (from: number, to: number) => Effect.Effect<ReadonlyArray<DomainCounters>, SqlError>
    /** Per delivery id with activity in [from, to): its messages and their latest states. */
    readonly deliveries: (
      from: number,
      to: number,
      limit: number,
      deliveryIds?: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyArray<DeliveryCounters>, SqlError>
    readonly timeline: (
      from: number,
      to: number,
      bucketMillis: number
    ) => Effect.Effect<ReadonlyArray<TimelineCount>, SqlError>
    /** Transitions into quarantine or the denylist in [from, to), newest first. */
    readonly quarantines: (
      from: number,
      to: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<HistoryEntry>, SqlError>
    /** History lines with an id above `after`, oldest first (the webhook feed). */
    readonly historyAfter: (
      after: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<HistoryEntry & { readonly id: number }>, SqlError>
    /** History lines at or after `since` (the feed's look-back for rows committed out of id order). */
    readonly historySince: (
      since: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<HistoryEntry & { readonly id: number }>, SqlError>
    /** Bounce events with an id above `after` of the given kinds, oldest first. */
    readonly eventsAfter: (
      after: number,
      kinds: ReadonlyArray<string>,
      limit: number
    ) => Effect.Effect<ReadonlyArray<BounceRow>, SqlError>
    readonly eventsSince: (
      since: number,
      kinds: ReadonlyArray<string>,
      limit: number
    ) => Effect.Effect<ReadonlyArray<BounceRow>, SqlError>
    /** Per receiving domain, events held by the outage guard received at or after `since`. */
    readonly suspectDomains: (
      since: number
    ) => Effect.Effect<ReadonlyArray<{ domain: string; events: number; last: number }>, SqlError>
    /** The highest ids of the address history and of the bounce events (0 when empty). */
    readonly lastIds: Effect.Effect<{ readonly history: number; readonly events: number }, SqlError>
    /** Delivery ids of events received at or after `since`. */
    readonly activeDeliveries: (since: number) => Effect.Effect<ReadonlyArray<string>, SqlError>
  }
>() {}

/**
 * Up to 16,384 values per `IN (...)` (under SQLite's 32,766 and PostgreSQL's 65,535 parameters), padded to a power
 * of two by repeating the last value so a few statement texts serve every size: one statement answers a 10,000
 * address check, where 1,024-value chunks took ten.
 */
const bigLookupChunks = <A>(values: ReadonlyArray<A>): Array<Array<A>> => {
  const chunks: Array<Array<A>> = []
  for (let i = 0; i < values.length; i += 16_384) {
    const chunk = values.slice(i, i + 16_384)
    const size = Math.max(8, 2 ** Math.ceil(Math.log2(chunk.length)))
    while (chunk.length < size) chunk.push(chunk[chunk.length - 1]!)
    chunks.push(chunk)
  }
  return chunks
}

const bounceFromRow = (row: any): BounceRow => {
  const details = typeof row.details === "string" ? JSON.parse(row.details) : (row.details ?? {})
  const text = (value: unknown): string | null => (typeof value === "string" ? value : null)
  return {
    id: num(row.id),
    receivedAt: num(row.received_at),
    account: row.account,
    kind: row.kind,
    dialect: text(details.dialect) ?? "unknown",
    recipient: text(details.recipient),
    address: textOrNull(row.address),
    domain: textOrNull(row.domain),
    type: row.type,
    reason: row.reason,
    campaignReason: text(details.campaignReason) ?? "Not defined",
    status: textOrNull(row.status),
    replyCode: text(details.replyCode),
    diagnostic: text(details.diagnostic),
    remoteMta: text(details.remoteMta),
    reportingMta: text(details.reportingMta),
    rule: row.rule,
    feedbackType: text(details.feedbackType),
    deliveryId: textOrNull(row.delivery_id),
    messageId: textOrNull(row.sent_message_id) ?? text(details.originalMessageId),
    correlation: row.correlation_source,
    countedAgainst: row.counted_against,
    suspect: bool(row.suspect)
  }
}

const historyFromRow = (row: any): HistoryEntry & { readonly id: number } => ({
  id: num(row.id),
  ...fromHistoryRow(row)
})

const bounceColumns = `id, received_at, account, kind, address, domain, type, reason, status, rule,
  correlation_source, delivery_id, sent_message_id, counted_against, suspect, details`

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const ping = Effect.asVoid(sql`SELECT 1 AS one`)

  const suppressed = Effect.fn("ReadModel.suppressed")(function* (addresses: ReadonlyArray<NormalizedAddress>) {
    const found: Array<SuppressedRow> = []
    for (const chunk of bigLookupChunks([...new Set(addresses)])) {
      // answered from the partial covering index address_states_suppressed (migration 2_webhook_outbox)
      const rows = yield* sql`SELECT address, status, quarantine_reason, quarantined_at, suspect FROM address_states
        WHERE address IN ${sql.in(chunk)} AND status IN ('quarantined', 'denylisted')`
      for (const row of rows)
        found.push({
          address: row.address as NormalizedAddress,
          status: row.status as AddressStatus,
          reason: textOrNull(row.quarantine_reason),
          quarantinedAt: numOrNull(row.quarantined_at),
          suspect: bool(row.suspect)
        })
    }
    return found
  })

  const bounces = Effect.fn("ReadModel.bounces")(function* (query: BounceQuery) {
    const conditions = [
      query.from === undefined ? undefined : sql`received_at >= ${query.from}`,
      query.to === undefined ? undefined : sql`received_at < ${query.to}`,
      query.address === undefined ? undefined : sql`address = ${query.address}`,
      query.domain === undefined ? undefined : sql`domain = ${query.domain}`,
      query.type === undefined ? undefined : sql`type = ${query.type}`,
      query.reason === undefined ? undefined : sql`reason = ${query.reason}`,
      query.kind === undefined ? sql`kind <> 'delivered'` : sql`kind = ${query.kind}`,
      query.deliveryId === undefined ? undefined : sql`delivery_id = ${query.deliveryId}`,
      query.account === undefined ? undefined : sql`account = ${query.account}`,
      query.before === undefined ? undefined : sql`id < ${query.before}`
    ].filter((c) => c !== undefined)
    const rows = yield* sql`SELECT ${sql.literal(bounceColumns)} FROM bounce_events WHERE ${sql.and(conditions)}
      ORDER BY id DESC LIMIT ${query.limit}`
    return rows.map(bounceFromRow)
  })

  const reasons = Effect.fn("ReadModel.reasons")(function* (from: number, to: number, limit: number) {
    const rows = yield* sql`SELECT type, reason, COUNT(*) AS n, COUNT(DISTINCT address) AS a FROM bounce_events
      WHERE received_at >= ${from} AND received_at < ${to} AND kind = 'bounce'
      GROUP BY type, reason ORDER BY n DESC, reason LIMIT ${limit}`
    return rows.map((row: any) => ({ type: row.type, reason: row.reason, count: num(row.n), addresses: num(row.a) }))
  })

  const domains = Effect.fn("ReadModel.domains")(function* (from: number, to: number) {
    const rows = yield* sql`SELECT domain, counter, SUM(n) AS n FROM domain_counts
      WHERE hour >= ${Math.floor(from / HOUR)} AND hour < ${Math.ceil(to / HOUR)} GROUP BY domain, counter`
    const byDomain = new Map<string, Record<string, number>>()
    for (const row of rows as ReadonlyArray<any>) {
      const counters = byDomain.get(row.domain) ?? {}
      counters[row.counter] = num(row.n)
      byDomain.set(row.domain, counters)
    }
    return [...byDomain].map(([domain, counters]) => ({ domain, counters }))
  })

  const deliveries = Effect.fn("ReadModel.deliveries")(function* (
    from: number,
    to: number,
    limit: number,
    deliveryIds?: ReadonlyArray<string>
  ) {
    const aggregate = (where: ReturnType<typeof sql.and>) => sql`SELECT delivery_id, COUNT(*) AS messages,
        SUM(CASE WHEN state = 'Failed' AND type = 'hard' THEN 1 ELSE 0 END) AS hard,
        SUM(CASE WHEN state = 'Failed' AND type = 'soft' THEN 1 ELSE 0 END) AS soft,
        SUM(CASE WHEN state = 'Delayed' THEN 1 ELSE 0 END) AS delayed,
        SUM(CASE WHEN state = 'Complained' THEN 1 ELSE 0 END) AS complaints,
        MAX(updated_at) AS last_update
      FROM delivery_log WHERE ${where} GROUP BY delivery_id
      HAVING MAX(updated_at) >= ${from} AND MIN(updated_at) < ${to}
      ORDER BY last_update DESC, delivery_id LIMIT ${limit}`
    const rows: Array<any> = []
    if (deliveryIds === undefined) {
      rows.push(...(yield* aggregate(sql.and([sql`delivery_id IS NOT NULL`]))))
    } else {
      for (const chunk of lookupChunks([...new Set(deliveryIds)]))
        rows.push(...(yield* aggregate(sql.and([sql`delivery_id IN ${sql.in(chunk)}`]))))
    }
    return rows.map(totalsFromRow)
  })

  const timeline = Effect.fn("ReadModel.timeline")(function* (from: number, to: number, bucketMillis: number) {
    const rows = yield* sql`SELECT received_at / ${bucketMillis} AS bucket, kind, type, COUNT(*) AS n
      FROM bounce_events WHERE received_at >= ${from} AND received_at < ${to}
      AND kind IN ('bounce', 'delay', 'complaint') GROUP BY bucket, kind, type`
    return rows.map((row: any) => ({
      bucket: Math.floor(num(row.bucket)),
      kind: row.kind,
      type: row.type,
      n: num(row.n)
    }))
  })

  const quarantines = Effect.fn("ReadModel.quarantines")(function* (from: number, to: number, limit: number) {
    const rows = yield* sql`SELECT * FROM address_history WHERE at >= ${from} AND at < ${to}
      AND to_status IN ('quarantined', 'denylisted') AND from_status <> to_status ORDER BY at DESC, id DESC LIMIT ${limit}`
    return rows.map(historyFromRow)
  })

  const historyAfter = Effect.fn("ReadModel.historyAfter")(function* (after: number, limit: number) {
    const rows = yield* sql`SELECT * FROM address_history WHERE id > ${after} ORDER BY id LIMIT ${limit}`
    return rows.map(historyFromRow)
  })

  const historySince = Effect.fn("ReadModel.historySince")(function* (since: number, limit: number) {
    const rows = yield* sql`SELECT * FROM address_history WHERE at >= ${since} ORDER BY id LIMIT ${limit}`
    return rows.map(historyFromRow)
  })

  const eventsAfter = Effect.fn("ReadModel.eventsAfter")(function* (
    after: number,
    kinds: ReadonlyArray<string>,
    limit: number
  ) {
    const rows = yield* sql`SELECT ${sql.literal(bounceColumns)} FROM bounce_events
      WHERE id > ${after} AND kind IN ${sql.in(kinds)} ORDER BY id LIMIT ${limit}`
    return rows.map(bounceFromRow)
  })

  const eventsSince = Effect.fn("ReadModel.eventsSince")(function* (
    since: number,
    kinds: ReadonlyArray<string>,
    limit: number
  ) {
    const rows = yield* sql`SELECT ${sql.literal(bounceColumns)} FROM bounce_events
      WHERE received_at >= ${since} AND kind IN ${sql.in(kinds)} ORDER BY id LIMIT ${limit}`
    return rows.map(bounceFromRow)
  })

  const suspectDomains = Effect.fn("ReadModel.suspectDomains")(function* (since: number) {
    const rows = yield* sql`SELECT domain, COUNT(*) AS n, MAX(received_at) AS last FROM bounce_events
      WHERE received_at >= ${since} AND suspect = 1 AND domain IS NOT NULL GROUP BY domain`
    return rows.map((row: any) => ({ domain: row.domain as string, events: num(row.n), last: num(row.last) }))
  })

  const activeDeliveries = Effect.fn("ReadModel.activeDeliveries")(function* (since: number) {
    const rows = yield* sql`SELECT DISTINCT delivery_id AS id FROM bounce_events
      WHERE received_at >= ${since} AND delivery_id IS NOT NULL`
    return rows.map((row: any) => row.id as string)
  })

  const lastIds = Effect.gen(function* () {
    const history = yield* sql<{ id: unknown }>`SELECT MAX(id) AS id FROM address_history`
    const events = yield* sql<{ id: unknown }>`SELECT MAX(id) AS id FROM bounce_events`
    return { history: num(history[0]?.id ?? 0), events: num(events[0]?.id ?? 0) }
  }).pipe(Effect.withSpan("ReadModel.lastIds"))

  return ReadModel.of({
    ping,
    lastIds,
    suppressed,
    bounces,
    reasons,
    domains,
    deliveries,
    timeline,
    quarantines,
    historyAfter,
    historySince,
    eventsAfter,
    eventsSince,
    suspectDomains,
    activeDeliveries
  })
})

export const layer = Layer.effect(ReadModel, make)

export { DAY, HOUR }
