import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { domainOf, type NormalizedAddress } from "../../domain/address.js"
import {
  type AddressState,
  type AddressStatus,
  initialState,
  type QuarantinePolicy,
  statusOf
} from "../../domain/quarantine.js"
import type { Reason } from "../../domain/report.js"
import { databaseError, type StoreError } from "./errors.js"
import type { HistoryEntry, StoredAddressState } from "./model.js"
import { bool, DAY, flag, lookupChunks, num, numOrNull, rowInserter, textOrNull } from "./values.js"

/** Which quarantined addresses a bulk operation applies to. Addresses on a list are never selected. */
export interface QuarantineFilter {
  readonly domain?: string
  readonly reason?: Reason
  /** quarantined at or after */
  readonly from?: number
  /** quarantined before */
  readonly to?: number
  readonly suspectOnly?: boolean
}

export interface AddressListFilter {
  readonly status?: AddressStatus
  readonly domain?: string
  readonly suspect?: boolean
  /** the reason of the quarantine */
  readonly reason?: Reason
  /** quarantined at or after */
  readonly from?: number
  /** quarantined before */
  readonly to?: number
  readonly limit: number
}

/** Address states and their history (who, when, why). */
export class AddressStates extends Context.Tag("rebound/Store/AddressStates")<
  AddressStates,
  {
    readonly get: (address: NormalizedAddress) => Effect.Effect<Option.Option<StoredAddressState>, StoreError>
    /**
     * The states of `addresses` for an update in the current transaction: rows are created for unknown addresses
     * (so concurrent writers meet on the row) and locked on PostgreSQL, in address order to avoid deadlocks.
     */
    readonly lock: (
      addresses: ReadonlyArray<NormalizedAddress>,
      now: number
    ) => Effect.Effect<Map<NormalizedAddress, StoredAddressState>, StoreError>
    /** Writes states and appends history lines. */
    readonly save: (
      states: ReadonlyArray<StoredAddressState>,
      history: ReadonlyArray<HistoryEntry>
    ) => Effect.Effect<void, StoreError>
    /** The history of an address, oldest first. */
    readonly history: (address: NormalizedAddress) => Effect.Effect<ReadonlyArray<HistoryEntry>, StoreError>
    readonly list: (filter: AddressListFilter) => Effect.Effect<ReadonlyArray<StoredAddressState>, StoreError>
    /** Quarantined, unlisted addresses matching `filter`, at most `limit`. */
    readonly quarantined: (
      filter: QuarantineFilter,
      limit: number
    ) => Effect.Effect<ReadonlyArray<NormalizedAddress>, StoreError>
    /** How many addresses `quarantined` would select with no limit. */
    readonly countQuarantined: (filter: QuarantineFilter) => Effect.Effect<number, StoreError>
    /** Addresses the daily job may change at `now`: timed releases and counters past their quiet period. */
    readonly dueForExpiry: (
      now: number,
      policy: QuarantinePolicy,
      limit: number
    ) => Effect.Effect<ReadonlyArray<NormalizedAddress>, StoreError>
    /** How many addresses have each status. */
    readonly counts: Effect.Effect<Readonly<Partial<Record<AddressStatus, number>>>, StoreError>
  }
>() {}

const stateColumns = [
  "address",
  "domain",
  "status",
  "list",
  "error_count",
  "last_error_at",
  "last_error_reason",
  "last_error_type",
  "previous_error_at",
  "previous_error_count",
  "quarantined_at",
  "quarantine_reason",
  "quarantine_type",
  "quarantine_cause",
  "suspect",
  "updated_at"
]

/** A state's values in `stateColumns` order, pushed into a statement's parameters without a row object. */
const pushState = (params: Array<unknown>, stored: StoredAddressState) => {
  const state = stored.state
  const quarantine = state.quarantine
  params.push(
    stored.address,
    stored.domain,
    stored.status,
    state.list,
    state.errorCount,
    state.lastErrorAt,
    state.lastErrorReason,
    state.lastErrorType,
    state.previousErrorAt,
    state.previousErrorCount,
    quarantine?.at ?? null,
    quarantine?.reason ?? null,
    quarantine?.type ?? null,
    quarantine?.cause ?? null,
    flag(quarantine?.suspect ?? false),
    stored.updatedAt
  )
}

const fromRow = (row: any): StoredAddressState => {
  const quarantinedAt = numOrNull(row.quarantined_at)
  const state: AddressState = {
    list: textOrNull(row.list),
    errorCount: num(row.error_count),
    lastErrorAt: numOrNull(row.last_error_at),
    lastErrorReason: textOrNull(row.last_error_reason),
    lastErrorType: textOrNull(row.last_error_type),
    previousErrorAt: numOrNull(row.previous_error_at),
    previousErrorCount: num(row.previous_error_count),
    quarantine:
      quarantinedAt === null
        ? null
        : {
            at: quarantinedAt,
            reason: row.quarantine_reason,
            type: row.quarantine_type,
            cause: row.quarantine_cause,
            suspect: bool(row.suspect)
          }
  }
  return { address: row.address, domain: row.domain, status: row.status, state, updatedAt: num(row.updated_at) }
}

const historyColumns = [
  "address",
  "at",
  "from_status",
  "to_status",
  "cause",
  "error_count",
  "reason",
  "suspect",
  "who",
  "why",
  "mail_sha256",
  "record_index"
]

const pushHistory = (params: Array<unknown>, entry: HistoryEntry) => {
  params.push(
    entry.address,
    entry.at,
    entry.from,
    entry.to,
    entry.cause,
    entry.errorCount,
    entry.reason,
    flag(entry.suspect),
    entry.who,
    entry.why,
    entry.mailSha256,
    entry.recordIndex
  )
}

/** A row of `address_history`, as every reader of the history maps it. */
export const fromHistoryRow = (row: any): HistoryEntry => ({
  address: row.address,
  at: num(row.at),
  from: row.from_status,
  to: row.to_status,
  cause: row.cause,
  errorCount: num(row.error_count),
  reason: textOrNull(row.reason),
  suspect: bool(row.suspect),
  who: row.who,
  why: row.why,
  mailSha256: textOrNull(row.mail_sha256),
  recordIndex: numOrNull(row.record_index)
})

/** A stored state for an address never seen. */
export const unseen = (address: NormalizedAddress, now: number): StoredAddressState => ({
  address,
  domain: domainOf(address),
  status: statusOf(initialState),
  state: initialState,
  updatedAt: now
})

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const isPostgres = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const forUpdate = sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE"), orElse: () => sql.literal("") })

  const get = Effect.fn("AddressStates.get")(
    function* (address: NormalizedAddress) {
      const rows = yield* sql`SELECT * FROM address_states WHERE address = ${address}`
      return Option.map(Option.fromNullable(rows[0]), fromRow)
    },
    Effect.mapError(databaseError("reading an address state"))
  )

  const insertStates = `INSERT INTO address_states (${stateColumns.join(", ")})`
  const insertUnseen = rowInserter(sql, insertStates, stateColumns.length, "ON CONFLICT (address) DO NOTHING")

  const lock = Effect.fn("AddressStates.lock")(
    function* (addresses: ReadonlyArray<NormalizedAddress>, now: number) {
      const sorted = [...new Set(addresses)].sort()
      const states = new Map<NormalizedAddress, StoredAddressState>()
      if (isPostgres) {
        // concurrent writers must meet on a row to lock it; SQLite has one writer at a time, this transaction
        yield* insertUnseen(sorted, (params, address) => pushState(params, unseen(address, now)))
      }
      for (const chunk of lookupChunks(sorted)) {
        const rows =
          yield* sql`SELECT * FROM address_states WHERE address IN ${sql.in(chunk)} ORDER BY address ${forUpdate}`
        for (const row of rows) states.set(row.address as NormalizedAddress, fromRow(row))
      }
      for (const address of sorted) if (!states.has(address)) states.set(address, unseen(address, now))
      return states
    },
    Effect.mapError(databaseError("locking address states"))
  )

  const upsertStates = rowInserter(
    sql,
    insertStates,
    stateColumns.length,
    `ON CONFLICT (address) DO UPDATE SET ${stateColumns
      .filter((column) => column !== "address")
      .map((column) => `${column} = excluded.${column}`)
      .join(", ")}`
  )
  const insertHistory = rowInserter(
    sql,
    `INSERT INTO address_history (${historyColumns.join(", ")})`,
    historyColumns.length
  )

  const save = Effect.fn("AddressStates.save")(
    function* (states: ReadonlyArray<StoredAddressState>, history: ReadonlyArray<HistoryEntry>) {
      const latest = [...new Map(states.map((s) => [s.address, s])).values()].sort((a, b) =>
        a.address < b.address ? -1 : a.address > b.address ? 1 : 0
      )
      yield* upsertStates(latest, pushState)
      yield* insertHistory(history, pushHistory)
    },
    Effect.mapError(databaseError("saving address states"))
  )

  const history = Effect.fn("AddressStates.history")(
    function* (address: NormalizedAddress) {
      const rows = yield* sql`SELECT * FROM address_history WHERE address = ${address} ORDER BY id`
      return rows.map(fromHistoryRow)
    },
    Effect.mapError(databaseError("reading an address history"))
  )

  const list = Effect.fn("AddressStates.list")(
    function* (filter: AddressListFilter) {
      const conditions = [
        ...(filter.status === undefined ? [] : [sql`status = ${filter.status}`]),
        ...(filter.domain === undefined ? [] : [sql`domain = ${filter.domain}`]),
        ...(filter.suspect === undefined ? [] : [sql`suspect = ${flag(filter.suspect)}`]),
        ...(filter.reason === undefined ? [] : [sql`quarantine_reason = ${filter.reason}`]),
        ...(filter.from === undefined ? [] : [sql`quarantined_at >= ${filter.from}`]),
        ...(filter.to === undefined ? [] : [sql`quarantined_at < ${filter.to}`])
      ]
      const rows =
        yield* sql`SELECT * FROM address_states WHERE ${sql.and(conditions)} ORDER BY address LIMIT ${filter.limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("listing address states"))
  )

  const quarantineConditions = (filter: QuarantineFilter) => [
    sql`quarantined_at IS NOT NULL`,
    sql`list IS NULL`,
    ...(filter.domain === undefined ? [] : [sql`domain = ${filter.domain}`]),
    ...(filter.reason === undefined ? [] : [sql`quarantine_reason = ${filter.reason}`]),
    ...(filter.from === undefined ? [] : [sql`quarantined_at >= ${filter.from}`]),
    ...(filter.to === undefined ? [] : [sql`quarantined_at < ${filter.to}`]),
    ...(filter.suspectOnly === true ? [sql`suspect = 1`] : [])
  ]

  const quarantined = Effect.fn("AddressStates.quarantined")(
    function* (filter: QuarantineFilter, limit: number) {
      const rows = yield* sql<{
        address: NormalizedAddress
      }>`SELECT address FROM address_states WHERE ${sql.and(quarantineConditions(filter))} ORDER BY address LIMIT ${limit}`
      return rows.map((row) => row.address)
    },
    Effect.mapError(databaseError("selecting quarantined addresses"))
  )

  const countQuarantined = Effect.fn("AddressStates.countQuarantined")(
    function* (filter: QuarantineFilter) {
      const rows = yield* sql<{
        n: unknown
      }>`SELECT COUNT(*) AS n FROM address_states WHERE ${sql.and(quarantineConditions(filter))}`
      return num(rows[0]?.n ?? 0)
    },
    Effect.mapError(databaseError("counting quarantined addresses"))
  )

  const dueForExpiry = Effect.fn("AddressStates.dueForExpiry")(
    function* (now: number, policy: QuarantinePolicy, limit: number) {
      const released =
        policy.timedReleaseReasons.length === 0
          ? sql`1 = 0`
          : sql`quarantine_reason IN ${sql.in(policy.timedReleaseReasons)} AND quarantined_at <= ${now - policy.timedReleaseDays * DAY}`
      const quiet = sql`quarantined_at IS NULL AND last_error_at IS NOT NULL AND last_error_at <= ${now - policy.counterResetDays * DAY}`
      const rows = yield* sql<{
        address: NormalizedAddress
      }>`SELECT address FROM address_states WHERE (${released}) OR (${quiet}) ORDER BY address LIMIT ${limit}`
      return rows.map((row) => row.address)
    },
    Effect.mapError(databaseError("selecting addresses to expire"))
  )

  const counts = Effect.gen(function* () {
    const rows = yield* sql<{
      status: AddressStatus
      n: unknown
    }>`SELECT status, COUNT(*) AS n FROM address_states GROUP BY status`
    return Object.fromEntries(rows.map((row) => [row.status, num(row.n)])) as Partial<Record<AddressStatus, number>>
  }).pipe(Effect.mapError(databaseError("counting address states")), Effect.withSpan("AddressStates.counts"))

  return AddressStates.of({ get, lock, save, history, list, quarantined, countQuarantined, dueForExpiry, counts })
})

export const layer = Layer.effect(AddressStates, make)
