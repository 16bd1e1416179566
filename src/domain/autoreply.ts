import { cleanAddress, emptyRecipient, type Extraction } from "./extraction.js"
import type { MimeEntity } from "./mail.js"

const vacationSubject = new RegExp(
  [
    String.raw`^\s*(?:auto(?:matic|matische|matisch)?[ -]?(?:reply|response|respons|answer|antwort|antwoord)\b)`,
    String.raw`^\s*auto(?:reply|respond|response)?\s*:`,
    String.raw`\bout of (?:the )?office\b`,
    String.raw`\bon vacation\b|^\s*vacation\b|\baway from (?:the|my) (?:office|desk)\b`,
    String.raw`abwesenheitsnotiz|\babwesend\b|automatische antwort`,
    String.raw`r[ée]ponse automatique|absence du bureau|\babsent\b`,
    String.raw`risposta automatica|fuori sede|respuesta autom[aá]tica|fuera de la oficina`,
    String.raw`resposta autom[aá]tica|automatisch antwoord|afwezig|autosvar|automaattinen vastaus`,
    String.raw`自動応答|自動返信|不在|休暇|自动回复|자동 응답|автоответ|автоматический ответ`
  ].join("|"),
  "i"
)

/**
 * Recognises an automatic reply (RFC 3834 and the de-facto headers of vacation programs and Exchange). The
 * "recipient" is the address that replied: the one the original message was sent to.
 */
export const decodeAutoReply = (root: MimeEntity): Extraction | null => {
  const autoSubmitted = root.header("auto-submitted")?.toLowerCase() ?? ""
  const precedence = root.header("precedence")?.toLowerCase() ?? ""
  const subject = root.header("subject") ?? ""
  const signals =
    autoSubmitted.startsWith("auto-replied") ||
    root.header("x-autoreply") !== undefined ||
    root.header("x-autorespond") !== undefined ||
    root.header("x-autoresponder") !== undefined ||
    precedence.includes("auto_reply") ||
    (vacationSubject.test(subject) && !autoSubmitted.startsWith("auto-generated"))
  if (!signals) return null
  const found = emptyRecipient("auto-reply")
  found.recipient = cleanAddress(root.header("from") ?? "") ?? cleanAddress(root.header("reply-to") ?? "")
  found.reasonHint = "vacation"
  found.diagnostic = subject.trim() || null
  return {
    dialect: "rfc3834",
    kind: "auto-reply",
    recipients: [found],
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null
  }
}
