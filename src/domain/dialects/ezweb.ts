/**
 * au by KDDI, formerly EZweb (sisimai lhost via-ezweb.go). Its reports give the reason in a sentence of their own
 * above the recipient ("The user(s) account is disabled."), and a report of its spam filter carries "X-SPASIGN: NG".
 */
import type { FoundRecipient } from "../extraction.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, headerContains, linesOf, reasonIn } from "./dialect.js"

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["expired", ["Your message was not delivered within "]],
  ["mailboxfull", ["The user(s) account is temporarily over quota"]],
  ["suspend", ["The user(s) account is disabled.", "The user(s) account is temporarily limited."]]
]

const starts = ["The user(s) ", "Your message ", "Each of the following", "<"]

/** Two of: its sender, its subject, its Received line, its Message-ID (sisimai). */
const recognise = (mail: BounceMail): boolean => {
  let evidence = 0
  if (mail.from.includes("Postmaster@ezweb.ne.jp")) evidence++
  if (mail.from.includes("Postmaster@au.com")) evidence++
  if (mail.subject.trim() === "Mail System Error - Returned Mail") evidence++
  if (headerContains(mail.root, "received", ["ezweb.ne.jp (EZweb Mail) with", ".au.com ("])) evidence++
  if (headerContains(mail.root, "message-id", [".ezweb.ne.jp>", ".au.com>"])) evidence++
  return evidence >= 2
}

/** The report from its first sentence on: the reason sentences stand above the recipients they are about. */
const reportText = (section: string): string => {
  const lines = linesOf(section)
  const start = lines.findIndex((line) => starts.some((prefix) => line.startsWith(prefix)))
  return start < 0 ? "" : lines.slice(start).join(" ")
}

export const ezweb: Dialect = {
  name: "ezweb",
  recognise,
  refine: (records, mail) => {
    const filtered = mail.root.header("x-spasign")?.trim() === "NG"
    const text = reportText(mail.section)
    return records.map((found): FoundRecipient => {
      const reason = filtered ? "filtered" : reasonIn(records.length === 1 ? text : (found.diagnostic ?? ""), messages)
      return reason === null ? found : { ...found, reasonHint: reason }
    })
  }
}
