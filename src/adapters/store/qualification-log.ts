import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ReviewStatus } from "../../domain/qualification-log.js"
import type { Actor } from "../../domain/quarantine.js"
import { databaseError, type StoreError } from "./errors.js"
import type { QualificationEntry } from "./model.js"
import { num, numOrNull, rowInserter, textOrNull } from "./values.js"

/**
 * The qualification log: each distinct normalised diagnostic text with how often it was seen, the qualification it
 * got last, and an operator's review (to qualify, keep, ignore), so frequent unknown texts become rules.
 */
export class QualificationLog extends Context.Tag("rebound/Store/QualificationLog")<
  QualificationLog,
  {
    /** Adds sightings: a new text is inserted, a known one counted, its latest qualification kept. */
    readonly record: (entries: ReadonlyArray<QualificationEntry>) => Effect.Effect<void, StoreError>
    readonly get: (textKey: string) => Effect.Effect<Option.Option<QualificationEntry>, StoreError>
    /** The most frequent texts first. */
    readonly list: (options: {
      readonly review?: ReviewStatus
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<QualificationEntry>, StoreError>
    /** Records an operator's review; false when the text is unknown. */
    readonly review: (
      textKey: string,
      review: ReviewStatus,
      actor: Actor,
      now: number
    ) => Effect.Effect<boolean, StoreError>
  }
>() {}

const fromRow = (row: any): QualificationEntry => ({
  textKey: row.text_key,
  text: row.text,
  sample: row.sample,
  status: textOrNull(row.status),
  replyCode: textOrNull(row.reply_code),
  type: row.type,
  reason: row.reason,
  rule: row.rule,
  seen: num(row.seen),
  firstSeen: num(row.first_seen),
  lastSeen: num(row.last_seen),
  review: row.review,
  reviewedBy: textOrNull(row.reviewed_by),
  reviewedAt: numOrNull(row.reviewed_at),
  reviewNote: textOrNull(row.review_note)
})

/** Merges sightings of the same text, the latest qualification winning, so one statement touches a row once. */
const mergeSightings = (entries: ReadonlyArray<QualificationEntry>): Array<QualificationEntry> => {
  const byKey = new Map<string, QualificationEntry>()
  for (const entry of entries) {
    const current = byKey.get(entry.textKey)
    if (current === undefined) {
      byKey.set(entry.textKey, entry)
      continue
    }
    const latest = entry.lastSeen >= current.lastSeen ? entry : current
    byKey.set(entry.textKey, {
      ...latest,
      sample: current.sample,
      seen: current.seen + entry.seen,
      firstSeen: Math.min(current.firstSeen, entry.firstSeen),
      lastSeen: Math.max(current.lastSeen, entry.lastSeen)
    })
  }
  return [...byKey.keys()].sort().map((key) => byKey.get(key)!)
}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const insertSightings = rowInserter(
    sql,
    "INSERT INTO qualification_log (text_key, text, sample, status, reply_code, type, reason, rule, seen, first_seen, last_seen, review)",
    12,
    `ON CONFLICT (text_key) DO UPDATE SET seen = qualification_log.seen + excluded.seen,
        last_seen = excluded.last_seen, status = excluded.status, reply_code = excluded.reply_code,
        type = excluded.type, reason = excluded.reason, rule = excluded.rule`
  )

  const record = Effect.fn("QualificationLog.record")(
    function* (entries: ReadonlyArray<QualificationEntry>) {
      yield* insertSightings(mergeSightings(entries), (params, e) => {
        params.push(
          e.textKey,
          e.text,
          e.sample,
          e.status,
          e.replyCode,
          e.type,
          e.reason,
          e.rule,
          e.seen,
          e.firstSeen,
          e.lastSeen,
          e.review
        )
      })
    },
    Effect.mapError(databaseError("updating the qualification log"))
  )

  const get = Effect.fn("QualificationLog.get")(
    function* (textKey: string) {
      const rows = yield* sql`SELECT * FROM qualification_log WHERE text_key = ${textKey}`
      return Option.map(Option.fromNullable(rows[0]), fromRow)
    },
    Effect.mapError(databaseError("reading the qualification log"))
  )

  const list = Effect.fn("QualificationLog.list")(
    function* (options: { readonly review?: ReviewStatus; readonly limit: number }) {
      const where = options.review === undefined ? sql`1 = 1` : sql`review = ${options.review}`
      const rows =
        yield* sql`SELECT * FROM qualification_log WHERE ${where} ORDER BY seen DESC, text_key LIMIT ${options.limit}`
      return rows.map(fromRow)
    },
    Effect.mapError(databaseError("listing the qualification log"))
  )

  const review = Effect.fn("QualificationLog.review")(
    function* (textKey: string, status: ReviewStatus, actor: Actor, now: number) {
      const rows = yield* sql`UPDATE qualification_log SET review = ${status}, reviewed_by = ${actor.who},
      reviewed_at = ${now}, review_note = ${actor.why} WHERE text_key = ${textKey} RETURNING text_key`
      return rows.length > 0
    },
    Effect.mapError(databaseError("reviewing the qualification log"))
  )

  return QualificationLog.of({ record, get, list, review })
})

export const layer = Layer.effect(QualificationLog, make)
