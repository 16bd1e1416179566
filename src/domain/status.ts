/**
 * RFC 3463 enhanced status codes (with the RFC 5248 IANA registry) and RFC 5321 reply codes: parsing, formatting,
 * and finding them in the free text of a diagnostic.
 *
 * The search and preference logic follows sisimai (smtp/status Find and Prefer, smtp/reply Find; BSD-2-Clause,
 * https://github.com/sisimai), because the corpus we measure against is scored on its answers.
 */
import * as Option from "effect/Option"

/** The class digit of an enhanced status code: success, persistent transient failure, permanent failure. */
export type StatusClass = 2 | 4 | 5

/** A parsed enhanced status code `class.subject.detail` (RFC 3463 section 2). */
export interface EnhancedStatus {
  readonly statusClass: StatusClass
  readonly subject: number
  readonly detail: number
}

// RFC 3463 section 2: status-code = class "." subject "." detail; subject = 1*3digit; detail = 1*3digit
const statusSyntax = /^([245])\.(\d{1,3})\.(\d{1,3})$/

/** Parses `5.1.1` (surrounding blanks allowed); anything else, including class 1/3/6+, is none. */
export const parseEnhancedStatus = (input: string): Option.Option<EnhancedStatus> => {
  const match = statusSyntax.exec(input.trim())
  if (match === null) return Option.none()
  return Option.some({
    statusClass: Number(match[1]) as StatusClass,
    subject: Number(match[2]),
    detail: Number(match[3])
  })
}

/** Formats a status code in its canonical form (no leading zeros). */
export const formatEnhancedStatus = (status: EnhancedStatus): string =>
  `${status.statusClass}.${status.subject}.${status.detail}`

/** Whether `input` is a syntactically valid enhanced status code. */
export const isEnhancedStatus = (input: string): boolean => statusSyntax.test(input.trim())

/** One entry of the IANA "Enumerated Status Codes" registry (the class digit is X). */
export interface RegisteredStatus {
  /** `X.1.1` */
  readonly code: string
  readonly summary: string
  readonly reference: string
}

const registered = (code: string, summary: string, reference: string): RegisteredStatus => ({
  code,
  summary,
  reference
})

/**
 * The IANA registry of subject.detail codes (https://www.iana.org/assignments/smtp-enhanced-status-codes),
 * keyed by `subject.detail` (e.g. `7.26`).
 */
export const statusRegistry: ReadonlyMap<string, RegisteredStatus> = new Map(
  [
    registered("X.0.0", "Other undefined Status", "RFC 3463"),
    registered("X.1.0", "Other address status", "RFC 3463"),
    registered("X.1.1", "Bad destination mailbox address", "RFC 3463"),
    registered("X.1.2", "Bad destination system address", "RFC 3463"),
    registered("X.1.3", "Bad destination mailbox address syntax", "RFC 3463"),
    registered("X.1.4", "Destination mailbox address ambiguous", "RFC 3463"),
    registered("X.1.5", "Destination address valid", "RFC 3463"),
    registered("X.1.6", "Destination mailbox has moved, No forwarding address", "RFC 3463"),
    registered("X.1.7", "Bad sender's mailbox address syntax", "RFC 3463"),
    registered("X.1.8", "Bad sender's system address", "RFC 3463"),
    registered("X.1.9", "Message relayed to non-compliant mailer", "RFC 3886"),
    registered("X.1.10", "Recipient address has null MX", "RFC 7505"),
    registered("X.2.0", "Other or undefined mailbox status", "RFC 3463"),
    registered("X.2.1", "Mailbox disabled, not accepting messages", "RFC 3463"),
    registered("X.2.2", "Mailbox full", "RFC 3463"),
    registered("X.2.3", "Message length exceeds administrative limit", "RFC 3463"),
    registered("X.2.4", "Mailing list expansion problem", "RFC 3463"),
    registered("X.3.0", "Other or undefined mail system status", "RFC 3463"),
    registered("X.3.1", "Mail system full", "RFC 3463"),
    registered("X.3.2", "System not accepting network messages", "RFC 3463"),
    registered("X.3.3", "System not capable of selected features", "RFC 3463"),
    registered("X.3.4", "Message too big for system", "RFC 3463"),
    registered("X.3.5", "System incorrectly configured", "RFC 3463"),
    registered("X.3.6", "Requested priority was changed", "RFC 6710"),
    registered("X.4.0", "Other or undefined network or routing status", "RFC 3463"),
    registered("X.4.1", "No answer from host", "RFC 3463"),
    registered("X.4.2", "Bad connection", "RFC 3463"),
    registered("X.4.3", "Directory server failure", "RFC 3463"),
    registered("X.4.4", "Unable to route", "RFC 3463"),
    registered("X.4.5", "Mail system congestion", "RFC 3463"),
    registered("X.4.6", "Routing loop detected", "RFC 3463"),
    registered("X.4.7", "Delivery time expired", "RFC 3463"),
    registered("X.5.0", "Other or undefined protocol status", "RFC 3463"),
    registered("X.5.1", "Invalid command", "RFC 3463"),
    registered("X.5.2", "Syntax error", "RFC 3463"),
    registered("X.5.3", "Too many recipients", "RFC 3463"),
    registered("X.5.4", "Invalid command arguments", "RFC 3463"),
    registered("X.5.5", "Wrong protocol version", "RFC 3463"),
    registered("X.5.6", "Authentication Exchange line is too long", "RFC 4954"),
    registered("X.6.0", "Other or undefined media error", "RFC 3463"),
    registered("X.6.1", "Media not supported", "RFC 3463"),
    registered("X.6.2", "Conversion required and prohibited", "RFC 3463"),
    registered("X.6.3", "Conversion required but not supported", "RFC 3463"),
    registered("X.6.4", "Conversion with loss performed", "RFC 3463"),
    registered("X.6.5", "Conversion Failed", "RFC 3463"),
    registered("X.6.6", "Message content not available", "RFC 4468"),
    registered("X.6.7", "Non-ASCII addresses not permitted for that sender/recipient", "RFC 6531"),
    registered("X.6.8", "UTF-8 string reply is required, but not permitted by the SMTP client", "RFC 6531"),
    registered("X.6.9", "UTF-8 header message cannot be transferred to one or more recipients", "RFC 6531"),
    registered("X.6.10", "Deprecated duplicate of X.6.8", "RFC 6531"),
    registered("X.7.0", "Other or undefined security status", "RFC 3463"),
    registered("X.7.1", "Delivery not authorized, message refused", "RFC 3463"),
    registered("X.7.2", "Mailing list expansion prohibited", "RFC 3463"),
    registered("X.7.3", "Security conversion required but not possible", "RFC 3463"),
    registered("X.7.4", "Security features not supported", "RFC 3463"),
    registered("X.7.5", "Cryptographic failure", "RFC 3463"),
    registered("X.7.6", "Cryptographic algorithm not supported", "RFC 3463"),
    registered("X.7.7", "Message integrity failure", "RFC 3463"),
    registered("X.7.8", "Authentication credentials invalid", "RFC 4954"),
    registered("X.7.9", "Authentication mechanism is too weak", "RFC 4954"),
    registered("X.7.10", "Encryption Needed", "RFC 5248"),
    registered("X.7.11", "Encryption required for requested authentication mechanism", "RFC 4954"),
    registered("X.7.12", "A password transition is needed", "RFC 4954"),
    registered("X.7.13", "User Account Disabled", "RFC 5248"),
    registered("X.7.14", "Trust relationship required", "RFC 5248"),
    registered("X.7.15", "Priority Level is too low", "RFC 6710"),
    registered("X.7.16", "Message is too big for the specified priority", "RFC 6710"),
    registered("X.7.17", "Mailbox owner has changed", "RFC 7293"),
    registered("X.7.18", "Domain owner has changed", "RFC 7293"),
    registered("X.7.19", "RRVS test cannot be completed", "RFC 7293"),
    registered("X.7.20", "No passing DKIM signature found", "RFC 7372"),
    registered("X.7.21", "No acceptable DKIM signature found", "RFC 7372"),
    registered("X.7.22", "No valid author-matched DKIM signature found", "RFC 7372"),
    registered("X.7.23", "SPF validation failed", "RFC 7372"),
    registered("X.7.24", "SPF validation error", "RFC 7372"),
    registered("X.7.25", "Reverse DNS validation failed", "RFC 7372"),
    registered("X.7.26", "Multiple authentication checks failed", "RFC 7372"),
    registered("X.7.27", "Sender address has null MX", "RFC 7505"),
    registered("X.7.28", "Mail flood detected", "IANA (2020)"),
    registered("X.7.29", "ARC validation failure", "RFC 8617"),
    registered("X.7.30", "REQUIRETLS support required", "RFC 8689")
  ].map((entry) => [entry.code.slice(2), entry] as const)
)

/** The registry entry for a status code such as `5.7.26`, if its subject.detail is registered. */
export const describeEnhancedStatus = (status: string): Option.Option<RegisteredStatus> =>
  Option.flatMap(parseEnhancedStatus(status), (parsed) =>
    Option.fromNullable(statusRegistry.get(`${parsed.subject}.${parsed.detail}`))
  )

/** The class digit of a status or reply code as a string ("2", "4", "5"), or null. */
export const classOf = (code: string | null | undefined): "2" | "4" | "5" | null => {
  const first = code?.trim()[0]
  return first === "2" || first === "4" || first === "5" ? first : null
}

/** Whether an enhanced status code and an SMTP reply code agree on the class (both permanent, ...). */
export const sameClass = (status: string | null | undefined, replyCode: string | null | undefined): boolean => {
  const a = classOf(status)
  return a !== null && a === classOf(replyCode)
}

/** Whether a code says permanent failure (5), transient failure (4), success (2), or nothing. */
export const failureClass = (code: string | null | undefined): "permanent" | "temporary" | "success" | null => {
  switch (classOf(code)) {
    case "5":
      return "permanent"
    case "4":
      return "temporary"
    case "2":
      return "success"
    default:
      return null
  }
}

/** x.0.0 and 4.4.7 say nothing specific; a more specific code elsewhere is preferred (sisimai). */
export const isGenericStatus = (status: string): boolean => /^[245]\.0\.0$/.test(status) || status === "4.4.7"

const ipv4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9"

/**
 * Every enhanced status code in a text, in order of appearance, skipping IPv4 addresses, version numbers (`v5.1.1`,
 * `1.5.1.1`) and longer numbers such as dates (`5.1.2024`). Only codes of `statusClass` when it is given.
 */
export const findEnhancedStatuses = (text: string, statusClass?: "2" | "4" | "5"): Array<string> => {
  // Padding so that a code at either end has neighbours, as in sisimai (p5-sisimai issue 574).
  const haystack = " " + text.replace(ipv4, (address) => "*".repeat(address.length)) + "   "
  const found: Array<string> = []
  const pattern = /([245])\.([0-7])\.(\d{1,3})/g
  for (let match = pattern.exec(haystack); match !== null; match = pattern.exec(haystack)) {
    const at = match.index
    const before = haystack[at - 1]
    const after = haystack[at + match[0].length]
    pattern.lastIndex = at + 1
    if (statusClass !== undefined && match[1] !== statusClass) continue
    if (before === "." || before === "/" || isDigit(before) || before === "v" || before === "V") continue
    if (isDigit(after)) continue
    // A fourth numeric component makes it a version or an address fragment, not a status.
    if (after === "." && isDigit(haystack[at + match[0].length + 1])) continue
    found.push(`${match[1]}.${match[2]}.${Number(match[3])}`)
  }
  return found
}

/**
 * The enhanced status code a diagnostic text gives: the first specific code, otherwise a generic one (x.0.0,
 * 4.4.7); failure codes before success codes. When several specific codes appear, sisimai's preference between them applies. `replyCode` narrows the
 * search to its class. Null when there is none.
 */
export const findEnhancedStatus = (text: string, replyCode?: string | null): string | null => {
  const found = findEnhancedStatuses(text, classOf(replyCode) ?? undefined)
  // In the transcript of a failed session, a success code (250 2.1.5 Ok) is not the answer.
  const failures = found.filter((code) => code[0] !== "2")
  const all = failures.length > 0 ? failures : found
  if (all.length === 0) return null
  const specific = all.filter((code) => !isGenericStatus(code))
  const generic = all.filter(isGenericStatus)
  const ordered = generic.length > 0 ? [...specific, generic[generic.length - 1]!] : specific
  return ordered.reduce((chosen, next) => preferStatus(chosen, next, null) ?? chosen)
}

/**
 * Chooses between the `Status:` field of a DSN and the code found in its diagnostic text (sisimai's Prefer): the
 * one whose class agrees with the reply code; otherwise the more specific one (x.0.0, x.y.0, 4.4.7, 4.7.0, 5.3.z,
 * x.5.1, x.5.2, x.5.4, x.5.5 in the field give way to the text).
 */
export const preferStatus = (
  fieldStatus: string | null | undefined,
  textStatus: string | null | undefined,
  replyCode: string | null | undefined
): string | null => {
  if (!fieldStatus) return textStatus || null
  if (!textStatus) return fieldStatus
  if (fieldStatus.length < 5) return textStatus
  if (textStatus.length < 5) return fieldStatus
  const replyFirst = replyCode?.[0]
  if (replyFirst !== undefined && fieldStatus[0] !== textStatus[0]) {
    if (replyFirst === fieldStatus[0]) return fieldStatus
    if (replyFirst === textStatus[0]) return textStatus
  }
  if (fieldStatus === textStatus) return fieldStatus
  const fieldZero = fieldStatus.indexOf(".0")
  const textZero = textStatus.indexOf(".0")
  const fieldGeneric = fieldStatus.indexOf(".0.0") > 0
  const textGeneric = textStatus.indexOf(".0.0") > 0
  if (fieldGeneric) return textGeneric ? fieldStatus : textStatus
  if (fieldZero > 0 && textZero < 0) return textStatus
  if (textGeneric) return fieldStatus
  if (fieldStatus === "4.4.7" || fieldStatus === "4.7.0") return textStatus
  if (fieldStatus.startsWith("5.3.")) return textStatus
  if (/^[245]\.5\.[1245]$/.test(fieldStatus)) return textStatus
  if (fieldStatus === "5.1.1") return textZero > 0 || textStatus.startsWith("5.5.") ? fieldStatus : textStatus
  if (fieldStatus === "5.1.3" && textStatus.startsWith("5.7.")) return textStatus
  return fieldStatus
}

/** The SMTP reply codes of RFC 5321 and its extensions (RFC 1985, 2645, 3030, 4954, 5248, 7504). */
export const replyCodes: ReadonlySet<string> = new Set([
  "211",
  "214",
  "220",
  "221",
  "235",
  "250",
  "251",
  "252",
  "253",
  "334",
  "354",
  "421",
  "422",
  "430",
  "432",
  "450",
  "451",
  "452",
  "453",
  "454",
  "455",
  "458",
  "459",
  "500",
  "501",
  "502",
  "503",
  "504",
  "521",
  "523",
  "524",
  "525",
  "530",
  "533",
  "534",
  "535",
  "538",
  "550",
  "551",
  "552",
  "553",
  "554",
  "555",
  "556"
])

/** Whether `code` is a registered SMTP reply code. */
export const isReplyCode = (code: string): boolean => replyCodes.has(code)

// A reply code where an SMTP reply starts: at a line start (optionally after "<<<" of a transcript or a `#`), after
// "smtp;" of a Diagnostic-Code, or after the colon of "said:" / "The response was:" / "reason:".
const replyAnchored = /(?:^|\n|;|:|<<<|\(|\[|#)[ \t]*([245]\d\d)(?=[ \t\-.,;:)\]]|$|\r|\n)/g
// Any standalone three-digit number: not next to a digit, '.' or '/' (sisimai's scan).
const replyLoose = /(?<![\d./])([245]\d\d)(?![\d./])/g

/**
 * The SMTP reply code of a diagnostic text: the first registered 2xx/4xx/5xx code at the start of a reply line or
 * after `smtp;`/`said:`, otherwise the first standalone one anywhere. `statusClass` (the class of the enhanced status,
 * e.g. "5") restricts the search to that class. Null when there is none.
 */
export const findReplyCode = (text: string, statusClass?: "2" | "4" | "5" | null): string | null => {
  if (text.length < 3 || /x-unix/i.test(text)) return null
  const wanted = (code: string): boolean => isReplyCode(code) && (statusClass == null || code[0] === statusClass)
  for (const pattern of [replyAnchored, replyLoose]) {
    pattern.lastIndex = 0
    for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
      if (wanted(match[1]!)) return match[1]!
    }
  }
  return null
}
