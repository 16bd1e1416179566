import * as Schema from "effect/Schema"

/** What an operator decided about a diagnostic text in the qualification log. */
export const ReviewStatus = Schema.Literal("to-qualify", "keep", "ignore")
export type ReviewStatus = typeof ReviewStatus.Type

/** The longest normalised text kept; diagnostics past it are almost always quoted message content. */
export const maxNormalizedLength = 1000

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
  for (const { pattern, placeholder, when } of substitutions) {
    if (when.test(work)) work = work.replace(pattern, placeholder)
  }
  work = work.replace(/[a-z0-9][a-z0-9._\-=+/]*/gi, token)
  work = work.replace(/\d+/g, "<n>")
  work = work.replace(/(?:<n>[.,:/-]?)+<n>/g, "<n>")
  work = work.replace(/[\ue000-\uf8ff]/g, (mark) => codes[mark.charCodeAt(0) - 0xe000]!)
  return work.length > maxNormalizedLength ? work.slice(0, maxNormalizedLength) : work
}

/** The key of a normalised text: case and spacing do not make two texts different. */
export const diagnosticKey = (normalized: string): string => normalized.toLowerCase().replace(/\s+/g, " ").trim()
