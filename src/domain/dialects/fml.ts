/**
 * fml, the mailing list manager (sisimai lhost via-fml.go). Its notices to the sender name the list address in angle
 * brackets and say what happened in the subject ("Loop Alert: ...") or the text ("NOT MEMBER article from ...").
 */
import { cleanAddress, emptyRecipient, type Extraction, oneLine } from "../extraction.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, linesOf, reasonIn } from "./dialect.js"

const inText: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  [
    "rejected",
    [
      " header may cause mail loop",
      "NOT MEMBER article from ",
      "reject mail from ",
      "reject spammers:",
      "You are not a member of this mailing list"
    ]
  ],
  ["securityerror", ["Security alert:"]],
  ["systemerror", [" has detected a loop condition so that", "Loop Back Warning:"]]
]

const inSubject: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["rejected", [" are not member", "NOT MEMBER article from ", "reject mail ", "Spam mail from a spammer is rejected"]],
  ["systemerror", ["fml system error message", "Loop Alert: ", "Loop Back Warning: ", "WARNING: UNIX FROM Loop"]],
  ["securityerror", ["Security Alert"]]
]

const recognise = (mail: BounceMail): boolean =>
  mail.root.header("x-mlserver") !== undefined &&
  mail.from.indexOf("-admin@") > 0 &&
  (mail.root.header("message-id") ?? "").indexOf(".FML") > 1

const decode = (mail: BounceMail): Extraction | null => {
  const end = mail.body.indexOf("Original mail as follows:")
  const entries: Array<{ address: string; lines: Array<string> }> = []
  for (const line of linesOf(end < 0 ? mail.section : mail.body.slice(0, end))) {
    if (line.trim() === "") continue
    const address = cleanAddress(/<([^<>]+)>/.exec(line)?.[1] ?? "")
    if (address !== null) entries.push({ address, lines: [line] })
    else entries[entries.length - 1]?.lines.push(line)
  }
  // fml's admin address sends other notices too (help, welcome): only one that names a failure is a bounce
  const reasons = entries.map(
    ({ lines }) => reasonIn(oneLine(lines.join(" ")), inText) ?? reasonIn(mail.subject, inSubject)
  )
  if (entries.length === 0 || reasons.every((reason) => reason === null)) return null
  return {
    dialect: "fml",
    kind: "bounce",
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null,
    recipients: entries.map(({ address, lines }, index) => {
      const found = emptyRecipient("bounce")
      found.recipient = address
      found.diagnostic = oneLine(lines.join(" "))
      found.reasonHint = reasons[index] ?? null
      return found
    })
  }
}

export const fml: Dialect = { name: "fml", recognise, decode }
