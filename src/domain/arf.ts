import { cleanAddress, emptyRecipient, type Extraction, type FoundRecipient } from "./extraction.js"
import { parseFieldGroups, typedValue } from "./fields.js"
import { findEntities, type MimeEntity } from "./mail.js"

const feedbackTypes = new Set(["message/feedback-report", "message/feedback"])

/** The feedback-report entity of an RFC 5965 report, if the mail has one. */
export const findFeedbackReport = (root: MimeEntity): MimeEntity | undefined =>
  findEntities(root, (entity) => feedbackTypes.has(entity.contentType))[0]

/**
 * Decodes an RFC 5965 abuse report. The complained-about recipient is Original-Rcpt-To when the reporter gives it
 * (RFC 6650 lets it redact the address), else Removal-Recipient, else the To of the returned message.
 */
export const decodeFeedbackReport = (report: MimeEntity, original: MimeEntity | undefined): Extraction => {
  const fields = new Map<string, Array<string>>()
  for (const group of parseFieldGroups(report.text())) {
    for (const [name, value] of group) fields.set(name, [...(fields.get(name) ?? []), value])
  }
  const all = (name: string) => fields.get(name) ?? []
  const first = (name: string) => all(name)[0] ?? null
  const feedbackType = first("feedback-type")?.trim().toLowerCase() ?? null
  const addresses = [...all("original-rcpt-to"), ...all("removal-recipient")]
    .map((value) => cleanAddress(typedValue(value)[1]))
    .filter((address): address is string => address !== null)
  if (addresses.length === 0 && original !== undefined) {
    const to = cleanAddress(original.header("to") ?? "")
    if (to !== null) addresses.push(to)
  }
  const make = (recipient: string | null): FoundRecipient => {
    const found = emptyRecipient("complaint")
    found.recipient = recipient
    found.feedbackType = feedbackType
    found.reasonHint = "feedback"
    found.reportingMta = first("reporting-mta")
    found.diagnostic = first("user-agent")
    return found
  }
  const recipients = addresses.length === 0 ? [make(null)] : [...new Set(addresses)].map(make)
  return {
    dialect: "arf",
    kind: "complaint",
    recipients,
    reportingMta: first("reporting-mta"),
    arrivalDate: first("arrival-date") ?? first("received-date"),
    originalEnvelopeId: null
  }
}

/**
 * Microsoft's Junk Mail Reporting Program sends the reported message alone, tagged with X-HmXmrOriginalRecipient,
 * without a feedback-report part.
 */
export const decodeHotmailComplaint = (root: MimeEntity, original: MimeEntity | undefined): Extraction | null => {
  const tagged = original?.header("x-hmxmroriginalrecipient")
  if (tagged === undefined) return null
  const found = emptyRecipient("complaint")
  found.recipient = cleanAddress(tagged)
  found.feedbackType = "abuse"
  found.reasonHint = "feedback"
  found.diagnostic = root.header("subject") ?? null
  return {
    dialect: "arf-hotmail",
    kind: "complaint",
    recipients: [found],
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null
  }
}
