import {
  addressPattern,
  cleanAddress,
  emptyRecipient,
  type Extraction,
  type FoundRecipient,
  findAddresses,
  oneLine
} from "./extraction.js"
import { findSmtpCommand } from "./qualify.js"
import { findEnhancedStatus, findReplyCode } from "./status.js"

/** What the text decoder reads of a mail that has no machine-readable report. */
export interface TextBounceInput {
  readonly subject: string
  readonly from: string
  /** the human-readable explanation, as text */
  readonly body: string
  /** addresses named in X-Failed-Recipients (Exim, Gmail, ...) */
  readonly failedRecipients: ReadonlyArray<string>
  /** addresses that are certainly not failed recipients: the sender of the original, the bounce's own From/To */
  readonly notRecipients: ReadonlySet<string>
  /** the To addresses of the returned original, for bounces that name no recipient at all */
  readonly originalRecipients: ReadonlyArray<string>
}

const daemonFrom =
  /mailer[-_ ]?daemon|post_?master|mail delivery|delivery subsystem|mail administrator|mail system|mdaemon|mail ?router|mailer@|\bmta\b|internet mail delivery|nobody@|bounce|returned|notifications?@.*google/i

const bounceSubject = new RegExp(
  [
    "undeliver",
    "undelivered",
    "delivery (?:status notification|failure|failed|has failed|problem|notification|report|error)",
    "returned mail",
    "mail delivery failed",
    "failure notice",
    "failed delivery",
    "could not be delivered",
    "couldn't be delivered",
    "non[- ]?deliver",
    "not delivered",
    "nondeliverable",
    "rejected",
    "bounce",
    "warning: could not send",
    "mail system error",
    "delivery final failure",
    "permanent error",
    "message you sent",
    "delivery notification",
    "delivery incomplete",
    "mail could not",
    "error sending",
    "unable to deliver",
    "returned to sender",
    "dsn",
    "配信",
    "エラー",
    "不能",
    "失敗",
    "未送達",
    "не доставлено",
    "недоставлен",
    "Unzustellbar",
    "Non remis",
    "No se puede entregar",
    "Nicht zustellbar"
  ].join("|"),
  "i"
)

export const originalMarker = new RegExp(
  String.raw`^[\s>|*=#_-]*(?:` +
    [
      "(?:below this line|this|enclosed|attached|included|here|following) is a copy of (?:the|your) message",
      "(?:the |a )?(?:copy of (?:the |your )?)?original message(?:'s headers)?(?: follows| headers?| is (?:attached|below|included)| attached|:|\\s*-|\\s*$)",
      "message headers follow",
      "the header of the original message",
      "headers of the original message",
      "(?:start of |begin )?(?:unsent|returned|undelivered) message(?: follows| below|:|\\s*-|\\s*$)",
      "forwarded message",
      "original message header",
      "copy of (?:your|the) message",
      "included is the original",
      "the first \\d+ lines",
      "message text follows",
      "the message you sent",
      "your message (?:reads|is attached|follows|headers)",
      "content-type: message/rfc822",
      "original text follows",
      "text of original message",
      "message content follows",
      "the text you sent follows",
      "-{3,} ?(?:original|returned|included)",
      "原文",
      "元のメッセージ",
      "送信したメッセージ"
    ].join("|") +
    ")",
  "i"
)

export const headerLine =
  /^(?:return-path|received|message-id|from|to|subject|date|mime-version|dkim-signature|x-[a-z-]+):\s/i

const lineBreak = /\r\n|\r|\n/g

/** The first `end` characters of `body`, their line breaks made "\n". */
const linesUpTo = (body: string, end: number) => body.slice(0, end).replace(/\r\n?/g, "\n")

/**
 * The part of a bounce text before the returned message: where the explanation is, its line breaks made "\n" (the
 * whole body, as it is, when nothing is returned). It reads line by line and stops there: the original, often most of
 * the mail, is not split into lines.
 */
export const errorSection = (body: string): string => {
  // where each line read so far ends (before its line break)
  const ends: Array<number> = []
  let headerRun = 0
  let start = 0
  for (let index = 0; ; index++) {
    lineBreak.lastIndex = start
    const found = lineBreak.exec(body)
    const end = found === null ? body.length : found.index
    const line = body.slice(start, end)
    if (index > 0 && originalMarker.test(line)) return linesUpTo(body, ends[index - 1]!)
    if (headerLine.test(line)) {
      headerRun++
      // three header lines in a row: the original starts at the first of them
      if (headerRun >= 3) return index === 2 ? "" : linesUpTo(body, ends[index - 3]!)
    } else if (!/^\s/.test(line)) headerRun = 0
    if (found === null) return body
    ends.push(end)
    start = end + found[0].length
  }
}

/** The returned original as pasted into a text bounce, when there is one. */
export const pastedOriginal = (body: string): string | null => {
  const section = errorSection(body)
  if (section.length >= body.length) return null
  return body.slice(section.length)
}

const failurePhrase =
  /could not be delivered|couldn't be delivered|undeliverable|delivery (?:has )?failed|unable to deliver|not (?:be )?delivered|delivery to the following|permanent(?:ly)? (?:error|fatal|failure)|failed to deliver/i

export const looksLikeBounce = (input: TextBounceInput): boolean =>
  input.failedRecipients.length > 0 ||
  daemonFrom.test(input.from) ||
  bounceSubject.test(input.subject) ||
  failurePhrase.test(errorSection(input.body))

const ignoredLocalParts = /^(?:postmaster|mailer-daemon|mailer_daemon|root|abuse|noreply|no-reply|nobody)$/i

interface RecipientLine {
  readonly address: string
  readonly line: number
  readonly rest: string
}

interface RecipientLinePattern {
  readonly pattern: RegExp
  /** whether an address found this way may still be the sender's own, so that the exclusions apply */
  readonly weak: boolean
}

const bullet = String.raw`[ \t]*(?:[*>•·-][ \t]*)?`
const recipientLinePatterns: ReadonlyArray<RecipientLinePattern> = [
  // Sendmail: "550 <user@example.com>... User unknown"
  {
    pattern: new RegExp(
      String.raw`^\s*(?:[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3} )?)?<?(${addressPattern.source})>?\.\.\.\s*(.*)$`
    ),
    weak: false
  },
  // qmail, Postfix (old), Yahoo, Courier: "<user@example.com>:"; Exim, Exchange 2003, many appliances: the address
  // opens the line, alone or followed by the reason; "a@b <c@d>: ..." (Exim's malformed address) is a display name
  // before the address in angle brackets
  {
    pattern: new RegExp(
      String.raw`^${bullet}(?:<(${addressPattern.source})>|"?${addressPattern.source}"?[ \t]+<(${addressPattern.source})>|"?(${addressPattern.source})"?)(?=\s|:|$)[\s:]*(.*)$`
    ),
    weak: false
  },
  // "There was an error delivering your mail to <user@example.com>", "Unable to deliver message to <...>"
  {
    pattern: new RegExp(
      String.raw`(?:deliver(?:y|ing|ed)?|send|sending|sent|relay(?:ing)?|transmit(?:ting)?|reach)\b[^.\n]{0,60}?\bto:?\s*<?(${addressPattern.source})>?(.*)$`,
      "i"
    ),
    weak: false
  },
  // "RCPT To:<user@example.com>" in a session transcript, "Recipient: ...", "Address: <...>"
  {
    pattern: new RegExp(
      String.raw`(?:rcpt to|recipient(?: address)?|original-recipient|final-recipient|failed recipient|address|addressee|to)\s*:\s*(?:rfc822;\s*)?<?(${addressPattern.source})>?(.*)$`,
      "i"
    ),
    weak: true
  },
  // "User mailbox exceeds allowed size: user@example.com": a label or a reason, and prose cannot tell which
  { pattern: new RegExp(String.raw`:\s*<?(${addressPattern.source})>?\s*(.*)$`), weak: true }
]

const findRecipientLines = (
  lines: ReadonlyArray<string>,
  excluded: (address: string) => boolean
): { readonly entries: Array<RecipientLine>; readonly weak: boolean } => {
  const matches = (weak: boolean, only?: RecipientLinePattern) => {
    const entries: Array<RecipientLine> = []
    lines.forEach((line, index) => {
      for (const pattern of recipientLinePatterns) {
        if (pattern.weak !== weak || (only !== undefined && pattern !== only)) continue
        const match = pattern.pattern.exec(line)
        if (match === null) continue
        const address = cleanAddress(match.slice(1, -1).find((group) => group !== undefined) ?? "")
        if (address === null || excluded(address)) continue
        entries.push({ address, line: index, rest: match[match.length - 1] ?? "" })
        return
      }
    })
    return entries
  }
  const strong = matches(false)
  if (strong.length > 0) return { entries: strong, weak: false }
  // weaker forms are tried one at a time: a label such as "Message-ID:" must not add its value as a recipient
  for (const pattern of recipientLinePatterns.filter((candidate) => candidate.weak)) {
    const entries = matches(true, pattern)
    if (entries.length > 0) return { entries, weak: true }
  }
  return { entries: [], weak: true }
}

const boilerplate =
  /^(?:hi\.? |this is the |i'm afraid |this message was created automatically|a message that you sent|the following address|your message|this is a permanent error|sorry\b|delivery to the following recipient|the original message)/i

const decoration = /^[\s=*#_~+-]*$/

/**
 * The explanation given for one recipient: from the first line that names it to the first line that names another
 * recipient, without boilerplate paragraphs and decoration lines.
 */
/** Where each recipient's explanation starts and ends in the error section, computed once for all recipients. */
const explanations = (lines: ReadonlyArray<string>, entries: ReadonlyArray<RecipientLine>) => {
  const firstEntry = new Map<string, number>()
  entries.forEach((entry, index) => {
    const key = entry.address.toLowerCase()
    if (!firstEntry.has(key)) firstEntry.set(key, index)
  })
  const mentionedOn = new Map<string, Array<number>>()
  lines.forEach((line, index) => {
    if (!line.includes("@")) return
    for (const address of findAddresses(line)) {
      const key = address.toLowerCase()
      mentionedOn.set(key, [...(mentionedOn.get(key) ?? []), index])
    }
  })
  return (address: string): string => {
    const key = address.toLowerCase()
    const at = firstEntry.get(key)
    if (at === undefined) return ""
    const first = entries[at]!
    let nextLine = lines.length
    for (let index = at + 1; index < entries.length; index++) {
      if (entries[index]!.address.toLowerCase() !== key) {
        nextLine = entries[index]!.line
        break
      }
    }
    const block = lines
      .slice(first.line, nextLine)
      .filter((line) => !decoration.test(line) || line.trim() === "")
      .join("\n")
    const text = meaningfulText(block)
    if (findEnhancedStatus(text) !== null) return text
    // a session transcript gives the reply on a line of its own that names the recipient ("<<< 550 5.1.1 <a>...")
    const mentions = (mentionedOn.get(key) ?? []).filter((index) => index < first.line).map((index) => lines[index]!)
    return mentions.length === 0 ? text : oneLine([...mentions, text].join(" "))
  }
}

/** The sentences of an error section that are not boilerplate, for bounces that name no recipient line. */
const meaningfulText = (section: string): string =>
  oneLine(
    section
      .split(/\n\s*\n/)
      .filter((paragraph) => !boilerplate.test(paragraph.trim()))
      .join(" ")
  )

const found = (address: string | null, diagnostic: string, context: string): FoundRecipient => {
  const recipient = emptyRecipient("bounce")
  recipient.recipient = address
  recipient.diagnostic = diagnostic === "" ? null : diagnostic
  recipient.status = diagnostic === "" ? null : findEnhancedStatus(diagnostic)
  recipient.replyCode = diagnostic === "" ? null : findReplyCode(diagnostic)
  // a session transcript names the command ("<<< 550 ..." after ">>> DATA") apart from the reply
  recipient.command = findSmtpCommand(diagnostic) || findSmtpCommand(context) || null
  return recipient
}

/**
 * Decodes a bounce written as free text, as qmail, Exim, old Sendmail and Postfix, and many providers write them.
 * Recipients come from X-Failed-Recipients or from the lines of the explanation that name an address; each gets
 * the text that follows it.
 */
export const decodeTextBounce = (input: TextBounceInput, dialect: string): Extraction | null => {
  if (!looksLikeBounce(input)) return null
  const section = errorSection(input.body)
  const lines = section.split("\n")
  const ignored = (address: string) => ignoredLocalParts.test(address.split("@")[0]!)
  const notRecipient = (address: string) => input.notRecipients.has(address.toLowerCase()) || ignored(address)
  let { entries: recipientLines, weak } = findRecipientLines(lines, notRecipient)
  if (weak && input.failedRecipients.length === 0) {
    // the sender may have written to itself: take its own address when a recipient line names it
    const own = findRecipientLines(lines, ignored)
    if (!own.weak) ({ entries: recipientLines, weak } = own)
  }
  // Recipient lines and X-Failed-Recipients are forms that only bounce generators write; an address in prose is
  // taken only with SMTP evidence beside it, so that no mail quarantines anybody on prose alone.
  let addresses: Array<string>
  let certain = true
  if (recipientLines.length > 0 && !weak) addresses = recipientLines.map((entry) => entry.address)
  else if (input.failedRecipients.length > 0) addresses = [...input.failedRecipients]
  else {
    certain = false
    addresses = recipientLines.map((entry) => entry.address)
    if (addresses.length === 0) addresses = findAddresses(section).filter((address) => !notRecipient(address))
    if (addresses.length === 0) addresses = input.originalRecipients.filter((address) => !ignored(address))
  }
  addresses = [...new Map(addresses.map((address) => [address.toLowerCase(), address])).values()]
  const fallback = meaningfulText(section)
  const evidence = findEnhancedStatus(section) !== null || findReplyCode(section) !== null
  // a mailer daemon's notice that names nobody for certain is still a bounce, for the operator to review
  if (!certain && !evidence && !daemonFrom.test(input.from)) return null
  const explanationOf = explanations(lines, recipientLines)
  const recipients =
    !certain && !evidence
      ? []
      : addresses.length === 0
        ? [found(null, fallback, section)]
        : addresses.map((address) => {
            // a recipient found only in a weak form has no block of its own: the whole explanation is its
            const own = weak ? "" : explanationOf(address)
            return found(address, own.length >= 8 ? own : fallback, addresses.length === 1 ? section : "")
          })
  return { dialect, kind: "bounce", recipients, reportingMta: null, arrivalDate: null, originalEnvelopeId: null }
}
