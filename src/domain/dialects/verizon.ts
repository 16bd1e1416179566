/**
 * Verizon Wireless's SMS and MMS gateways (sisimai lhost via-verizon.go): a refused text message comes back from
 * post_master@vtext.com or sysadmin@...vzwpix.com, with a short "Error:" paragraph.
 */
import type { FoundRecipient } from "../extraction.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, reasonIn } from "./dialect.js"

const messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]> = [
  ["userunknown", ["550 - Requested action not taken: no such user here", "No valid recipients"]]
]

const recognise = (mail: BounceMail): boolean =>
  mail.from.includes("post_master@vtext.com") || /sysadmin@[^\s>]*\.vzwpix\.com/.test(mail.from)

export const verizon: Dialect = {
  name: "verizon",
  recognise,
  refine: (records, mail) => {
    const reason = reasonIn(mail.section, messages)
    return reason === null ? records : records.map((found): FoundRecipient => ({ ...found, reasonHint: reason }))
  }
}
