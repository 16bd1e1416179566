import * as Schema from "effect/Schema"

/** What an operator decided about a diagnostic text in the qualification log. */
export const ReviewStatus = Schema.Literal("to-qualify", "keep", "ignore")
export type ReviewStatus = typeof ReviewStatus.Type

/** The longest normalised text kept; diagnostics past it are almost always quoted message content. */
export const maxNormalizedLength = 1000

const substitutions: ReadonlyArray<readonly [RegExp, string]> = [
  [/\b(?:https?|ftp):\/\/[^\s<>"')]+/gi, "<url>"],
  [/<?[^\s<>"'()[\]@,;:]+@(?:[a-z0-9-]+\.)+[a-z0-9-]+>?/gi, "<address>"],
  // RFC 5322 and ISO 8601 dates and times, before numbers are replaced one by one
  [
    /\b(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|[a-z]{1,5}))?)?/gi,
    "<date>"
  ],
  [/\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b/gi, "<date>"],
  [/\b\d{1,2}:\d{2}:\d{2}\b/g, "<time>"],
  [/\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:)+:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?/gi, "<ip>"],
  [/\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?/g, "<ip>"],
  [/\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}\b/gi, "<host>"],
  // queue ids, hashes, tokens: long runs that mix letters and digits
  [/\b(?=[a-z0-9_\-=+/]*\d)(?=[a-z0-9_\-=+/]*[a-z])[a-z0-9_\-=+/]{8,}\b/gi, "<id>"],
  [/\b[0-9a-f]{8,}\b/gi, "<id>"]
]

const statusCode = /^[245]\d{2}(?=[ -]|$)/
const enhancedCode = /\b[245]\.\d{1,3}\.\d{1,3}\b/g

/**
 * Reduces a diagnostic text to its shape, so that one kind of answer from one kind of server is one entry in the
 * qualification log: URLs, addresses, IPs, dates, times, host names, ids and numbers become placeholders. The SMTP
 * reply code at the start and RFC 3463 enhanced status codes are kept, since rules match on them.
 */
export const normalizeDiagnostic = (text: string): string => {
  let work = text.replace(/\s+/g, " ").trim()
  const codes: Array<string> = []
  const keep = (code: string) => {
    codes.push(code)
    return String.fromCharCode(0xe000 + codes.length - 1)
  }
  work = work.replace(statusCode, keep)
  work = work.replace(enhancedCode, keep)
  for (const [pattern, placeholder] of substitutions) work = work.replace(pattern, placeholder)
  work = work.replace(/\d+/g, "<n>")
  work = work.replace(/(?:<n>[.,:/-]?)+<n>/g, "<n>")
  work = work.replace(/[\ue000-\uf8ff]/g, (mark) => codes[mark.charCodeAt(0) - 0xe000]!)
  return work.length > maxNormalizedLength ? work.slice(0, maxNormalizedLength) : work
}

/** The key of a normalised text: case and spacing do not make two texts different. */
export const diagnosticKey = (normalized: string): string => normalized.toLowerCase().replace(/\s+/g, " ").trim()
