import type { MailKind, Reason } from "./report.js"

/** One recipient as a decoder found it, before qualification and correlation. */
export interface FoundRecipient {
  kind: MailKind
  recipient: string | null
  originalRecipient: string | null
  action: string | null
  status: string | null
  replyCode: string | null
  diagnostic: string | null
  diagnosticType: string | null
  /** the SMTP command the failure answered (RCPT, DATA, ...), when the mail says */
  command: string | null
  remoteMta: string | null
  reportingMta: string | null
  lastAttemptDate: string | null
  willRetryUntil: string | null
  feedbackType: string | null
  /** a decoder's own finding on the reason, for texts whose meaning only that dialect knows */
  reasonHint: Reason | null
  /**
   * more of the report that qualification reads along with the diagnostic: the explanation of a report on one
   * recipient, the comment of its Status field (sisimai reads them as part of the diagnostic)
   */
  context: string | null
}

/** What one decoder found in a mail. */
export interface Extraction {
  readonly dialect: string
  readonly kind: MailKind
  readonly recipients: ReadonlyArray<FoundRecipient>
  readonly reportingMta: string | null
  readonly arrivalDate: string | null
  readonly originalEnvelopeId: string | null
}

export const emptyRecipient = (kind: MailKind): FoundRecipient => ({
  kind,
  recipient: null,
  originalRecipient: null,
  action: null,
  status: null,
  replyCode: null,
  diagnostic: null,
  diagnosticType: null,
  command: null,
  remoteMta: null,
  reportingMta: null,
  lastAttemptDate: null,
  willRetryUntil: null,
  feedbackType: null,
  reasonHint: null,
  context: null
})

const atext = String.raw`A-Za-z0-9!#$%&'*+/=?^_\`{|}~\u0080-\uffff-`
const localPart = String.raw`[${atext}]+(?:\.[${atext}]+)*\.?|"[^"\r\n]+"`
const domainPart = String.raw`(?:[A-Za-z0-9\u0080-\uffff](?:[A-Za-z0-9\u0080-\uffff-]{0,62})?\.)+[A-Za-z\u0080-\uffff][A-Za-z0-9\u0080-\uffff-]*|\[[0-9A-Fa-f:.IPv]+\]`
/** An addr-spec as found in running text, without angle brackets. */
export const addressPattern = new RegExp(`(?:${localPart})@(?:${domainPart})`, "g")

/** Trims what surrounds an address in bounce texts: brackets, quotes, "rfc822;" and trailing punctuation. */
export const cleanAddress = (value: string): string | null => {
  const found = value.match(new RegExp(`(?:${localPart})@(?:${domainPart})`))
  if (found === null) return null
  return found[0].replace(/\.+$/, "")
}

/** All distinct addresses in a text, in order of first appearance. */
export const findAddresses = (text: string): Array<string> => {
  const seen = new Set<string>()
  const out: Array<string> = []
  for (const match of text.matchAll(addressPattern)) {
    const address = match[0].replace(/\.+$/, "")
    const key = address.toLowerCase()
    if (!seen.has(key)) {
      seen.add(key)
      out.push(address)
    }
  }
  return out
}

/** Collapses runs of white space, as diagnostic texts are compared and shown on one line. */
export const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()
