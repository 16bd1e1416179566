/** Column values as both drivers return them: PostgreSQL gives BIGINT as a string, SQLite has no boolean. */
export const num = (value: unknown): number => (typeof value === "number" ? value : Number(value))

export const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : num(value))

export const bool = (value: unknown): boolean => value === true || value === 1 || value === "1" || value === 1n

export const flag = (value: boolean): number => (value ? 1 : 0)

export const textOrNull = <A extends string = string>(value: unknown): A | null =>
  value === null || value === undefined ? null : (String(value) as A)

/** Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535. */
const maxParameters = 30_000

/** Splits rows so that one multi-row statement stays under the parameter limit of both databases. */
export const chunksFor = <A>(rows: ReadonlyArray<A>, columns: number): Array<ReadonlyArray<A>> => {
  const size = Math.max(1, Math.floor(maxParameters / columns))
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size))
  return chunks
}

/** Bytes as both drivers bind them. */
export const toBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export const HOUR = 3_600_000
export const DAY = 86_400_000

/** The hour bucket of a time, as domain counters key it. */
export const hourOf = (millis: number): number => Math.floor(millis / HOUR)
