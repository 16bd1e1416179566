import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { databaseError, type StoreError } from "../../adapters/store/errors.js"
import { num, numOrNull } from "../../adapters/store/values.js"

export const AlertSeverity = Schema.Literal("warning", "critical")
export type AlertSeverity = typeof AlertSeverity.Type

/** What an alert is about, as a rule raises it. `key` identifies it while it is open (kind + subject). */
export interface AlertInput {
  readonly key: string
  readonly kind: string
  readonly subject: string
  readonly severity: AlertSeverity
  readonly message: string
  readonly details: Readonly<Record<string, unknown>>
}

export interface Alert extends AlertInput {
  readonly id: number
  readonly openedAt: number
  readonly updatedAt: number
  readonly resolvedAt: number | null
}

/** The alert log: at most one open alert per key; resolved alerts stay for the record. */
export class AlertLog extends Context.Tag("rebound/Alerts/AlertLog")<
  AlertLog,
  {
    /** Opens the alert, or refreshes its message and details when it is already open (then returns None). */
    readonly open: (alert: AlertInput, now: number) => Effect.Effect<Option.Option<Alert>, StoreError>
    /** Resolves the open alert with this key; None when none was open. */
    readonly resolve: (key: string, now: number) => Effect.Effect<Option.Option<Alert>, StoreError>
    readonly openAlerts: Effect.Effect<ReadonlyArray<Alert>, StoreError>
    /** Newest first. */
    readonly list: (options: {
      readonly state: "open" | "all"
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<Alert>, StoreError>
  }
>() {}

const fromRow = (row: any): Alert => ({
  id: num(row.id),
  key: row.alert_key,
  kind: row.kind,
  subject: row.subject,
  severity: row.severity,
  message: row.message,
  details: JSON.parse(row.details),
  openedAt: num(row.opened_at),
  updatedAt: num(row.updated_at),
  resolvedAt: numOrNull(row.resolved_at)
})

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const open = Effect.fn("AlertLog.open")(
    function* (alert: AlertInput, now: number) {
      const details = JSON.stringify(alert.details)
      const inserted = yield* sql`INSERT INTO alerts ${sql.insert({
        alert_key: alert.key,
        kind: alert.kind,
        subject: alert.subject,
        severity: alert.severity,
        message: alert.message,
        details,
        opened_at: now,
        updated_at: now
      })} ON CONFLICT (alert_key) WHERE resolved_at IS NULL DO NOTHING RETURNING *`
      if (inserted.length > 0) return Option.some(fromRow(inserted[0]))
      yield* sql`UPDATE alerts SET message = ${alert.message}, details = ${details}, severity = ${alert.severity},
        updated_at = ${now} WHERE alert_key = ${alert.key} AND resolved_at IS NULL`
      return Option.none<Alert>()
    },
    Effect.mapError(databaseError("opening an alert"))
  )

  const resolve = Effect.fn("AlertLog.resolve")(
    function* (key: string, now: number) {
      const rows = yield* sql`UPDATE alerts SET resolved_at = ${now}, updated_at = ${now}
        WHERE alert_key = ${key} AND resolved_at IS NULL RETURNING *`
      return Option.map(Option.fromNullable(rows[0]), fromRow)
    },
    Effect.mapError(databaseError("resolving an alert"))
  )

  const openAlerts = Effect.map(sql`SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY id`, (rows) =>
    rows.map(fromRow)
  ).pipe(Effect.mapError(databaseError("reading open alerts")), Effect.withSpan("AlertLog.openAlerts"))

  const list = Effect.fn("AlertLog.list")(
    function* (options: { readonly state: "open" | "all"; readonly limit: number }) {
      const where = options.state === "open" ? sql`resolved_at IS NULL` : sql`1 = 1`
      const rows = yield* sql`SELECT * FROM alerts WHERE ${where} ORDER BY id DESC LIMIT ${options.limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("listing alerts"))
  )

  return AlertLog.of({ open, resolve, openAlerts, list })
})

/** The alert log over the current `SqlClient` (the store's migrations create its table). */
export const layer = Layer.effect(AlertLog, make)
