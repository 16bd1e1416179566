/**
 * Sendmail before DSNs, version 5 and the V8 releases that wrote no delivery-status part (sisimai lhost
 * via-v5sendmail.go). The transcript holds one SMTP session per remote host ("While talking to mx.example.org:"),
 * its commands (">>> ") and replies ("<<< "), and after each session the result for its recipients
 * ("550 <a@b>... User unknown"). A recipient's explanation is its session and its result lines; its command is the
 * last one sent before them.
 */
import { cleanAddress, emptyRecipient, type Extraction, type FoundRecipient, oneLine } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import { findEnhancedStatus, findReplyCode } from "../status.js"
import { type BounceMail, type Dialect, linesOf } from "./dialect.js"

const transcriptMarker = "----- Transcript of session follows -----"
const unsentMarkers = ["   ----- Unsent message follows -----", "  ----- No message was collected -----"]

const recognise = (mail: BounceMail): boolean =>
  mail.subject.trimStart().startsWith("Returned mail: ") &&
  mail.body.includes(transcriptMarker) &&
  unsentMarkers.some((marker) => mail.body.includes(marker))

interface Entry {
  recipient: string | null
  diagnostic: string
  /** the reply code of the recipient's own result line */
  replyCode: string | null
  command: string
  remoteMta: string
}

/** The address of a result line ("550 <a@b>... User unknown") or of a RCPT command (">>> RCPT To:<a@b>"). */
const addressOf = (line: string): string | null => {
  const result = /\s<([^<>]*@[^<>]*)>\.\.\./.exec(line)?.[1]
  const rcpt = /:<([^<>]*@[^<>]*)>/.exec(line)?.[1]
  return cleanAddress(result ?? rcpt ?? "")
}

const decode = (mail: BounceMail): Extraction | null => {
  const end = Math.min(...unsentMarkers.map((marker) => mail.body.indexOf(marker)).filter((at) => at >= 0))
  const start = mail.body.indexOf(transcriptMarker)
  if (start < 0 || !Number.isFinite(end) || end < start) return null
  const entries: Array<Entry> = [{ recipient: null, diagnostic: "", replyCode: null, command: "", remoteMta: "" }]
  const others: Array<string> = [""]
  let remoteMta = ""
  let command = ""
  for (const line of linesOf(mail.body.slice(start + transcriptMarker.length, end))) {
    if (line.trim() === "") continue
    const current = entries[entries.length - 1]!
    if (line.startsWith(">>> ")) command = findSmtpCommand(line.slice(4))
    const namesRecipient = /\s<[^<>]*@[^<>]*>\.\.\./.test(line) || line.toUpperCase().includes(">>> RCPT TO:")
    if (namesRecipient) {
      const address = addressOf(line)
      if (remoteMta === "") {
        // results before any session: kept as the explanation of recipients that get none of their own
        others[others.length - 1] += ` ${line}`
        continue
      }
      if (address === current.recipient || (command === "MAIL" && line.startsWith("<<< "))) {
        // a further line about the same recipient, or the reply that refused the sender of the whole session
        current.diagnostic += ` ${line}`
        if (address === current.recipient) current.replyCode = findReplyCode(line) ?? current.replyCode
        command = ""
      } else {
        const entry =
          current.recipient === null
            ? current
            : { recipient: null, diagnostic: "", replyCode: null, command: "", remoteMta: "" }
        if (entry !== current) {
          entries.push(entry)
          others.push("")
        }
        entry.recipient = address
        entry.remoteMta = remoteMta
        entry.diagnostic += ` ${line}`
        entry.replyCode = findReplyCode(line)
        if (entry.command === "") entry.command = command
      }
    } else if (line.includes("While talking to ")) {
      remoteMta = /While talking to ([^\s:]+)/.exec(line)?.[1]?.replace(/\.$/, "") ?? remoteMta
    } else if (line.startsWith(">>> ") || line.startsWith("<<< ")) {
      current.diagnostic += ` ${line}`
    } else {
      others[others.length - 1] += ` ${line}`
    }
  }
  const found = entries.filter((entry) => entry.recipient !== null)
  if (found.length === 0) return null
  return {
    dialect: "v5sendmail",
    kind: "bounce",
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null,
    recipients: found.map((entry): FoundRecipient => {
      const diagnostic = oneLine(entry.diagnostic || (others[entries.indexOf(entry)] ?? ""))
      const recipient = emptyRecipient("bounce")
      recipient.recipient = entry.recipient
      recipient.diagnostic = diagnostic === "" ? null : diagnostic
      recipient.replyCode = entry.replyCode ?? findReplyCode(diagnostic)
      recipient.status = findEnhancedStatus(diagnostic, recipient.replyCode)
      recipient.command = entry.command || findSmtpCommand(diagnostic) || null
      recipient.remoteMta = entry.remoteMta || null
      return recipient
    })
  }
}

export const v5sendmail: Dialect = { name: "v5sendmail", recognise, decode }
