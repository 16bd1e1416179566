import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { databaseError, type StoreError } from "./errors.js"
import type { MailOutcome } from "./model.js"
import { chunksFor, num, toBuffer } from "./values.js"

/** A mail's bytes, kept so that nothing is lost when a mail was not applied (or always, when configured). */
export interface RawMail {
  readonly sha256: string
  readonly bytes: Uint8Array
  readonly outcome: MailOutcome
  readonly storedAt: number
}

/** The raw archive: mail bytes by SHA-256, with a retention period. */
export class RawArchive extends Context.Tag("rebound/Store/RawArchive")<
  RawArchive,
  {
    /** Stores the mails whose bytes are not archived yet. */
    readonly put: (mails: ReadonlyArray<RawMail>) => Effect.Effect<void, StoreError>
    readonly get: (sha256: string) => Effect.Effect<Option.Option<RawMail>, StoreError>
    /** Deletes the mails stored before `before`; returns how many. */
    readonly purge: (before: number) => Effect.Effect<number, StoreError>
  }
>() {}

export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient

  const put = Effect.fn("RawArchive.put")(
    function* (mails: ReadonlyArray<RawMail>) {
      const unique = [...new Map(mails.map((mail) => [mail.sha256, mail])).values()].sort((a, b) =>
        a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0
      )
      // few rows per statement: a mail can be megabytes
      for (const chunk of chunksFor(unique, 6000)) {
        yield* sql`INSERT INTO raw_mails ${sql.insert(
          chunk.map((mail) => ({
            sha256: mail.sha256,
            bytes: toBuffer(mail.bytes),
            size: mail.bytes.byteLength,
            outcome: mail.outcome,
            stored_at: mail.storedAt
          }))
        )} ON CONFLICT DO NOTHING`
      }
    },
    Effect.mapError(databaseError("archiving mails"))
  )

  const get = Effect.fn("RawArchive.get")(
    function* (sha256: string) {
      const rows = yield* sql<{
        sha256: string
        bytes: Uint8Array
        outcome: MailOutcome
        stored_at: unknown
      }>`SELECT sha256, bytes, outcome, stored_at FROM raw_mails WHERE sha256 = ${sha256}`
      return Option.map(Option.fromNullable(rows[0]), (row): RawMail => ({
        sha256: row.sha256,
        bytes: new Uint8Array(row.bytes),
        outcome: row.outcome,
        storedAt: num(row.stored_at)
      }))
    },
    Effect.mapError(databaseError("reading the archive"))
  )

  const purge = Effect.fn("RawArchive.purge")(
    function* (before: number) {
      const rows = yield* sql`DELETE FROM raw_mails WHERE stored_at < ${before} RETURNING sha256`
      return rows.length
    },
    Effect.mapError(databaseError("purging the archive"))
  )

  return RawArchive.of({ put, get, purge })
})

export const layer = Layer.effect(RawArchive, make)
