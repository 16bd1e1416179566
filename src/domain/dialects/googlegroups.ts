/**
 * Google Groups (sisimai lhost via-googlegroups.go): a post to a group that does not exist or does not accept the
 * sender comes back from Gmail's mailer-daemon, the group in X-Failed-Recipients, with four reasons it may have
 * failed as bullets. Four bullets: the sender was refused (rejected).
 */
import type { FoundRecipient } from "../extraction.js"
import { type BounceMail, type Dialect, headerContains } from "./dialect.js"

const recognise = (mail: BounceMail): boolean =>
  mail.body.includes("Google Groups") &&
  mail.root.header("x-failed-recipients") !== undefined &&
  mail.root.header("x-google-smtp-source") !== undefined &&
  headerContains(mail.root, "from", ["<mailer-daemon@googlemail.com>"]) &&
  mail.subject.includes("Delivery Status Notification")

const bullets = (text: string): number => Math.max(text.split("\n *").length - 1, text.split("\n*").length - 1)

export const googleGroups: Dialect = {
  name: "googlegroups",
  recognise,
  refine: (records, mail) =>
    bullets(mail.section) === 4
      ? records.map((found): FoundRecipient => ({ ...found, reasonHint: "rejected" }))
      : records
}
