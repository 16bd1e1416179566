/**
 * HCL (formerly IBM, Lotus) Notes (sisimai lhost via-notes.go) and Oracle Communications Messaging Server (sisimai
 * lhost via-messagingserver.go): each states a few reasons in fixed words. Notes writes the reason above the
 * recipient's address, so for a report on one recipient the whole explanation is read.
 */
import type { FoundRecipient } from "../extraction.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, headerContains, reasonIn } from "./dialect.js"

const notesMessages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["networkerror", ["Message has exceeded maximum hop count"]],
  ["userunknown", ["User not listed in public Name & Address Book", "ディレクトリのリストにありません"]]
]

const withTable =
  (table: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]>) =>
  (records: ReadonlyArray<FoundRecipient>, mail: BounceMail): ReadonlyArray<FoundRecipient> =>
    records.map((found) => {
      const text = records.length === 1 ? `${mail.section} ${found.diagnostic ?? ""}` : (found.diagnostic ?? "")
      const reason = reasonIn(text, table)
      return reason === null ? found : { ...found, reasonHint: reason }
    })

export const notes: Dialect = {
  name: "notes",
  recognise: (mail) =>
    mail.subject.trimStart().startsWith("Undeliverable message") && mail.section.includes("------- Failure Reasons"),
  refine: withTable(notesMessages)
}

export const messagingServer: Dialect = {
  name: "messagingserver",
  recognise: (mail) =>
    headerContains(mail.root, "content-type", ["Boundary_(ID_"]) ||
    mail.subject.trimStart().startsWith("Delivery Notification: "),
  refine: withTable([["hostunknown", ["Illegal host/domain name found"]]])
}
