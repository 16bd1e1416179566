/**
 * Exim and its clones, such as McAfee SaaS, formerly MXLogic (sisimai lhost via-exim.go). Exim says which SMTP stage
 * failed ("SMTP error from remote mail server after RCPT TO:<a@b>:") and states its own errors in fixed words
 * (exim/src/deliver.c, route.c, transports/*.c).
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, reasonIn } from "./dialect.js"

const subjects = [
  "Delivery Status Notification",
  "Mail delivery failed",
  "Mail failure",
  "Message frozen",
  "Warning: message ",
  "error(s) in forwarding or filtering"
]

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["userunknown", ["user not found"]],
  [
    "hostunknown",
    [
      "all host address lookups failed permanently",
      "all relevant MX records point to non-existent hosts",
      "Unrouteable address"
    ]
  ],
  ["mailboxfull", ["mailbox is full", "error: quota exceed"]],
  ["notaccept", ["an MX or SRV record indicated no SMTP service", "no host found for existing SMTP connection"]],
  [
    "syntaxerror",
    [
      "angle-brackets nested too deep",
      'expected word or "<"',
      "domain missing in source-routed address",
      "malformed address:"
    ]
  ],
  [
    "systemerror",
    ["delivery to file forbidden", "delivery to pipe forbidden", "local delivery failed", "LMTP error after "]
  ],
  ["contenterror", ['Too many "Received" headers']]
]

/** Exim's words for a delivery that is still being tried or was given up on after retries. */
const delayed = [
  "retry timeout exceeded",
  "No action is required on your part",
  "retry time not reached for any host after a long failure period",
  "all hosts have been failing for a long time and were last tried",
  "Delay reason: ",
  "has been frozen",
  "was frozen on arrival by "
]

const stageMarkers = ["SMTP error from remote ", "LMTP error after "]

/** Exim's own Message-ID: "<E1P1YNN-0003AD-Ga@host>" ("-" at 8, "@" at 18). */
const eximMessageId = (value: string): boolean =>
  value.indexOf("<") === 0 && value.indexOf("-") === 8 && value.indexOf("@") === 18

/** Two of: its sender name, its subject, its Message-ID; or a header of an Exim clone (sisimai). */
const recognise = (mail: BounceMail): boolean => {
  const messageId = mail.root.header("message-id")?.trim() ?? ""
  const clone =
    ["x-mx-bounce", "x-mxl-hash", "x-mxl-notehash"].some((name) => mail.root.header(name) !== undefined) ||
    messageId.includes("<mxl~")
  if (clone) return true
  let evidence = 0
  if (mail.from.includes("Mail Delivery System")) evidence++
  if (subjects.some((subject) => mail.subject.includes(subject))) evidence++
  if (eximMessageId(messageId)) evidence++
  return evidence >= 2
}

const refineOne = (found: FoundRecipient, text: string): FoundRecipient => {
  // the stage is known only from Exim's own words; a command named elsewhere (a Received line) says nothing
  const refined: FoundRecipient = {
    ...found,
    command: stageMarkers.some((marker) => text.includes(marker)) ? findSmtpCommand(text) || null : null
  }
  if (refined.command === "EHLO" || refined.command === "HELO") return { ...refined, reasonHint: "blocked" }
  if (refined.command === "MAIL") return refined
  const reason =
    reasonIn(text, messages) ??
    (delayed.some((words) => text.includes(words)) ? "expired" : text.includes("pipe to |") ? "mailererror" : null)
  return reason === null ? refined : { ...refined, reasonHint: reason }
}

export const exim: Dialect = {
  name: "exim",
  recognise,
  refine: (records, mail) =>
    records.map((found) =>
      refineOne(found, records.length === 1 ? `${mail.section} ${found.diagnostic ?? ""}` : (found.diagnostic ?? ""))
    )
}
