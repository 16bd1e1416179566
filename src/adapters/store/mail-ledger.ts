import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { databaseError, type StoreError } from "./errors.js"
import { type LedgerEntry, type LedgerKey, ledgerKeyString, type MailOutcome } from "./model.js"
import { bool, flag, num, rowInserter, textOrNull } from "./values.js"

/** The mail ledger: every mail taken from a mailbox and what became of it. Its key makes applying a mail idempotent. */
export class MailLedger extends Context.Tag("rebound/Store/MailLedger")<
  MailLedger,
  {
    /** Inserts the entries whose key is not in the ledger yet and returns those (the others were seen before). */
    readonly claim: (entries: ReadonlyArray<LedgerEntry>) => Effect.Effect<ReadonlyArray<LedgerEntry>, StoreError>
    readonly get: (key: LedgerKey) => Effect.Effect<Option.Option<LedgerEntry>, StoreError>
    /** The unique ids of an account that the ledger holds (under any hash), with their outcome: mails already durable. */
    readonly seen: (
      account: string,
      uids: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyMap<string, MailOutcome>, StoreError>
    /** The newest entries first. */
    readonly list: (options: {
      readonly account?: string
      readonly outcome?: MailOutcome
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<LedgerEntry>, StoreError>
    /** How many mails had each outcome since `since`. */
    readonly outcomes: (since: number) => Effect.Effect<Readonly<Partial<Record<MailOutcome, number>>>, StoreError>
  }
>() {}

const columns = ["account", "uid", "sha256", "outcome", "detail", "records", "size", "archived", "processed_at"]

const pushRow = (params: Array<unknown>, entry: LedgerEntry) => {
  params.push(
    entry.key.account,
    entry.key.uid,
    entry.key.sha256,
    entry.outcome,
    entry.detail,
    entry.records,
    entry.size,
    flag(entry.archived),
    entry.processedAt
  )
}

const fromRow = (row: any): LedgerEntry => ({
  key: { account: row.account, uid: row.uid, sha256: row.sha256 },
  outcome: row.outcome,
  detail: textOrNull(row.detail),
  records: num(row.records),
  size: num(row.size),
  archived: bool(row.archived),
  processedAt: num(row.processed_at)
})

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insertRows = rowInserter(
    sql,
    `INSERT INTO mail_ledger (${columns.join(", ")})`,
    columns.length,
    "ON CONFLICT DO NOTHING RETURNING account, uid, sha256"
  )

  const claim = Effect.fn("MailLedger.claim")(
    function* (entries: ReadonlyArray<LedgerEntry>) {
      const byKey = new Map(entries.map((entry) => [ledgerKeyString(entry.key), entry]))
      // one key order for every writer, so that concurrent claims on PostgreSQL wait rather than deadlock
      const sorted = [...byKey.keys()].sort().map((key) => byKey.get(key)!)
      const rows = yield* insertRows<LedgerEntry, LedgerKey>(sorted, pushRow)
      return rows.map((row) => byKey.get(ledgerKeyString(row))!)
    },
    Effect.mapError(databaseError("recording mails in the ledger"))
  )

  const get = Effect.fn("MailLedger.get")(
    function* (key: LedgerKey) {
      const rows =
        yield* sql`SELECT * FROM mail_ledger WHERE account = ${key.account} AND uid = ${key.uid} AND sha256 = ${key.sha256}`
      return Option.map(Option.fromNullable(rows[0]), fromRow)
    },
    Effect.mapError(databaseError("reading the ledger"))
  )

  const seen = Effect.fn("MailLedger.seen")(
    function* (account: string, uids: ReadonlyArray<string>) {
      const found = new Map<string, MailOutcome>()
      for (let start = 0; start < uids.length; start += 500) {
        const chunk = uids.slice(start, start + 500)
        const rows = yield* sql<{
          uid: string
          outcome: MailOutcome
        }>`SELECT uid, outcome FROM mail_ledger WHERE account = ${account} AND ${sql.in("uid", chunk)}`
        for (const row of rows) found.set(row.uid, row.outcome)
      }
      return found as ReadonlyMap<string, MailOutcome>
    },
    Effect.mapError(databaseError("reading the ledger"))
  )

  const list = Effect.fn("MailLedger.list")(
    function* (options: { readonly account?: string; readonly outcome?: MailOutcome; readonly limit: number }) {
      const conditions = [
        ...(options.account === undefined ? [] : [sql`account = ${options.account}`]),
        ...(options.outcome === undefined ? [] : [sql`outcome = ${options.outcome}`])
      ]
      const rows =
        yield* sql`SELECT * FROM mail_ledger WHERE ${sql.and(conditions)} ORDER BY processed_at DESC LIMIT ${options.limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("listing the ledger"))
  )

  const outcomes = Effect.fn("MailLedger.outcomes")(
    function* (since: number) {
      const rows = yield* sql<{
        outcome: MailOutcome
        n: unknown
      }>`SELECT outcome, COUNT(*) AS n FROM mail_ledger WHERE processed_at >= ${since} GROUP BY outcome`
      return Object.fromEntries(rows.map((row) => [row.outcome, num(row.n)])) as Partial<Record<MailOutcome, number>>
    },
    Effect.mapError(databaseError("counting outcomes"))
  )

  return MailLedger.of({ claim, get, seen, list, outcomes })
})

export const layer = Layer.effect(MailLedger, make)
