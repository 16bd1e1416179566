/**
 * Microsoft Exchange: Exchange Server 2003 (and the Internet Mail Service of Exchange 5.5) and Exchange Server
 * 2007 and later, Office 365 and Outlook.com, whose reports name an internal error code (sisimai lhost
 * via-exchange2003.go, via-exchange2007.go).
 */
import type { FoundRecipient } from "../extraction.js"
import type { Reason } from "../report.js"
import { type BounceMail, type Dialect, headerContains, headerStartsWith } from "./dialect.js"

/** Exchange 2003 codes after "MSEXCH:"; the codes sisimai reads as "onhold" decide nothing and are left out. */
const exchange2003Codes: ReadonlyMap<string, Reason> = new Map<string, Reason>([
  ["000C05A6", "userunknown"], // Unknown Recipient
  ["000C0595", "filtered"], // Ambiguous Recipient
  ["00010256", "systemerror"], // Too many recipients
  ["000D06B5", "systemerror"], // No proxy for recipient (non-SMTP mail?)
  ["00120270", "networkerror"], // Too Many Hops
  ["00050311", "contenterror"], // Conversion to Internet format failed
  ["000502CC", "contenterror"], // Conversion to Internet format failed
  ["000B0981", "securityerror"] // 502 Server does not support AUTH
])

const msexchCode = /MSEXCH:[^()\n]*\(([0-9A-Fa-f]{8})\)/

const recogniseExchange2003 = (mail: BounceMail): boolean =>
  mail.root.header("x-ms-embedded-report") !== undefined ||
  headerStartsWith(mail.root, "x-mailer", [
    "Internet Mail Service (",
    "Microsoft Exchange Server Internet Mail Connector"
  ]) ||
  headerStartsWith(mail.root, "x-mimeole", ["Produced By Microsoft Exchange"]) ||
  headerContains(mail.root, "received", [" with Internet Mail Service ("])

export const exchange2003: Dialect = {
  name: "exchange2003",
  recognise: recogniseExchange2003,
  refine: (records) =>
    records.map((found): FoundRecipient => {
      const code = msexchCode.exec(found.diagnostic ?? "")?.[1]?.toUpperCase()
      const reason = code === undefined ? undefined : exchange2003Codes.get(code)
      return reason === undefined ? found : { ...found, reasonHint: reason }
    })
}

/** Exchange 2007+ NDR codes ("RESOLVER.ADR.RecipNotFound") and the reasons they stand for. */
const exchange2007Codes: ReadonlyMap<string, Reason> = new Map<string, Reason>([
  ["SMTPSEND.DNS.NonExistentDomain", "hostunknown"],
  ["SMTPSEND.DNS.MxLoopback", "networkerror"],
  ["RESOLVER.ADR.BadPrimary", "systemerror"],
  ["RESOLVER.ADR.RecipNotFound", "userunknown"],
  ["RESOLVER.ADR.RecipientNotFound", "userunknown"],
  ["RESOLVER.ADR.ExRecipNotFound", "userunknown"],
  ["RESOLVER.ADR.RecipLimit", "toomanyconn"],
  ["RESOLVER.ADR.InvalidInSmtp", "systemerror"],
  ["RESOLVER.ADR.Ambiguous", "systemerror"],
  ["RESOLVER.RST.AuthRequired", "securityerror"],
  ["RESOLVER.RST.NotAuthorized", "rejected"],
  ["RESOLVER.RST.RecipSizeLimit", "exceedlimit"],
  ["QUEUE.Expired", "expired"]
])

const ndrCode = /\b((?:RESOLVER|QUEUE|SMTPSEND)\.[A-Za-z]+(?:\.[A-Za-z]+)?);/

const exchange2007Subjects = ["Undeliverable", "Non_remis_", "Non remis ", "Non recapitabile", "Olevererbart"]
const exchange2007Senders = ["postmaster@outlook.com", ".onmicrosoft.com"]
const exchange2007Markers = [
  "Error Details",
  "Diagnostic information for administrators:",
  "Informations de diagnostic pour les administrateurs",
  "Informazioni di diagnostica per gli amministratori",
  "Diagnostisk information f"
]

/** Two of: its subject, its sender, an NDR code, its diagnostic heading, a Content-Language header (sisimai). */
const recogniseExchange2007 = (mail: BounceMail): boolean => {
  let evidence = 0
  if (exchange2007Subjects.some((subject) => mail.subject.includes(subject))) evidence++
  if (exchange2007Senders.some((sender) => mail.from.includes(sender))) evidence++
  if (/ (?:RESOLVER|QUEUE)\./.test(mail.body)) evidence++
  if (exchange2007Markers.some((marker) => mail.body.includes(marker))) evidence++
  if (mail.root.header("content-language") !== undefined) evidence++
  return evidence >= 2
}

export const exchange2007: Dialect = {
  name: "exchange2007",
  recognise: recogniseExchange2007,
  refine: (records) =>
    records.map((found): FoundRecipient => {
      const code = ndrCode.exec(found.diagnostic ?? "")?.[1]
      const reason = code === undefined ? undefined : exchange2007Codes.get(code)
      return reason === undefined ? found : { ...found, reasonHint: reason }
    })
}
