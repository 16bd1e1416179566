import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { databaseError, type StoreError } from "./errors.js"
import { num } from "./values.js"

/** A lease as it stands: who holds it and for how much longer (negative: expired, free to take). */
export interface Lease {
  readonly name: string
  readonly holder: string
  readonly remainingMillis: number
}

/** The result of `acquire`: whether the caller holds the lease now and, when not, who does. */
export interface LeaseAttempt {
  readonly held: boolean
  readonly lease: Lease
}

/**
 * Leases in the store, so that several processes on one database share work: an account is emptied by one process
 * at a time ("account:<name>"), a job runs once across them ("job:daily"), a process shows it is alive
 * ("process:<holder>"). A lease is a row with a holder and an expiry that its holder renews; when the holder dies
 * without releasing it, it expires and any other process may take it. On PostgreSQL the expiry is kept on the
 * server's clock, so the machines' clocks need not agree; on SQLite (one machine) and in memory it is Effect's Clock.
 */
export class AccountLeases extends Context.Tag("rebound/Store/AccountLeases")<
  AccountLeases,
  {
    /** Takes `name` for `ttl` when it is free, expired or already `holder`'s (then it is renewed). */
    readonly acquire: (
      name: string,
      holder: string,
      ttl: Duration.DurationInput
    ) => Effect.Effect<LeaseAttempt, StoreError>
    /** Extends `holder`'s lease by `ttl` from now; false when another holder has taken it in the meantime. */
    readonly renew: (name: string, holder: string, ttl: Duration.DurationInput) => Effect.Effect<boolean, StoreError>
    /** Takes `name` for `ttl` only when it is free or expired, whoever held it: a job claimed once per `ttl`. */
    readonly claim: (name: string, holder: string, ttl: Duration.DurationInput) => Effect.Effect<boolean, StoreError>
    /** Gives `holder`'s lease up at once (nothing happens if someone else holds it). */
    readonly release: (name: string, holder: string) => Effect.Effect<void, StoreError>
    /** The leases whose name starts with `prefix`, expired ones included. */
    readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<Lease>, StoreError>
  }
>() {}

const millisOf = (ttl: Duration.DurationInput) => Math.max(1, Math.round(Duration.toMillis(Duration.decode(ttl))))

const leaseOf = (row: any): Lease => ({
  name: String(row.name),
  holder: String(row.holder),
  remainingMillis: num(row.remaining)
})

/**
 * Leases on the `leases` table over the current `SqlClient`. Each change is one statement (an upsert or an update
 * with its condition), so two processes racing for a lease cannot both win: the database serialises them on the row.
 * PostgreSQL reads the time of the statement on the server; SQLite gets Effect's Clock.
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const serverClock = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const serverNow = sql.literal("(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::bigint")
  const times = (ttl: Duration.DurationInput) =>
    serverClock
      ? Effect.succeed({ now: serverNow, expires: sql`${serverNow} + ${millisOf(ttl)}::bigint` })
      : Effect.map(Clock.currentTimeMillis, (now) => ({ now: sql`${now}`, expires: sql`${now + millisOf(ttl)}` }))
  const nowFragment = serverClock
    ? Effect.succeed(serverNow)
    : Effect.map(Clock.currentTimeMillis, (now) => sql`${now}`)

  const upsert = (name: string, holder: string, ttl: Duration.DurationInput, takeOwn: boolean) =>
    Effect.flatMap(times(ttl), ({ expires, now }) => {
      const own = sql.literal(takeOwn ? "leases.holder = excluded.holder OR" : "")
      return sql`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES (${name}, ${holder}, ${now}, ${expires})
        ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
          acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
        WHERE ${own} leases.expires_at <= excluded.acquired_at
        RETURNING holder`
    }).pipe(Effect.map((rows) => rows.length === 1))

  const list = Effect.fn("AccountLeases.list")(
    function* (prefix: string) {
      const now = yield* nowFragment
      const rows = yield* sql`SELECT name, holder, expires_at - ${now} AS remaining FROM leases
        WHERE substr(name, 1, ${prefix.length}) = ${prefix} ORDER BY name`
      return rows.map(leaseOf)
    },
    Effect.mapError(databaseError("reading leases"))
  )

  const acquire = Effect.fn("AccountLeases.acquire")(
    function* (name: string, holder: string, ttl: Duration.DurationInput) {
      if (yield* upsert(name, holder, ttl, true)) {
        return { held: true, lease: { name, holder, remainingMillis: millisOf(ttl) } }
      }
      const now = yield* nowFragment
      const rows = yield* sql`SELECT name, holder, expires_at - ${now} AS remaining FROM leases WHERE name = ${name}`
      // released between the two statements: free, but not ours; the next attempt takes it
      return { held: false, lease: rows.length === 0 ? { name, holder: "", remainingMillis: 0 } : leaseOf(rows[0]) }
    },
    Effect.mapError(databaseError("taking a lease"))
  )

  const renew = Effect.fn("AccountLeases.renew")(
    function* (name: string, holder: string, ttl: Duration.DurationInput) {
      const { expires } = yield* times(ttl)
      const rows = yield* sql`UPDATE leases SET expires_at = ${expires} WHERE name = ${name} AND holder = ${holder}
        RETURNING name`
      return rows.length === 1
    },
    Effect.mapError(databaseError("renewing a lease"))
  )

  const claim = Effect.fn("AccountLeases.claim")(
    (name: string, holder: string, ttl: Duration.DurationInput) => upsert(name, holder, ttl, false),
    Effect.mapError(databaseError("claiming a lease"))
  )

  const release = Effect.fn("AccountLeases.release")(
    function* (name: string, holder: string) {
      yield* sql`DELETE FROM leases WHERE name = ${name} AND holder = ${holder}`
    },
    Effect.mapError(databaseError("releasing a lease"))
  )

  return AccountLeases.of({ acquire, renew, claim, release, list })
})

/** Leases in the store's database (SQLite or PostgreSQL; the store's migrations create the table). */
export const layer: Layer.Layer<AccountLeases, never, SqlClient.SqlClient> = Layer.effect(AccountLeases, make)

interface MemoryLease {
  readonly holder: string
  readonly expiresAt: number
}

/** Leases in this process's memory on Effect's Clock: one process, or several holders inside one test. */
export const makeMemory = Effect.gen(function* () {
  const table = yield* Ref.make(new Map<string, MemoryLease>())
  const change = <A>(f: (map: Map<string, MemoryLease>, now: number) => A) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(table, (current) => {
        const map = new Map(current)
        return [f(map, now), map] as const
      })
    )
  const take = (name: string, holder: string, ttl: Duration.DurationInput, takeOwn: boolean) =>
    change((map, now) => {
      const current = map.get(name)
      if (current !== undefined && current.expiresAt > now && !(takeOwn && current.holder === holder)) {
        return { held: false, lease: { name, holder: current.holder, remainingMillis: current.expiresAt - now } }
      }
      map.set(name, { holder, expiresAt: now + millisOf(ttl) })
      return { held: true, lease: { name, holder, remainingMillis: millisOf(ttl) } }
    })
  return AccountLeases.of({
    acquire: (name, holder, ttl) => take(name, holder, ttl, true),
    claim: (name, holder, ttl) => Effect.map(take(name, holder, ttl, false), (attempt) => attempt.held),
    renew: (name, holder, ttl) =>
      change((map, now) => {
        if (map.get(name)?.holder !== holder) return false
        map.set(name, { holder, expiresAt: now + millisOf(ttl) })
        return true
      }),
    release: (name, holder) =>
      change((map) => {
        if (map.get(name)?.holder === holder) map.delete(name)
      }),
    list: (prefix) =>
      change((map, now) =>
        [...map.entries()]
          .filter(([name]) => name.startsWith(prefix))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([name, lease]) => ({ name, holder: lease.holder, remainingMillis: lease.expiresAt - now }))
      )
  })
})

/** Leases in memory (one process). */
export const layerMemory: Layer.Layer<AccountLeases> = Layer.effect(AccountLeases, makeMemory)
