import { cleanAddress, emptyRecipient, type Extraction, type FoundRecipient, oneLine } from "./extraction.js"
import { decodeUtf8AddressEscapes, type FieldGroup, parseFieldGroups, stripComments, typedValue } from "./fields.js"
import { findEntities, type MimeEntity } from "./mail.js"
import type { MailKind, Reason } from "./report.js"
import { findSmtpCommand } from "./qualify.js"
import { findEnhancedStatus, findReplyCode, preferStatus } from "./status.js"

const statusTypes = new Set(["message/delivery-status", "message/global-delivery-status", "text/delivery-status"])
const messageFieldNames = ["reporting-mta", "arrival-date", "original-envelope-id", "received-from-mta"] as const

/** The delivery-status entity of a mail, if it has one (RFC 3464 §2, RFC 6533 §6). */
export const findDeliveryStatus = (root: MimeEntity): MimeEntity | undefined =>
  findEntities(root, (entity) => statusTypes.has(entity.contentType))[0]

const addressField = (value: string | undefined): string | null => {
  if (value === undefined) return null
  const [type, address] = typedValue(value)
  const decoded = type === "utf-8" ? decodeUtf8AddressEscapes(address) : address
  return cleanAddress(stripComments(decoded)) ?? cleanAddress(decoded)
}

const mtaField = (value: string | undefined): string | null => {
  if (value === undefined) return null
  const [, name] = typedValue(value)
  const host = stripComments(name).trim()
  return host === "" ? null : host
}

const kindOfAction = (action: string | null, status: string | null): MailKind => {
  switch (action) {
    case "failed":
      return "bounce"
    case "delayed":
      return "delay"
    case "delivered":
    case "relayed":
    case "expanded":
      return "delivered"
  }
  if (status?.startsWith("2.")) return "delivered"
  return "bounce"
}

/** PowerMTA's X-PowerMTA-BounceCategory values and the reasons they stand for (sisimai rfc3464/powermta.go). */
const powerMtaCategories: ReadonlyMap<string, Reason> = new Map<string, Reason>([
  ["bad-domain", "hostunknown"],
  ["bad-mailbox", "userunknown"],
  ["inactive-mailbox", "suspend"],
  ["message-expired", "expired"],
  ["no-answer-from-host", "networkerror"],
  ["policy-related", "policyviolation"],
  ["quota-issues", "mailboxfull"],
  ["routing-errors", "systemerror"],
  ["spam-related", "spamdetected"]
])

const recipientFromGroup = (
  group: FieldGroup,
  message: ReadonlyMap<string, string>,
  humanText: (recipient: string | null) => string | null
): FoundRecipient => {
  const final = addressField(group.get("final-recipient"))
  const original = addressField(group.get("original-recipient"))
  const recipient = final ?? original ?? addressField(group.get("x-actual-recipient"))
  const action = group.get("action") === undefined ? null : stripComments(group.get("action")!).toLowerCase() || null
  const statusField = group.get("status")
  // "Status: 5.2.1 (mailbox disabled, not accepting messages)": the comment explains, as the diagnostic does
  const statusComment = statusField === undefined ? "" : (/\(([^()]*)\)/.exec(statusField)?.[1]?.trim() ?? "")
  const status = statusField === undefined ? null : findEnhancedStatus(stripComments(statusField) || statusField)
  let diagnosticType: string | null = null
  let diagnostic: string | null = null
  const diagnosticField = group.get("diagnostic-code")
  if (diagnosticField !== undefined) {
    const [type, text] = typedValue(diagnosticField)
    diagnosticType = type
    diagnostic = oneLine(text) || null
  }
  const explanation = humanText(recipient)
  if (diagnostic === null || !/[A-Za-z]{3}/.test(diagnostic)) diagnostic = explanation ?? diagnostic
  const found = emptyRecipient(kindOfAction(action, status))
  found.recipient = recipient
  found.originalRecipient = original
  found.action = action
  found.replyCode = diagnostic === null ? null : findReplyCode(diagnostic)
  found.status = preferStatus(status, diagnostic === null ? null : findEnhancedStatus(diagnostic), found.replyCode)
  found.diagnostic = diagnostic
  found.diagnosticType = diagnosticType
  found.command = findSmtpCommand(diagnostic ?? "") || findSmtpCommand(explanation ?? "") || null
  found.context = statusComment === "" ? null : statusComment
  found.reasonHint = powerMtaCategories.get((group.get("x-powermta-bouncecategory") ?? "").trim().toLowerCase()) ?? null
  found.remoteMta = mtaField(group.get("remote-mta"))
  found.reportingMta = mtaField(group.get("reporting-mta") ?? message.get("reporting-mta"))
  found.lastAttemptDate = group.get("last-attempt-date") ?? null
  found.willRetryUntil = group.get("will-retry-until") ?? null
  return found
}

/**
 * Decodes the machine-readable part of an RFC 3464 / RFC 6533 delivery status notification. `humanText` finds the
 * explanation of one recipient in the human-readable part, for DSNs whose Diagnostic-Code is missing or empty.
 */
export const decodeDeliveryStatus = (
  statusEntity: MimeEntity,
  humanText: (recipient: string | null) => string | null
): Extraction | null => {
  // a report may list thousands of recipients: read the whole part, not the default excerpt
  const groups = parseFieldGroups(statusEntity.text(64 * 1024 * 1024))
  const message = new Map<string, string>()
  const recipientGroups: Array<FieldGroup> = []
  for (const group of groups) {
    for (const name of messageFieldNames) {
      const value = group.get(name)
      if (value !== undefined && !message.has(name)) message.set(name, value)
    }
    if (group.has("final-recipient") || group.has("original-recipient") || group.has("x-actual-recipient")) {
      recipientGroups.push(group)
    }
  }
  if (recipientGroups.length === 0) return null
  const recipients = recipientGroups.map((group) => recipientFromGroup(group, message, humanText))
  const kinds = new Set(recipients.map((found) => found.kind))
  const kind: MailKind = kinds.has("bounce") ? "bounce" : kinds.has("delay") ? "delay" : "delivered"
  return {
    dialect: "rfc3464",
    kind,
    recipients,
    reportingMta: mtaField(message.get("reporting-mta")),
    arrivalDate: message.get("arrival-date") ?? null,
    originalEnvelopeId: message.has("original-envelope-id")
      ? stripComments(message.get("original-envelope-id")!) || null
      : null
  }
}
