import { Context, Data, Effect } from "effect"

/** How a command prints its results. */
export type Format = "table" | "json" | "csv"
export const formats: ReadonlyArray<Format> = ["table", "json", "csv"]

/** Where commands write: results to standard output, notes and errors to standard error. Tests capture both. */
export class CliOutput extends Context.Reference<CliOutput>()("rebound/Cli/Output", {
  defaultValue: () => ({
    stdout: (text: string): void => void process.stdout.write(text),
    stderr: (text: string): void => void process.stderr.write(text),
    setExitCode: (code: number): void => void (process.exitCode = code)
  })
}) {}

/** A failure the user can act on: printed as one `rebound: message` line on standard error, exit code 1. */
export class CliError extends Data.TaggedError("CliError")<{
  readonly reason: "Usage" | "Input" | "Config" | "Store" | "Signing"
  readonly message: string
}> {}

export const printOut = (text: string) => Effect.map(CliOutput, (output) => output.stdout(text))
export const printErr = (text: string) => Effect.map(CliOutput, (output) => output.stderr(text))
export const setExitCode = (code: number) => Effect.map(CliOutput, (output) => output.setExitCode(code))

/** Runs a command's body; a `CliError` is printed on standard error and sets exit code 1. */
export const reportFailure = <A, R>(body: Effect.Effect<A, CliError, R>): Effect.Effect<void, never, R> =>
  body.pipe(
    Effect.asVoid,
    Effect.catchTag("CliError", (error) =>
      Effect.zipRight(printErr(`rebound: ${error.message.replace(/\n/g, "\n  ")}\n`), setExitCode(1))
    )
  )

/** A value in a row: JSON keeps its type; tables and CSV print its text. */
export type Cell = string | number | boolean | null

/** One column of a listing: `key` names it in JSON and CSV, `header` in a table. */
export interface Column<Row> {
  readonly key: string
  readonly header: string
  readonly value: (row: Row) => Cell
  /** the text of the value in a table (default: the value; null as "-", booleans as yes/no) */
  readonly show?: (value: Cell) => string
  readonly align?: "left" | "right"
  /** "data": in JSON and CSV only (long or redundant values); "table": in tables only (a summary of other columns) */
  readonly only?: "table" | "data"
}

/** A time as ISO 8601 in UTC, to the second. */
export const isoTime = (millis: number | null): string | null =>
  millis === null ? null : new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

/** A rate (a fraction) as a percentage with two decimals. */
export const percent = (value: Cell): string => (typeof value === "number" ? `${(value * 100).toFixed(2)}%` : "-")

// C0 and C1 controls: text taken from bounces must not drive the operator's terminal with escape sequences
const controls = /[\u0000-\u001f\u007f-\u009f]/g
const controlsButLineBreaks = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g

const tableText = (value: Cell): string =>
  value === null ? "-" : typeof value === "boolean" ? (value ? "yes" : "no") : String(value)

/** The cells of a table row, on one line each. */
const cellLine = (text: string) => text.replace(/\r\n|\r|\n|\t/g, " ").replace(controls, "\uFFFD")

/** Text columns padded to the widest cell, two spaces apart; numbers align right. */
export const renderTable = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  align: ReadonlyArray<"left" | "right"> = []
): string => {
  const lines = [headers, ...rows].map((cells) => cells.map(cellLine))
  const widths = headers.map((_, i) => Math.max(...lines.map((cells) => [...(cells[i] ?? "")].length)))
  return lines
    .map((cells) =>
      cells
        .map((cell, i) => {
          const pad = " ".repeat(widths[i]! - [...cell].length)
          return align[i] === "right" ? pad + cell : i === cells.length - 1 ? cell : cell + pad
        })
        .join("  ")
        .trimEnd()
    )
    .map((line) => line + "\n")
    .join("")
}

const csvField = (value: Cell): string => {
  const text = value === null ? "" : String(value).replace(controlsButLineBreaks, "\uFFFD")
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** RFC 4180: a header line, CRLF after every record, fields quoted when they hold a comma, quote or line break. */
export const renderCsv = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string =>
  [headers, ...rows].map((cells) => cells.map(csvField).join(",") + "\r\n").join("")

/** One JSON document on one line. */
export const renderJson = (value: unknown): string => JSON.stringify(value) + "\n"

/** A row as a JSON object: each column's key and value (columns only for tables left out). */
export const rowObject = <Row>(columns: ReadonlyArray<Column<Row>>, row: Row): Record<string, Cell> =>
  Object.fromEntries(
    columns.filter((column) => column.only !== "table").map((column) => [column.key, column.value(row)])
  )

/** The rows as an aligned table, one JSON array of objects, or CSV with the JSON keys as its header. */
export const renderRows = <Row>(
  format: Format,
  columns: ReadonlyArray<Column<Row>>,
  rows: ReadonlyArray<Row>
): string => {
  switch (format) {
    case "table": {
      const shown = columns.filter((column) => column.only !== "data")
      return renderTable(
        shown.map((column) => column.header),
        rows.map((row) => shown.map((column) => (column.show ?? tableText)(column.value(row)))),
        shown.map((column) => column.align ?? "left")
      )
    }
    case "json":
      return renderJson(rows.map((row) => rowObject(columns, row)))
    case "csv": {
      const shown = columns.filter((column) => column.only !== "table")
      return renderCsv(
        shown.map((column) => column.key),
        rows.map((row) => shown.map((column) => column.value(row)))
      )
    }
  }
}

/** Label and value pairs, the labels padded (for `show`). */
export const renderPairs = (pairs: ReadonlyArray<readonly [string, Cell]>): string => {
  const width = Math.max(...pairs.map(([label]) => label.length))
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${cellLine(tableText(value))}\n`).join("")
}
