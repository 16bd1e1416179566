import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/** Column values as both drivers return them: PostgreSQL gives BIGINT as a string, SQLite has no boolean. */
export const num = (value: unknown): number => (typeof value === "number" ? value : Number(value))

export const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value))

export const bool = (value: unknown): boolean => value === true || value === 1 || value === "1" || value === 1n

export const flag = (value: boolean): number => (value ? 1 : 0)

export const textOrNull = <A extends string = string>(value: unknown): A | null =>
  value === null || value === undefined ? null : (String(value) as A)

/** Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535. */
const maxParameters = 30_000

const largestPowerOfTwo = (n: number) => 2 ** Math.floor(Math.log2(n))

/**
 * Splits rows for multi-row statements: each chunk stays under the parameter limit of both databases and has a
 * power-of-two size, so a handful of statement texts serve every batch and stay in the prepared-statement cache
 * (a new text per batch size would be parsed and planned again each time).
 */
export const chunksFor = <A>(rows: ReadonlyArray<A>, columns: number): Array<ReadonlyArray<A>> => {
  const most = largestPowerOfTwo(Math.max(1, Math.floor(maxParameters / columns)))
  const chunks: Array<ReadonlyArray<A>> = []
  let i = 0
  while (i < rows.length) {
    const size = Math.min(most, largestPowerOfTwo(rows.length - i))
    chunks.push(rows.slice(i, i + size))
    i += size
  }
  return chunks
}

/**
 * Splits values for `IN (...)` lookups into chunks of at most 1,024, each padded to a power of two by repeating its
 * last value (harmless in an IN list), for the same reason as `chunksFor`.
 */
export const lookupChunks = <A>(values: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < values.length; i += 1024) {
    const chunk = values.slice(i, i + 1024)
    const size = Math.max(8, 2 ** Math.ceil(Math.log2(chunk.length)))
    while (chunk.length < size) chunk.push(chunk[chunk.length - 1]!)
    chunks.push(chunk)
  }
  return chunks
}

/** Bytes as both drivers bind them. */
export const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export const HOUR = 3_600_000
export const DAY = 86_400_000

/** The hour bucket of a time, as domain counters key it. */
export const hourOf = (millis: number): number => Math.floor(millis / HOUR)

/**
 * Multi-row INSERTs over many rows with the text of each chunk size built once (`?` on SQLite, `$n` on PostgreSQL)
 * and the values pushed straight into one parameter array: no object per row, and no pass of the SQL compiler over
 * every value (`sql.insert` costs about as much as SQLite's own work on a 1,000-row batch). `head` names the table and
 * columns, `tail` follows the VALUES list (ON CONFLICT, RETURNING).
 */
export const rowInserter = (sql: SqlClient.SqlClient, head: string, columns: number, tail = "") => {
  const postgres = sql.onDialectOrElse({ pg: () => true, orElse: () => false })
  const texts = new Map<number, string>()
  const textFor = (rows: number) => {
    let text = texts.get(rows)
    if (text === undefined) {
      const groups: Array<string> = []
      let parameter = 0
      for (let row = 0; row < rows; row++) {
        const marks: Array<string> = []
        for (let column = 0; column < columns; column++) marks.push(postgres ? `$${++parameter}` : "?")
        groups.push(`(${marks.join(",")})`)
      }
      text = `${head} VALUES ${groups.join(",")} ${tail}`
      texts.set(rows, text)
    }
    return text
  }
  return <A, Row extends object = object>(
    rows: ReadonlyArray<A>,
    push: (params: Array<unknown>, row: A) => void
  ): Effect.Effect<Array<Row>, SqlError> =>
    Effect.gen(function* () {
      const returned: Array<Row> = []
      for (const chunk of chunksFor(rows, columns)) {
        const params: Array<unknown> = []
        for (const row of chunk) push(params, row)
        const result = yield* sql.unsafe<Row>(textFor(chunk.length), params)
        for (const row of result) returned.push(row)
      }
      return returned
    })
}
