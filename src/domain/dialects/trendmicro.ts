/**
 * Trend Micro InterScan Messaging Security Suite (sisimai lhost via-trendmicro.go): "Unable to deliver message to
 * <a@b>" is its way of saying the recipient does not exist; "Sent <<< RCPT TO:" names the command that failed.
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import { type BounceMail, type Dialect, headerStartsWith, headerContains, linesOf } from "./dialect.js"

const recognise = (mail: BounceMail): boolean =>
  headerStartsWith(mail.root, "from", ['"InterScan']) ||
  headerContains(mail.root, "content-type", ["InterScan"]) ||
  mail.section.includes(" InterScan ")

export const trendMicro: Dialect = {
  name: "trendmicro",
  recognise,
  refine: (records, mail) => {
    const sent = linesOf(mail.section).find((line) => line.startsWith("Sent <<< "))
    const command = sent === undefined ? "" : findSmtpCommand(sent)
    return records.map((found): FoundRecipient => {
      const refined: FoundRecipient = { ...found }
      if (command !== "") refined.command = command
      if ((found.diagnostic ?? "").includes("Unable to deliver")) refined.reasonHint = "userunknown"
      return refined
    })
  }
}
