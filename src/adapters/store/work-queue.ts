import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { databaseError, StoreError } from "./errors.js"
import { lookupChunks, num, textOrNull, toBuffer } from "./values.js"

/** What the SMTP listener knew about one copy of a mail when it accepted it. */
export interface SmtpEnvelope {
  /** the listener's transaction id (in the 250 reply, the Received field and the logs) */
  readonly queueId: string
  /** the envelope sender (MAIL FROM), "" for the null sender of a bounce */
  readonly sender: string
  /** the one recipient (RCPT TO) this copy is for */
  readonly recipient: string
  readonly receivedAt: number
}

/** One copy of a mail to queue: its envelope and its bytes (trace fields included). */
export interface SmtpWorkInput extends SmtpEnvelope {
  readonly bytes: Uint8Array
}

/** A queued copy as a claim returns it, without its bytes (`read` fetches them). */
export interface SmtpWorkItem extends SmtpEnvelope {
  /** the row id: stable, never reused; the mail's unique id in the ledger */
  readonly id: number
  readonly size: number
  /** the process holding the claim, and until when (null: free) */
  readonly claimedBy: string | null
  readonly claimedUntil: number | null
}

/** How much work is waiting: all rows, those under a live claim at `now`, and the octets of all. */
export interface SmtpWorkCounts {
  readonly queued: number
  readonly claimed: number
  readonly octets: number
}

/**
 * The SMTP work queue: mail the listener accepted with `smtp.spool` "store", shared by every process on the store.
 * A claim leases rows to one holder until its expiry (FOR UPDATE SKIP LOCKED on PostgreSQL: concurrent claimers get
 * disjoint rows and never wait for each other); a holder that dies leaves its rows to be claimed again once the
 * lease runs out. On PostgreSQL the expiry is on the server's clock, so the machines' clocks need not agree; on
 * SQLite (one machine) and in memory it is Effect's Clock. A row is deleted only by `complete`, after its mail is applied, so it is retrieved at least once;
 * the ledger (keyed by the row id) makes its effect on the store happen exactly once.
 */
export class SmtpWorkQueue extends Context.Tag("rebound/Store/SmtpWorkQueue")<
  SmtpWorkQueue,
  {
    /** Queues the copies of one mail in one transaction; when this succeeds they are durable. Returns their ids. */
    readonly enqueue: (copies: ReadonlyArray<SmtpWorkInput>) => Effect.Effect<ReadonlyArray<number>, StoreError>
    /** Leases up to `limit` free or expired rows, oldest first, to `holder` for `leaseMillis` from now. */
    readonly claim: (options: {
      readonly limit: number
      readonly holder: string
      readonly leaseMillis: number
    }) => Effect.Effect<ReadonlyArray<SmtpWorkItem>, StoreError>
    /** The bytes of the rows that still exist. */
    readonly read: (ids: ReadonlyArray<number>) => Effect.Effect<ReadonlyMap<number, Uint8Array>, StoreError>
    /** Deletes rows whose mail is applied; returns how many were still there. */
    readonly complete: (ids: ReadonlyArray<number>) => Effect.Effect<number, StoreError>
    /** Gives up `holder`'s claims on these rows, so that any process may claim them at once. */
    readonly release: (ids: ReadonlyArray<number>, holder: string) => Effect.Effect<number, StoreError>
    readonly counts: Effect.Effect<SmtpWorkCounts, StoreError>
    /** One round trip to the work table: fails when the store cannot be reached (or the table read). */
    readonly ping: Effect.Effect<void, StoreError>
  }
>() {}

const fromRow = (row: any): SmtpWorkItem => ({
  id: num(row.id),
  queueId: row.queue_id,
  sender: row.sender,
  recipient: row.recipient,
  receivedAt: num(row.received_at),
  size: num(row.size),
  claimedBy: textOrNull(row.claimed_by),
  claimedUntil: row.claimed_until === null || row.claimed_until === undefined ? null : num(row.claimed_until)
})

const itemColumns = "id, queue_id, sender, recipient, received_at, size, claimed_by, claimed_until"

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // milliseconds since the epoch on the server's clock (PostgreSQL), or Effect's Clock bound as a parameter
  const nowMillis = sql.onDialectOrElse({
    pg: () => Effect.succeed(sql.literal("(EXTRACT(EPOCH FROM statement_timestamp()) * 1000)::bigint")),
    orElse: () => Effect.map(Clock.currentTimeMillis, (now) => sql`${now}`)
  })
  const skipLocked = sql.onDialectOrElse({
    pg: () => sql.literal("FOR UPDATE SKIP LOCKED"),
    orElse: () => sql.literal("")
  })
  // 250 promises durability: a server (or a role) with synchronous_commit off would acknowledge a commit that a
  // crash can undo, so the enqueue transaction asks for a flushed commit itself
  const durableCommit = sql.onDialectOrElse({
    pg: () => sql`SET LOCAL synchronous_commit = on`.pipe(Effect.asVoid),
    orElse: () => Effect.void
  })

  const enqueue = Effect.fn("SmtpWorkQueue.enqueue")(
    function* (copies: ReadonlyArray<SmtpWorkInput>) {
      if (copies.length === 0) return []
      const rows = copies.map((copy) => ({
        queue_id: copy.queueId,
        sender: copy.sender,
        recipient: copy.recipient,
        received_at: copy.receivedAt,
        size: copy.bytes.byteLength,
        bytes: toBuffer(copy.bytes),
        claimed_by: null,
        claimed_until: null
      }))
      return yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* durableCommit
          const ids: Array<number> = []
          // one statement per copy: a copy can be megabytes
          for (const row of rows) {
            const inserted = yield* sql<{ id: unknown }>`INSERT INTO smtp_work ${sql.insert(row)} RETURNING id`
            ids.push(num(inserted[0]!.id))
          }
          return ids
        })
      )
    },
    Effect.mapError(databaseError("queueing an SMTP mail"))
  )

  const claim = Effect.fn("SmtpWorkQueue.claim")(function* (options: {
    readonly limit: number
    readonly holder: string
    readonly leaseMillis: number
  }) {
    if (!Number.isInteger(options.limit) || options.limit < 1 || !(options.leaseMillis > 0)) {
      return yield* new StoreError({
        reason: "InvalidInput",
        message: `a claim needs a positive limit and lease (got ${options.limit} rows, ${options.leaseMillis} ms)`
      })
    }
    const now = yield* nowMillis
    const rows = yield* sql`UPDATE smtp_work SET claimed_by = ${options.holder},
        claimed_until = ${now} + ${options.leaseMillis}
      WHERE id IN (SELECT id FROM smtp_work WHERE claimed_until IS NULL OR claimed_until < ${now}
        ORDER BY id LIMIT ${options.limit} ${skipLocked})
      RETURNING ${sql.literal(itemColumns)}`.pipe(Effect.mapError(databaseError("claiming SMTP mail")))
    return rows.map(fromRow).sort((a, b) => a.id - b.id)
  })

  const read = Effect.fn("SmtpWorkQueue.read")(
    function* (ids: ReadonlyArray<number>) {
      const found = new Map<number, Uint8Array>()
      // few rows per statement: a mail can be megabytes
      for (let start = 0; start < ids.length; start += 16) {
        const chunk = ids.slice(start, start + 16)
        const rows = yield* sql<{ id: unknown; bytes: Uint8Array }>`SELECT id, bytes FROM smtp_work
          WHERE ${sql.in("id", chunk)}`
        for (const row of rows) found.set(num(row.id), new Uint8Array(row.bytes))
      }
      return found as ReadonlyMap<number, Uint8Array>
    },
    Effect.mapError(databaseError("reading queued SMTP mail"))
  )

  const complete = Effect.fn("SmtpWorkQueue.complete")(
    function* (ids: ReadonlyArray<number>) {
      let deleted = 0
      for (const chunk of lookupChunks([...ids].sort((a, b) => a - b))) {
        const rows = yield* sql`DELETE FROM smtp_work WHERE ${sql.in("id", chunk)} RETURNING id`
        deleted += rows.length
      }
      return deleted
    },
    Effect.mapError(databaseError("deleting applied SMTP mail"))
  )

  const release = Effect.fn("SmtpWorkQueue.release")(
    function* (ids: ReadonlyArray<number>, holder: string) {
      let released = 0
      for (const chunk of lookupChunks([...ids].sort((a, b) => a - b))) {
        const rows = yield* sql`UPDATE smtp_work SET claimed_by = NULL, claimed_until = NULL
          WHERE ${sql.in("id", chunk)} AND claimed_by = ${holder} RETURNING id`
        released += rows.length
      }
      return released
    },
    Effect.mapError(databaseError("releasing claimed SMTP mail"))
  )

  const counts = Effect.gen(function* () {
    const now = yield* nowMillis
    const rows = yield* sql<{ queued: unknown; claimed: unknown; octets: unknown }>`SELECT COUNT(*) AS queued,
      COUNT(CASE WHEN claimed_until >= ${now} THEN 1 END) AS claimed, COALESCE(SUM(size), 0) AS octets FROM smtp_work`
    return { queued: num(rows[0]?.queued ?? 0), claimed: num(rows[0]?.claimed ?? 0), octets: num(rows[0]?.octets ?? 0) }
  }).pipe(Effect.mapError(databaseError("counting queued SMTP mail")), Effect.withSpan("SmtpWorkQueue.counts"))

  const ping = sql`SELECT id FROM smtp_work LIMIT 1`.pipe(
    Effect.asVoid,
    Effect.mapError(databaseError("reaching the store")),
    Effect.withSpan("SmtpWorkQueue.ping")
  )

  return SmtpWorkQueue.of({ enqueue, claim, read, complete, release, counts, ping })
})

/** The queue over the current `SqlClient` (the store's migrations create its table). */
export const layer = Layer.effect(SmtpWorkQueue, make)
