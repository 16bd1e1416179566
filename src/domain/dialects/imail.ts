/**
 * Ipswitch/Progress IMail Server (sisimai lhost via-imailserver.go). Its report names each recipient after a label of
 * its own ("Unknown user: a@b", "User mailbox exceeds allowed size: a@b", "undeliverable to a@b") and may quote the
 * remote server's reply after "Body of message generated response:". The label is the reason. Recognised by its
 * X-Mailer ("<SMTP32 v8.22>") or its subject, so that an address after a colon is a recipient here and not prose.
 */
import { emptyRecipient, type Extraction, findAddresses, oneLine } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import type { Reason } from "../report.js"
import { findEnhancedStatus, findReplyCode } from "../status.js"
import { type BounceMail, type Dialect, headerStartsWith, linesOf, reasonIn } from "./dialect.js"

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["hostunknown", ["Unknown host"]],
  ["userunknown", ["Unknown user", "Invalid final delivery userid"]],
  ["mailboxfull", ["User mailbox exceeds allowed size"]],
  ["virusdetected", ["Requested action not taken: virus detected"]],
  ["spamdetected", ["Blacklisted URL in message"]],
  ["expired", ["Delivery failed "]]
]

const responseMarker = "Body of message generated response:"

const recognise = (mail: BounceMail): boolean =>
  mail.subject.trimStart().startsWith("Undeliverable Mail ") || headerStartsWith(mail.root, "x-mailer", ["<SMTP32 v"])

const decode = (mail: BounceMail): Extraction | null => {
  const end = mail.body.indexOf("Original message follows.")
  // IMail writes its X-Mailer on other mail too: only its reports have their subject or the returned original
  if (end < 0 && !mail.subject.trimStart().startsWith("Undeliverable Mail")) return null
  const lines = linesOf(end < 0 ? mail.section : mail.body.slice(0, end))
  const found: Array<{ address: string; line: string }> = []
  const response: Array<string> = []
  for (const line of lines) {
    const colon = line.indexOf(": ")
    const labelled = colon > 8 && line.indexOf("@", colon) > colon
    if (labelled || line.startsWith("undeliverable ")) {
      const address = findAddresses(line)[0]
      if (address !== undefined) found.push({ address, line })
    } else if (line.includes(responseMarker) || response.length > 0) response.push(line)
  }
  if (found.length === 0) return null
  const generated = oneLine(response.join(" "))
  return {
    dialect: "imail",
    kind: "bounce",
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null,
    recipients: found.map(({ address, line }) => {
      const diagnostic = oneLine(`${generated} ${line}`)
      const recipient = emptyRecipient("bounce")
      recipient.recipient = address
      recipient.diagnostic = diagnostic
      recipient.replyCode = findReplyCode(diagnostic)
      recipient.status = findEnhancedStatus(diagnostic, recipient.replyCode)
      recipient.command = findSmtpCommand(diagnostic) || null
      recipient.reasonHint = reasonIn(diagnostic, messages)
      return recipient
    })
  }
}

export const imail: Dialect = { name: "imail", recognise, decode }
