import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { type Column, isoTime, percent, renderCsv, renderRows, renderTable } from "../../../src/app/cli/format.js"
import { parseTime } from "../../../src/app/cli/options.js"

const now = Date.UTC(2026, 0, 10, 12, 30)

describe("output formats", () => {
  it("CSV follows RFC 4180: CRLF after each record, quotes around commas, quotes and line breaks", () => {
    assert.strictEqual(
      renderCsv(["a", "b", "c", "d"], [["x,y", 'say "hi"', "line\r\nbreak", null]]),
      'a,b,c,d\r\n"x,y","say ""hi""","line\r\nbreak",\r\n'
    )
    assert.strictEqual(renderCsv(["n", "ok"], [[1.5, true]]), "n,ok\r\n1.5,true\r\n")
    // an escape sequence from a bounce must not reach a terminal that shows the file
    assert.strictEqual(renderCsv(["t"], [["\u001b[31mred"]]), "t\r\n\uFFFD[31mred\r\n")
  })

  it("tables pad columns to the widest cell, align numbers right, and keep each row on one line", () => {
    const text = renderTable(
      ["NAME", "N", "NOTE"],
      [
        ["a", "1", "multi\nline\tand \u001b[2Jescape"],
        ["longer-name", "100", ""]
      ],
      ["left", "right", "left"]
    )
    assert.strictEqual(
      text,
      "NAME           N  NOTE\n" + "a              1  multi line and \uFFFD[2Jescape\n" + "longer-name  100\n"
    )
  })

  it("rows: JSON keeps types, CSV uses the JSON keys, tables show null as - and booleans as yes/no", () => {
    const columns: ReadonlyArray<Column<{ n: number | null; b: boolean; s: string }>> = [
      { key: "name", header: "NAME", value: (r) => r.s },
      { key: "count", header: "COUNT", value: (r) => r.n, align: "right" },
      { key: "flag", header: "FLAG", value: (r) => r.b },
      { key: "hidden", header: "HIDDEN", value: () => "data only", only: "data" },
      { key: "summary", header: "SUMMARY", value: (r) => `${r.s}!`, only: "table" }
    ]
    const rows = [{ n: null, b: true, s: "é" }]
    assert.strictEqual(
      renderRows("json", columns, rows),
      '[{"name":"é","count":null,"flag":true,"hidden":"data only"}]\n'
    )
    assert.strictEqual(renderRows("csv", columns, rows), "name,count,flag,hidden\r\né,,true,data only\r\n")
    assert.strictEqual(renderRows("table", columns, rows), "NAME  COUNT  FLAG  SUMMARY\né         -  yes   é!\n")
    assert.strictEqual(renderRows("json", columns, []), "[]\n")
  })

  it("times are ISO 8601 UTC to the second; rates are percentages", () => {
    assert.strictEqual(isoTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), "2026-01-02T03:04:05Z")
    assert.isNull(isoTime(null))
    assert.strictEqual(percent(0.02), "2.00%")
    assert.strictEqual(percent(1 / 3), "33.33%")
    assert.strictEqual(percent(null), "-")
  })
})

describe("DURATION_OR_DATE", () => {
  const parsed = (text: string) => Either.getOrThrow(parseTime(text, now))
  const problem = (text: string) => Either.flip(parseTime(text, now)).pipe(Either.getOrThrow)

  it("reads durations back from now", () => {
    assert.strictEqual(parsed("30m"), now - 30 * 60_000)
    assert.strictEqual(parsed("12h"), now - 12 * 3_600_000)
    assert.strictEqual(parsed("7d"), now - 7 * 86_400_000)
    assert.strictEqual(parsed("2w"), now - 14 * 86_400_000)
    assert.strictEqual(parsed("1.5 hours"), now - 5_400_000)
    assert.strictEqual(parsed("90s"), now - 90_000)
  })

  it("reads dates and date-times, in UTC unless an offset is named", () => {
    assert.strictEqual(parsed("2026-01-31"), Date.UTC(2026, 0, 31))
    assert.strictEqual(parsed("2026-01-31T08:00"), Date.UTC(2026, 0, 31, 8))
    assert.strictEqual(parsed("2026-01-31 08:00:30"), Date.UTC(2026, 0, 31, 8, 0, 30))
    assert.strictEqual(parsed("2026-01-31T08:00:00.250Z"), Date.UTC(2026, 0, 31, 8, 0, 0, 250))
    assert.strictEqual(parsed("2026-01-31T10:00+02:00"), Date.UTC(2026, 0, 31, 8))
    assert.strictEqual(parsed("2026-01-31T03:00-0500"), Date.UTC(2026, 0, 31, 8))
    assert.strictEqual(parsed("2024-02-29"), Date.UTC(2024, 1, 29))
  })

  it("refuses what is neither, and dates that do not exist", () => {
    assert.include(problem("yesterday"), "neither a duration")
    assert.include(problem("3 fortnights"), 'unknown unit "fortnights"')
    assert.include(problem("2026-02-30"), "not a valid date")
    assert.include(problem("2025-02-29"), "not a valid date")
    assert.include(problem("2026-01-31T24:00"), "not a valid date")
    assert.include(problem("2026-13-01"), "not a valid date")
    assert.include(problem("31/01/2026"), "neither a duration")
  })
})
