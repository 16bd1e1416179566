import * as Schema from "effect/Schema"

/** What an operator decided about a diagnostic text in the qualification log. */
export const ReviewStatus = Schema.Literal("to-qualify", "keep", "ignore")
export type ReviewStatus = typeof ReviewStatus.Type

/** The longest normalised text kept; diagnostics past it are almost always quoted message content. */
export const maxNormalizedLength = 1000

const isDigit = (code: number) => code >= 48 && code <= 57
const isLetter = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122)
const isAlnum = (code: number) => isDigit(code) || isLetter(code)
/** the characters a word continues with: letters, digits and . _ - = + / */
const isWordPart = (code: number) =>
  isAlnum(code) || code === 46 || code === 95 || code === 45 || code === 61 || code === 43 || code === 47

/** A pattern replaced by a placeholder, tried only when a cheap test says it may match at all. */
const substitution =
  (when: RegExp, pattern: RegExp, placeholder: string) =>
  (work: string): string =>
    when.test(work) ? work.replace(pattern, placeholder) : work

/**
 * characters of an address's local part: anything but space (the only white space left by then) and <>"'()[]@,;:
 */
const isLocalPart = (code: number) =>
  code !== 32 &&
  code !== 60 &&
  code !== 62 &&
  code !== 34 &&
  code !== 39 &&
  code !== 40 &&
  code !== 41 &&
  code !== 91 &&
  code !== 93 &&
  code !== 64 &&
  code !== 44 &&
  code !== 59 &&
  code !== 58
const isLabel = (code: number) => isAlnum(code) || code === 45

/**
 * Replaces what `/<?[^\s<>"'()[\]@,;:]+@(?:[a-z0-9-]+\.)+[a-z0-9-]+>?/gi` matches with <address>, in one pass from
 * each "@" (the regular expression backtracks over every word before it, and nearly every diagnostic has one).
 */
const replaceAddresses = (text: string): string => {
  let out = ""
  let copied = 0
  let at = text.indexOf("@")
  while (at !== -1) {
    let start = at
    while (start > copied && isLocalPart(text.charCodeAt(start - 1))) start--
    // the domain: the longest run of two or more labels joined by single dots
    let end = -1
    if (start < at) {
      let labelStart = at + 1
      let labels = 0
      while (true) {
        let labelEnd = labelStart
        while (labelEnd < text.length && isLabel(text.charCodeAt(labelEnd))) labelEnd++
        if (labelEnd === labelStart) break
        labels += 1
        if (labels >= 2) end = labelEnd
        if (text.charCodeAt(labelEnd) !== 46) break
        labelStart = labelEnd + 1
      }
    }
    if (end === -1) {
      at = text.indexOf("@", at + 1)
      continue
    }
    if (start > copied && text.charCodeAt(start - 1) === 60) start--
    if (text.charCodeAt(end) === 62) end++
    out += text.slice(copied, start) + "<address>"
    copied = end
    at = text.indexOf("@", end)
  }
  return copied === 0 ? text : out + text.slice(copied)
}

const substitutions: ReadonlyArray<(work: string) => string> = [
  substitution(/:\/\//, /\b(?:https?|ftp):\/\/[^\s<>"')]+/gi, "<url>"),
  replaceAddresses,
  // RFC 5322 and ISO 8601 dates and times, before numbers are replaced one by one
  substitution(
    /\d\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)/i,
    /\b(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{2,4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*(?:[+-]\d{4}|[a-z]{1,5}))?)?/gi,
    "<date>"
  ),
  substitution(
    /\d{4}-\d\d-\d\d/,
    /\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b/gi,
    "<date>"
  ),
  substitution(/\d:\d\d:\d/, /\b\d{1,2}:\d{2}:\d{2}\b/g, "<time>"),
  substitution(
    /[0-9a-f]:[0-9a-f]*:/i,
    /\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:)+:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?/gi,
    "<ip>"
  ),
  substitution(/\d\.\d+\.\d/, /\[?\b(?:\d{1,3}\.){3}\d{1,3}\b\]?/g, "<ip>")
]

const hostName = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$/i

const numbers = (word: string): string => {
  let out = ""
  let i = 0
  while (i < word.length) {
    if (isDigit(word.charCodeAt(i))) {
      out += "<n>"
      while (i < word.length && isDigit(word.charCodeAt(i))) i++
    } else out += word[i++]
  }
  return out
}

/**
 * Each word (a letter or digit, then letters, digits and . _ - = + /) that is a host name becomes <host>, one of 8 or
 * more characters mixing letters and digits (queue ids, hashes, tokens) <id>, trailing punctuation kept; the digits
 * of the other words become <n>. One pass over the text, since nearly every diagnostic is new (it holds an address).
 */
const shapeWords = (text: string): string => {
  let out = ""
  let copied = 0
  let i = 0
  while (i < text.length) {
    if (!isAlnum(text.charCodeAt(i))) {
      i++
      continue
    }
    let end = i + 1
    while (end < text.length && isWordPart(text.charCodeAt(end))) end++
    let bareEnd = end
    while (!isAlnum(text.charCodeAt(bareEnd - 1))) bareEnd--
    let dot = false
    let digit = false
    let letter = false
    for (let k = i; k < bareEnd; k++) {
      const code = text.charCodeAt(k)
      if (code === 46) dot = true
      else if (isDigit(code)) digit = true
      else if (isLetter(code)) letter = true
    }
    const placeholder =
      dot && hostName.test(text.slice(i, bareEnd)) ? "<host>" : bareEnd - i >= 8 && digit && letter ? "<id>" : undefined
    if (placeholder !== undefined) {
      out += text.slice(copied, i) + placeholder + text.slice(bareEnd, end)
      copied = end
    } else if (digit) {
      out += text.slice(copied, i) + numbers(text.slice(i, end))
      copied = end
    }
    i = end
  }
  return copied === 0 ? text : out + text.slice(copied)
}

const isSpace = (code: number) =>
  code === 32 ||
  (code >= 9 && code <= 13) ||
  code === 160 ||
  code === 5760 ||
  (code >= 8192 && code <= 8202) ||
  code === 8232 ||
  code === 8233 ||
  code === 8239 ||
  code === 8287 ||
  code === 12288 ||
  code === 65279

/** White space as single spaces, trimmed; most texts already are, and are not copied. */
const collapseSpaces = (text: string): string => {
  let previousSpace = true
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 32) {
      if (previousSpace) return text.replace(/\s+/g, " ").trim()
      previousSpace = true
    } else if (isSpace(code)) return text.replace(/\s+/g, " ").trim()
    else previousSpace = false
  }
  return previousSpace && text.length > 0 ? text.slice(0, -1) : text
}

const isWordChar = (code: number) => isAlnum(code) || code === 95
const digitsFrom = (text: string, from: number) => {
  let end = from
  while (end < text.length && isDigit(text.charCodeAt(end))) end++
  return end - from
}

/** The reply code at the start (`/^[245]\d{2}(?=[ -]|$)/`): its length, or 0. */
const statusCodeLength = (text: string): number => {
  const first = text.charCodeAt(0)
  if (first !== 50 && first !== 52 && first !== 53) return 0
  if (!isDigit(text.charCodeAt(1)) || !isDigit(text.charCodeAt(2))) return 0
  const next = text.charCodeAt(3)
  return text.length === 3 || next === 32 || next === 45 ? 3 : 0
}

/** An RFC 3463 enhanced status code at `at` (`/\b[245]\.\d{1,3}\.\d{1,3}\b/`): its length, or 0. */
const enhancedCodeLength = (text: string, at: number): number => {
  const first = text.charCodeAt(at)
  if (first !== 50 && first !== 52 && first !== 53) return 0
  if (at > 0 && isWordChar(text.charCodeAt(at - 1))) return 0
  if (text.charCodeAt(at + 1) !== 46) return 0
  const subject = digitsFrom(text, at + 2)
  if (subject < 1 || subject > 3 || text.charCodeAt(at + 2 + subject) !== 46) return 0
  const detail = digitsFrom(text, at + 3 + subject)
  if (detail < 1 || detail > 3) return 0
  const end = at + 3 + subject + detail
  return end < text.length && isWordChar(text.charCodeAt(end)) ? 0 : end - at
}

const isMark = (code: number) => code >= 0xe000 && code <= 0xf8ff

/**
 * Reduces a diagnostic text to its shape, so that one kind of answer from one kind of server is one entry in the
 * qualification log: URLs, addresses, IPs, dates, times, host names, ids and numbers become placeholders. The SMTP
 * reply code at the start and RFC 3463 enhanced status codes are kept, since rules match on them: they are set
 * aside as private-use characters while the rest is replaced, and put back at the end.
 */
export const normalizeDiagnostic = (text: string): string => {
  const spaced = collapseSpaces(text)
  const codes: Array<string> = []
  let work = ""
  let copied = 0
  const reply = statusCodeLength(spaced)
  if (reply > 0) {
    codes.push(spaced.slice(0, 3))
    work = String.fromCharCode(0xe000)
    copied = 3
  }
  for (let i = copied; i < spaced.length; i++) {
    const length = enhancedCodeLength(spaced, i)
    if (length === 0) continue
    work += spaced.slice(copied, i) + String.fromCharCode(0xe000 + codes.length)
    codes.push(spaced.slice(i, i + length))
    copied = i + length
    i = copied - 1
  }
  work = copied === 0 ? spaced : work + spaced.slice(copied)
  for (const substitute of substitutions) work = substitute(work)
  work = shapeWords(work)
  if (work.indexOf("<n>") !== work.lastIndexOf("<n>")) work = work.replace(/(?:<n>[.,:/-]?)+<n>/g, "<n>")
  let restored = ""
  copied = 0
  for (let i = 0; i < work.length; i++) {
    const code = work.charCodeAt(i)
    if (!isMark(code)) continue
    restored += work.slice(copied, i) + codes[code - 0xe000]
    copied = i + 1
  }
  work = copied === 0 ? work : restored + work.slice(copied)
  return work.length > maxNormalizedLength ? work.slice(0, maxNormalizedLength) : work
}

/** The key of a normalised text: case and spacing do not make two texts different. */
export const diagnosticKey = (normalized: string): string => normalized.toLowerCase().replace(/\s+/g, " ").trim()
