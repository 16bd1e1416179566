import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { errorSection, headerLine, originalMarker } from "../../src/domain/text-bounce.js"

/** The section as the first version found it, by splitting the whole body into lines: the reference. */
const splitSection = (body: string): string => {
  const lines = body.split(/\r\n|\r|\n/)
  let headerRun = 0
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!
    if (index > 0 && originalMarker.test(line)) return lines.slice(0, index).join("\n")
    if (headerLine.test(line)) {
      headerRun++
      if (headerRun >= 3) return lines.slice(0, index - 2).join("\n")
    } else if (!/^\s/.test(line)) headerRun = 0
  }
  return body
}

/** Lines of a text bounce, with the markers and header lines that end its error section. */
const line = FastCheck.oneof(
  {
    weight: 4,
    arbitrary: FastCheck.constantFrom("Received: from mx.example", "From: a@example.org", "Subject: hello")
  },
  {
    weight: 4,
    arbitrary: FastCheck.constantFrom(
      "",
      "--- Original message follows.",
      "------ This is a copy of the message, including all the headers. ------",
      "   folded continuation",
      "\t",
      "The following address failed:",
      "  b@example.org: 550 5.1.1 unknown"
    )
  },
  { weight: 1, arbitrary: FastCheck.string({ maxLength: 12 }) }
)
const lineEnd = FastCheck.constantFrom("\r\n", "\n", "\r", "")

describe("errorSection", () => {
  it.prop(
    "reads line by line what the whole body split into lines gave",
    [FastCheck.array(FastCheck.tuple(line, lineEnd), { maxLength: 30 })],
    ([lines]) => {
      const body = lines.map(([text, end]) => text + end).join("")
      assert.strictEqual(errorSection(body), splitSection(body))
    },
    { fastCheck: { numRuns: 2000 } }
  )
})
