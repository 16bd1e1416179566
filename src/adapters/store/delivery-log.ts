import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { databaseError, type StoreError } from "./errors.js"
import type { DeliveryLogEntry } from "./model.js"
import { num, rowInserter, textOrNull } from "./values.js"

/** The delivery log: per sent message, its latest meaningful state (Sent, Delayed, Failed, Complained). */
export class DeliveryLog extends Context.Tag("rebound/Store/DeliveryLog")<
  DeliveryLog,
  {
    /** Records states; an entry replaces the stored one only if its rank is equal or higher. */
    readonly merge: (entries: ReadonlyArray<DeliveryLogEntry>) => Effect.Effect<void, StoreError>
    readonly get: (messageKey: string) => Effect.Effect<Option.Option<DeliveryLogEntry>, StoreError>
    readonly forDelivery: (deliveryId: string) => Effect.Effect<ReadonlyArray<DeliveryLogEntry>, StoreError>
    /** Per delivery with an entry updated in [from, to): its messages by state, most recently active first. */
    readonly totals: (range: {
      readonly from: number
      readonly to: number
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<DeliveryTotals>, StoreError>
  }
>() {}

/** The messages of one delivery by their state in the log. */
export interface DeliveryTotals {
  readonly deliveryId: string
  readonly messages: number
  readonly hard: number
  readonly soft: number
  readonly delayed: number
  readonly complaints: number
  readonly lastUpdate: number
}

/** A row of `delivery_id, messages, hard, soft, delayed, complaints, last_update`, as the totals queries select it. */
export const totalsFromRow = (row: any): DeliveryTotals => ({
  deliveryId: row.delivery_id,
  messages: num(row.messages),
  hard: num(row.hard),
  soft: num(row.soft),
  delayed: num(row.delayed),
  complaints: num(row.complaints),
  lastUpdate: num(row.last_update)
})

const fromRow = (row: any): DeliveryLogEntry => ({
  messageKey: row.message_key,
  deliveryId: textOrNull(row.delivery_id),
  recipient: textOrNull(row.recipient),
  state: row.state,
  rank: num(row.state_rank),
  type: textOrNull(row.type),
  reason: textOrNull(row.reason),
  text: textOrNull(row.text),
  updatedAt: num(row.updated_at)
})

/** Keeps, per message, the entry a sequential merge would keep, so one statement never touches a row twice. */
const strongest = (entries: ReadonlyArray<DeliveryLogEntry>): Array<DeliveryLogEntry> => {
  const byKey = new Map<string, DeliveryLogEntry>()
  for (const entry of entries) {
    const current = byKey.get(entry.messageKey)
    if (current === undefined || entry.rank >= current.rank) byKey.set(entry.messageKey, entry)
  }
  return [...byKey.keys()].sort().map((key) => byKey.get(key)!)
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insertRows = rowInserter(
    sql,
    "INSERT INTO delivery_log (message_key, delivery_id, recipient, state, state_rank, type, reason, text, updated_at)",
    9,
    `ON CONFLICT (message_key) DO UPDATE SET
        delivery_id = COALESCE(excluded.delivery_id, delivery_log.delivery_id),
        recipient = COALESCE(excluded.recipient, delivery_log.recipient),
        state = excluded.state, state_rank = excluded.state_rank, type = excluded.type, reason = excluded.reason,
        text = excluded.text, updated_at = excluded.updated_at
      WHERE excluded.state_rank >= delivery_log.state_rank`
  )

  const merge = Effect.fn("DeliveryLog.merge")(
    function* (entries: ReadonlyArray<DeliveryLogEntry>) {
      yield* insertRows(strongest(entries), (params, e: DeliveryLogEntry) => {
        params.push(e.messageKey, e.deliveryId, e.recipient, e.state, e.rank, e.type, e.reason, e.text, e.updatedAt)
      })
    },
    Effect.mapError(databaseError("updating the delivery log"))
  )

  const get = Effect.fn("DeliveryLog.get")(
    function* (messageKey: string) {
      const rows = yield* sql`SELECT * FROM delivery_log WHERE message_key = ${messageKey}`
      return Option.map(Option.fromNullable(rows[0]), fromRow)
    },
    Effect.mapError(databaseError("reading the delivery log"))
  )

  const forDelivery = Effect.fn("DeliveryLog.forDelivery")(
    function* (deliveryId: string) {
      const rows = yield* sql`SELECT * FROM delivery_log WHERE delivery_id = ${deliveryId} ORDER BY message_key`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("reading the delivery log"))
  )

  const totals = Effect.fn("DeliveryLog.totals")(
    function* (range: { readonly from: number; readonly to: number; readonly limit: number }) {
      const rows = yield* sql`SELECT delivery_id, COUNT(*) AS messages,
          SUM(CASE WHEN state = 'Failed' AND type = 'hard' THEN 1 ELSE 0 END) AS hard,
          SUM(CASE WHEN state = 'Failed' AND type = 'soft' THEN 1 ELSE 0 END) AS soft,
          SUM(CASE WHEN state = 'Delayed' THEN 1 ELSE 0 END) AS delayed,
          SUM(CASE WHEN state = 'Complained' THEN 1 ELSE 0 END) AS complaints,
          MAX(updated_at) AS last_update
        FROM delivery_log WHERE delivery_id IN (
          SELECT DISTINCT delivery_id FROM delivery_log
          WHERE updated_at >= ${range.from} AND updated_at < ${range.to} AND delivery_id IS NOT NULL
        ) GROUP BY delivery_id ORDER BY last_update DESC, delivery_id LIMIT ${range.limit}`
      return rows.map(totalsFromRow)
    },
    Effect.mapError(databaseError("totalling deliveries"))
  )

  return DeliveryLog.of({ merge, get, forDelivery, totals })
})

export const layer = Layer.effect(DeliveryLog, make)
