/**
 * Postfix (sisimai lhost via-postfix.go). Its notification says for each recipient which host refused it, the whole
 * reply and the SMTP command it answered ("<a@b>: host mx[192.0.2.1] said: 550 5.1.1 <a@b>: User unknown (in reply
 * to RCPT TO command)"); the Diagnostic-Code field holds the reply alone. The fuller text is the diagnostic.
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import { findEnhancedStatus, findReplyCode } from "../status.js"
import { type BounceMail, type Dialect, paragraphs } from "./dialect.js"

const markers = ["This is the mail system at host ", "This is the Postfix program", "The Postfix program"]

const recognise = (mail: BounceMail): boolean =>
  mail.subject.trim() === "Undelivered Mail Returned to Sender" ||
  markers.some((marker) => mail.section.includes(marker))

const refineOne = (
  found: FoundRecipient,
  paragraphOf: (address: string | null) => string | null,
  firstCommand: string
): FoundRecipient => {
  const refined: FoundRecipient = { ...found }
  // Postfix's own type for its local errors; they are SMTP-like replies (sisimai reads them as SMTP)
  if (refined.diagnosticType === "x-postfix") refined.diagnosticType = "smtp"
  const paragraph = paragraphOf(found.recipient)
  if (paragraph !== null) {
    // both are on one line already: the paragraph by its index, the diagnostic by the DSN reader
    const diagnostic = found.diagnostic ?? ""
    const onlyNumbers = /^[\d\s.]*$/.test(diagnostic)
    const contains = () => paragraph.toLowerCase().includes(diagnostic.toLowerCase())
    const hasCode = () => findReplyCode(paragraph) !== null || findEnhancedStatus(paragraph) !== null
    if (onlyNumbers || (contains() && hasCode())) {
      refined.diagnostic = paragraph
      refined.replyCode ??= findReplyCode(paragraph)
      if (refined.status === null || refined.status.endsWith(".0.0")) {
        const status = findEnhancedStatus(paragraph, refined.replyCode)
        if (status !== null && !status.endsWith(".0.0")) refined.status = status
      }
    }
  }
  const said = paragraph !== null && /\(in reply to |command\)/.test(paragraph) ? findSmtpCommand(paragraph) : ""
  refined.command = said || firstCommand || refined.command
  if (!refined.command && /refused to talk to me:/.test(refined.diagnostic ?? "")) refined.command = "HELO"
  return refined
}

export const postfix: Dialect = {
  name: "postfix",
  recognise,
  refine: (records, mail) => {
    // the command of the first "(in reply to ... command)" stands for recipients whose paragraph names none
    const inReplyTo = /\(in reply to ([A-Z][A-Z ]*?) command\)/.exec(mail.section.replace(/\s+/g, " "))
    const firstCommand = inReplyTo === null ? "" : findSmtpCommand(inReplyTo[0])
    const paragraphOf = paragraphs(mail.section)
    return records.map((found) => refineOne(found, paragraphOf, firstCommand))
  }
}
