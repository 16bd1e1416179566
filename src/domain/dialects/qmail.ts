/**
 * qmail and its clones (sisimai lhost via-qmail.go). qmail-remote says which SMTP stage failed in words of its own
 * ("does not like recipient", "failed after I sent the message", "but sender was rejected") and qmail-send and
 * qmail-local state a few reasons in fixed sentences. qmail's table is read only on qmail's reports: the same
 * sentences in another MTA's report (a clone that adds its own words) do not mean the same.
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, headerContains, linesOf, reasonIn } from "./dialect.js"

/** qmail-remote.c: the words of each SMTP stage. */
const stages: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["CONN", [" but greeting failed."]],
  ["EHLO", [" but my name was rejected."]],
  ["MAIL", [" but sender was rejected."]],
  ["RCPT", [" does not like recipient."]],
  ["DATA", [" failed on DATA command", " failed after I sent the message"]]
]

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["hostunknown", ["Sorry, I couldn't find any host "]],
  ["mailboxfull", ["disk quota exceeded"]],
  ["mesgtoobig", ["Message size exceeds fixed maximum message size:"]],
  [
    "networkerror",
    [
      "Sorry, I wasn't able to establish an SMTP connection",
      "Sorry. Although I'm listed as a best-preference MX or A for that host"
    ]
  ],
  // notqmail 1.08, for a null MX
  ["notaccept", ["Sorry, I couldn't find a mail exchanger or IP address"]],
  ["systemfull", ["Requested action not taken: mailbox unavailable (not enough free space)"]],
  ["userunknown", ["no mailbox here by that name"]],
  ["systemerror", ["bad interpreter: No such file or directory", "system error", "Unable to"]]
]

/** qmail-ldap's messages. */
const ldapMessages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["exceedlimit", ["The message exeeded the maximum size the user accepts"]],
  [
    "suspend",
    [
      "Mailaddress is administrativly disabled",
      "Mailaddress is administrativley disabled",
      "Mailaddress is administratively disabled",
      "Mailaddress is administrativeley disabled"
    ]
  ],
  [
    "systemerror",
    [
      "Automatic homedir creator crashed",
      "Illegal value in LDAP attribute",
      "LDAP attribute is not given but mandatory",
      "Timeout while performing search on LDAP server",
      "Too many results returned but needs to be unique",
      "Permanent error while executing qmail-forward",
      "Temporary error in automatic homedir creation",
      "Temporary error while executing qmail-forward",
      "Temporary failure in LDAP lookup",
      "Unable to contact LDAP server",
      "Unable to login into LDAP server, bad credentials"
    ]
  ],
  ["userunknown", ["Sorry, no mailbox here by that name"]]
]

const expiredSentence = "this message has been in the queue too long."

const recognise = (mail: BounceMail): boolean =>
  mail.subject.trim() === "failure notice" ||
  mail.subject.trim() === "Failure Notice" ||
  headerContains(mail.root, "received", ["(qmail "])

const refineOne = (found: FoundRecipient, section: string): FoundRecipient => {
  const diagnostic = found.diagnostic ?? ""
  const refined: FoundRecipient = { ...found }
  const stage = stages.find(([, words]) => words.some((word) => diagnostic.includes(word)))?.[0]
  if (stage !== undefined) refined.command = stage
  else if (diagnostic.includes("no SMTP connection got far enough"))
    refined.command = findSmtpCommand(diagnostic) || null
  if (refined.command === "EHLO" || refined.command === "HELO") return { ...refined, reasonHint: "blocked" }
  // "does not like recipient" and then given up: the reply decides, not the timeout
  if (diagnostic.includes(" does not like recipient.") && diagnostic.includes(expiredSentence)) return refined
  const remoteSaid = linesOf(section).find((line) => line.startsWith("Remote host said:")) ?? ""
  for (const text of [remoteSaid, diagnostic]) {
    if (text === "") continue
    const reason = reasonIn(text, messages) ?? reasonIn(text, ldapMessages)
    if (reason !== null) return { ...refined, reasonHint: reason }
    if (text.includes(expiredSentence)) return { ...refined, reasonHint: "expired" }
  }
  return refined
}

export const qmail: Dialect = {
  name: "qmail",
  recognise,
  refine: (records, mail) =>
    records.map((found) => refineOne(found, records.length === 1 ? mail.section : (found.diagnostic ?? "")))
}
