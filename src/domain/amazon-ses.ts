import { cleanAddress, emptyRecipient, type Extraction, type FoundRecipient, oneLine } from "./extraction.js"
import type { Reason } from "./report.js"
import { findEnhancedStatus, findReplyCode } from "./status.js"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is { readonly [key: string]: Json } =>
  typeof value === "object" && value !== null && !Array.isArray(value)
const stringOf = (value: Json | undefined): string | null => (typeof value === "string" ? value : null)
const arrayOf = (value: Json | undefined): ReadonlyArray<Json> => (Array.isArray(value) ? value : [])

const parseJson = (text: string): Json | undefined => {
  try {
    return JSON.parse(text) as Json
  } catch {
    return undefined
  }
}

/** The SES notification in a mail body: the JSON object itself, or wrapped in an SNS envelope's "Message". */
const notificationIn = (body: string): { readonly [key: string]: Json } | null => {
  const start = body.indexOf("{")
  const end = body.lastIndexOf("}")
  if (start === -1 || end <= start) return null
  const json = body.slice(start, end + 1)
  // mail relays fold the one long line of the notification; JSON has no line breaks of its own to keep
  let parsed = parseJson(json) ?? parseJson(json.replace(/\r?\n[ \t]?/g, ""))
  if (isObject(parsed) && typeof parsed["Message"] === "string") parsed = parseJson(parsed["Message"])
  if (!isObject(parsed)) return null
  const type = stringOf(parsed["notificationType"]) ?? stringOf(parsed["eventType"])
  return type === null ? null : parsed
}

// bounceSubType values documented for SES notifications
const subTypeReasons: Record<string, Reason> = {
  NoEmail: "userunknown",
  Suppressed: "suppressed",
  OnAccountSuppressionList: "suppressed",
  MailboxFull: "mailboxfull",
  MessageTooLarge: "mesgtoobig",
  ContentRejected: "contenterror",
  AttachmentRejected: "contenterror"
}

/** The original Message-ID as SES reports it in mail.headers or mail.commonHeaders. */
export const sesOriginalMessageId = (body: string): string | null => {
  const notification = notificationIn(body)
  if (notification === null) return null
  const mail = notification["mail"]
  if (!isObject(mail)) return null
  for (const header of arrayOf(mail["headers"])) {
    if (isObject(header) && stringOf(header["name"])?.toLowerCase() === "message-id") return stringOf(header["value"])
  }
  const common = mail["commonHeaders"]
  return isObject(common) ? stringOf(common["messageId"]) : null
}

/** Decodes an Amazon SES bounce, complaint or delivery notification sent by email through SNS. */
export const decodeAmazonSes = (body: string): Extraction | null => {
  const notification = notificationIn(body)
  if (notification === null) return null
  const type = (stringOf(notification["notificationType"]) ?? stringOf(notification["eventType"]))!.toLowerCase()
  const recipients: Array<FoundRecipient> = []
  let reportingMta: string | null = null
  if (type === "bounce") {
    const bounce = notification["bounce"]
    if (!isObject(bounce)) return null
    reportingMta = stringOf(bounce["reportingMTA"])
    const subType = stringOf(bounce["bounceSubType"]) ?? ""
    for (const entry of arrayOf(bounce["bouncedRecipients"])) {
      if (!isObject(entry)) continue
      const found = emptyRecipient("bounce")
      const diagnostic = stringOf(entry["diagnosticCode"])
      found.recipient = cleanAddress(stringOf(entry["emailAddress"]) ?? "")
      found.action = stringOf(entry["action"])
      found.diagnostic = diagnostic === null ? null : oneLine(diagnostic.replace(/^smtp;\s*/i, ""))
      found.diagnosticType = diagnostic?.toLowerCase().startsWith("smtp;") ? "smtp" : null
      found.status = stringOf(entry["status"]) ?? (found.diagnostic ? findEnhancedStatus(found.diagnostic) : null)
      found.replyCode = found.diagnostic === null ? null : findReplyCode(found.diagnostic)
      found.reasonHint = subTypeReasons[subType] ?? null
      found.reportingMta = reportingMta
      recipients.push(found)
    }
  } else if (type === "complaint") {
    const complaint = notification["complaint"]
    if (!isObject(complaint)) return null
    for (const entry of arrayOf(complaint["complainedRecipients"])) {
      if (!isObject(entry)) continue
      const found = emptyRecipient("complaint")
      found.recipient = cleanAddress(stringOf(entry["emailAddress"]) ?? "")
      found.feedbackType = stringOf(complaint["complaintFeedbackType"]) ?? "abuse"
      found.diagnostic = stringOf(complaint["userAgent"])
      found.reasonHint = "feedback"
      recipients.push(found)
    }
  } else if (type === "delivery") {
    const delivery = notification["delivery"]
    if (!isObject(delivery)) return null
    reportingMta = stringOf(delivery["reportingMTA"])
    for (const entry of arrayOf(delivery["recipients"])) {
      const found = emptyRecipient("delivered")
      found.recipient = cleanAddress(stringOf(entry) ?? "")
      found.diagnostic = stringOf(delivery["smtpResponse"])
      found.status = found.diagnostic === null ? null : findEnhancedStatus(found.diagnostic)
      found.replyCode = found.diagnostic === null ? null : findReplyCode(found.diagnostic)
      found.action = "delivered"
      found.reasonHint = "delivered"
      recipients.push(found)
    }
  }
  if (recipients.length === 0) return null
  const kind = recipients[0]!.kind
  return { dialect: "amazon-ses", kind, recipients, reportingMta, arrivalDate: null, originalEnvelopeId: null }
}
