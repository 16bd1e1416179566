import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { normalizeDiagnostic } from "../../src/domain/qualification-log.js"

// The regular-expression version that normalizeDiagnostic replaced (one pass per pattern, and a callback per word):
// the one-pass version must give the same text for any input.
interface Substitution {
  /** a cheap test that the pattern may match at all (most texts have no URL, no date, no IPv6) */
  readonly when: RegExp
  readonly pattern: RegExp
  readonly placeholder: string
}

const substitutions: ReadonlyArray<Substitution> = [
  { when: /:\/\//, pattern: /\b(?:https?|ftp):\/\/[^\s<>"')]+/gi, placeholder: "<url>" },
  { when: /@/, pattern: /<?[^\s<>"'()[\]@,;:]+@(?:[a-z0-9-]+\.)+[a-z0-9-]+>?/gi, placeholder: "<address>" },
  // RFC 5322 and ISO 8601 dates and times, before numbers are replaced one by one
  {
    when: /\d\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)/i,
    pattern:
      /\b(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|[a-z]{1,5}))?)?/gi,
    placeholder: "<date>"
  },
  {
    when: /\d{4}-\d\d-\d\d/,
    pattern: /\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b/gi,
    placeholder: "<date>"
  },
  { when: /\d:\d\d:\d/, pattern: /\b\d{1,2}:\d{2}:\d{2}\b/g, placeholder: "<time>" },
  {
    when: /[0-9a-f]:[0-9a-f]*:/i,
    pattern: /\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:)+:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?/gi,
    placeholder: "<ip>"
  },
  { when: /\d\.\d+\.\d/, pattern: /\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?/g, placeholder: "<ip>" }
]

const hostName = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$/i
const hasDigit = /\d/
const hasLetter = /[a-z]/i

/** Host names become <host>; queue ids, hashes and tokens (8 or more characters mixing letters and digits) <id>. */
const token = (word: string): string => {
  const bare = word.replace(/[._\-=+/]+$/, "")
  const trailer = word.slice(bare.length)
  if (hostName.test(bare)) return `<host>${trailer}`
  if (bare.length >= 8 && hasDigit.test(bare) && hasLetter.test(bare)) return `<id>${trailer}`
  return word
}

const statusCode = /^[245]\d{2}(?=[ -]|$)/
const enhancedCode = /\b[245]\.\d{1,3}\.\d{1,3}\b/g

const reference = (text: string): string => {
  let work = text.replace(/\s+/g, " ").trim()
  const codes: Array<string> = []
  const keep = (code: string) => {
    codes.push(code)
    return String.fromCharCode(0xe000 + codes.length - 1)
  }
  work = work.replace(statusCode, keep)
  work = work.replace(enhancedCode, keep)
  for (const { pattern, placeholder, when } of substitutions) {
    if (when.test(work)) work = work.replace(pattern, placeholder)
  }
  work = work.replace(/[a-z0-9][a-z0-9._\-=+/]*/gi, token)
  work = work.replace(/\d+/g, "<n>")
  work = work.replace(/(?:<n>[.,:/-]?)+<n>/g, "<n>")
  work = work.replace(/[\ue000-\uf8ff]/g, (mark) => codes[mark.charCodeAt(0) - 0xe000]!)
  return work.length > 1000 ? work.slice(0, 1000) : work
}

/** Pieces of diagnostics, and the characters where the patterns' edges are. */
const piece = FastCheck.oneof(
  FastCheck.constantFrom(
    "550",
    "452-",
    "5.1.1",
    "4.2.2 ",
    "2.0.0.",
    "5.7.1234",
    "5.1234.1",
    "2.12.123",
    "55.1.1",
    " ",
    "  ",
    "\t",
    "\r\n",
    "\u00a0",
    "<",
    ">",
    "@",
    "<user@example.org>",
    "John.Doe+tag@Sub.Example.COM",
    "a@b",
    "x@y.z.",
    "a@b..c",
    "@example.org",
    "mx1.example.net",
    "example.",
    "[192.0.2.25]",
    "10.0.0.1",
    "2001:db8::1",
    "fe80:0:0:0:0:0:0:1",
    "https://support.example.com/mail/?p=Over",
    "ftp://x",
    "Tue, 7 Jan 2025 10:11:12 +0100",
    "7 jan 25",
    "2025-01-08T10:00:00Z",
    "10:11:12",
    "a640c23a62f3a-b7f1c2",
    "4Yk9Lm2Qz7",
    "abc123",
    "_x",
    "-",
    ".",
    "=",
    "+",
    "/",
    ",",
    ";",
    ":",
    "(",
    ")",
    '"',
    "'",
    "_",
    "<n>",
    "\ue000",
    "\uf8ff",
    "é",
    "K",
    "ſ"
  ),
  FastCheck.string({ maxLength: 6 }),
  FastCheck.integer({ min: 0, max: 99999 }).map(String)
)

describe("normalizeDiagnostic, one pass", () => {
  it.prop(
    "gives the text the regular expressions gave",
    [FastCheck.array(piece, { maxLength: 30 }).map((pieces) => pieces.join(""))],
    ([text]) => {
      assert.strictEqual(normalizeDiagnostic(text), reference(text))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it.prop("and on any string", [FastCheck.fullUnicodeString({ maxLength: 200 })], ([text]) => {
    assert.strictEqual(normalizeDiagnostic(text), reference(text))
  })
})
