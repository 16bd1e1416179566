/**
 * Courier MTA (sisimai lhost via-courier.go). Its DSN's notification quotes the SMTP dialogue (">>> RCPT TO:<a@b>",
 * "<<< 550 ..."): the last command sent is the one that failed. Three errors of its own are in fixed words
 * (courier/module.esmtp/esmtpclient.c).
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, linesOf, reasonIn } from "./dialect.js"

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["hostunknown", ["No such domain."]],
  ["systemerror", ["This domain's DNS violates RFC 1035."]],
  ["networkerror", ["DNS lookup failed."]]
]

const recognise = (mail: BounceMail): boolean =>
  mail.from.includes("Courier mail server at ") ||
  mail.subject.includes("NOTICE: mail delivery status.") ||
  mail.subject.includes("WARNING: delayed mail.") ||
  (mail.root.header("message-id") ?? "").trimStart().startsWith("<courier.")

export const courier: Dialect = {
  name: "courier",
  recognise,
  refine: (records, mail) => {
    const sent = linesOf(mail.section).filter((line) => line.startsWith(">>> "))
    const command = sent.length === 0 ? "" : findSmtpCommand(sent[sent.length - 1]!)
    return records.map((found): FoundRecipient => {
      const reason = reasonIn(found.diagnostic ?? "", messages)
      return {
        ...found,
        command: command || found.command,
        reasonHint: reason ?? found.reasonHint
      }
    })
  }
}
