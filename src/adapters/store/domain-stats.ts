import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { databaseError, type StoreError } from "./errors.js"
import type { DomainCount } from "./model.js"
import { lookupChunks, num, rowInserter } from "./values.js"

/** Totals of one receiving domain's counters over a period. */
export interface DomainTotals {
  readonly domain: string
  readonly counters: Readonly<Record<string, number>>
}

/**
 * Hourly counters per receiving domain: sends, hard and soft bounces, delays, deliveries, complaints, and the
 * bounces whose reason is on our side ("ours:<reason>"), which count here instead of against the address.
 */
export class DomainStats extends Context.Tag("rebound/Store/DomainStats")<
  DomainStats,
  {
    /** Adds counts (counts for the same domain, hour and counter add up). */
    readonly add: (counts: ReadonlyArray<DomainCount>) => Effect.Effect<void, StoreError>
    /** Per domain, each counter summed over the hours at or after `sinceHour` (and before `untilHour`). */
    readonly totals: (options: {
      readonly sinceHour: number
      readonly untilHour?: number
      readonly domains?: ReadonlyArray<string>
    }) => Effect.Effect<ReadonlyArray<DomainTotals>, StoreError>
    /** What the outage guard weighs, per domain: sends and hard bounces since `sinceHour`, hard bounces since `recentHour`. */
    readonly guardWindows: (
      domains: ReadonlyArray<string>,
      sinceHour: number,
      recentHour: number
    ) => Effect.Effect<ReadonlyMap<string, GuardWindow>, StoreError>
    /** Deletes the hours before `beforeHour`; returns how many rows. */
    readonly purge: (beforeHour: number) => Effect.Effect<number, StoreError>
  }
>() {}

export interface GuardWindow {
  readonly sends: number
  readonly hardBounces: number
  readonly recentHardBounces: number
}

/** Adds up counts with the same domain, hour and counter. */
export const sumCounts = (counts: ReadonlyArray<DomainCount>): Array<DomainCount> => {
  const sums = new Map<string, DomainCount>()
  for (const count of counts) {
    const key = `${count.domain}\u0000${count.hour}\u0000${count.counter}`
    const current = sums.get(key)
    sums.set(key, current === undefined ? count : { ...current, n: current.n + count.n })
  }
  return [...sums.keys()].sort().map((key) => sums.get(key)!)
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insertCounts = rowInserter(
    sql,
    "INSERT INTO domain_counts (domain, hour, counter, n)",
    4,
    "ON CONFLICT (domain, hour, counter) DO UPDATE SET n = domain_counts.n + excluded.n"
  )

  const add = Effect.fn("DomainStats.add")(
    function* (counts: ReadonlyArray<DomainCount>) {
      yield* insertCounts(sumCounts(counts), (params, c) => {
        params.push(c.domain, c.hour, c.counter, c.n)
      })
    },
    Effect.mapError(databaseError("counting against domains"))
  )

  const totals = Effect.fn("DomainStats.totals")(
    function* (options: {
      readonly sinceHour: number
      readonly untilHour?: number
      readonly domains?: ReadonlyArray<string>
    }) {
      const until = options.untilHour === undefined ? sql`1 = 1` : sql`hour < ${options.untilHour}`
      const byDomain = new Map<string, Record<string, number>>()
      const collect = (rows: ReadonlyArray<{ domain: string; counter: string; n: unknown }>) => {
        for (const row of rows) {
          const counters = byDomain.get(row.domain) ?? {}
          counters[row.counter] = num(row.n)
          byDomain.set(row.domain, counters)
        }
      }
      if (options.domains === undefined) {
        collect(
          yield* sql<{
            domain: string
            counter: string
            n: unknown
          }>`SELECT domain, counter, SUM(n) AS n FROM domain_counts WHERE hour >= ${options.sinceHour} AND ${until} GROUP BY domain, counter`
        )
      } else {
        const domains = [...new Set(options.domains)]
        for (const chunk of lookupChunks(domains)) {
          collect(
            yield* sql<{
              domain: string
              counter: string
              n: unknown
            }>`SELECT domain, counter, SUM(n) AS n FROM domain_counts
            WHERE domain IN ${sql.in(chunk)} AND hour >= ${options.sinceHour} AND ${until}
            GROUP BY domain, counter`
          )
        }
      }
      return [...byDomain].map(([domain, counters]): DomainTotals => ({ domain, counters }))
    },
    Effect.mapError(databaseError("reading domain statistics"))
  )

  const purge = Effect.fn("DomainStats.purge")(
    function* (beforeHour: number) {
      const rows = yield* sql`DELETE FROM domain_counts WHERE hour < ${beforeHour} RETURNING domain`
      return rows.length
    },
    Effect.mapError(databaseError("purging domain statistics"))
  )

  const guardWindows = Effect.fn("DomainStats.guardWindows")(
    function* (domains: ReadonlyArray<string>, sinceHour: number, recentHour: number) {
      const windows = new Map<string, GuardWindow>()
      for (const chunk of lookupChunks([...new Set(domains)])) {
        const rows = yield* sql<{ domain: string; sends: unknown; hard: unknown; recent: unknown }>`SELECT domain,
            SUM(CASE WHEN counter = 'sent' THEN n ELSE 0 END) AS sends,
            SUM(CASE WHEN counter = 'hard' THEN n ELSE 0 END) AS hard,
            SUM(CASE WHEN counter = 'hard' AND hour >= ${recentHour} THEN n ELSE 0 END) AS recent
          FROM domain_counts WHERE domain IN ${sql.in(chunk)} AND hour >= ${sinceHour} AND counter IN ('sent', 'hard')
          GROUP BY domain`
        for (const row of rows) {
          windows.set(row.domain, {
            sends: num(row.sends),
            hardBounces: num(row.hard),
            recentHardBounces: num(row.recent)
          })
        }
      }
      return windows as ReadonlyMap<string, GuardWindow>
    },
    Effect.mapError(databaseError("reading the outage guard's windows"))
  )

  return DomainStats.of({ add, totals, guardWindows, purge })
})

export const layer = Layer.effect(DomainStats, make)
