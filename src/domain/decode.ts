import { decodeAmazonSes, sesOriginalMessageId } from "./amazon-ses.js"
import { decodeFeedbackReport, decodeHotmailComplaint, findFeedbackReport } from "./arf.js"
import { decodeAutoReply } from "./autoreply.js"
import * as Option from "effect/Option"
import { findStampHeader, type TokenVerifier } from "./codec.js"
import { bounceAddresses, correlate, noVerifier } from "./correlate.js"
import { decodeDeliveryStatus, findDeliveryStatus } from "./dsn.js"
import { cleanAddress, type Extraction, type FoundRecipient, findAddresses, oneLine } from "./extraction.js"
import { type BounceMail, recogniseDialect, refineExtraction } from "./dialects/index.js"
import { findEntities, type MimeEntity } from "./mail.js"
import { findSmtpCommand, qualify, type Rule } from "./qualify.js"
import type { BounceRecord, BounceReport, MailKind } from "./report.js"
import { decodeTextBounce, errorSection, pastedOriginal } from "./text-bounce.js"

/** What decoding needs besides the mail: the user's rules, our signing keys (as a verifier) and the stamp header. */
export interface DecodeOptions {
  readonly rules?: ReadonlyArray<Rule>
  readonly verifier?: TokenVerifier
  /** a header that senders stamp on each message, looked up in the returned headers (e.g. "X-Rebound-Id") */
  readonly stampHeader?: string
}

const isEnclosing = (entity: MimeEntity) => entity.enclosed !== undefined

/** The returned original: the first enclosed message or header block of the report. */
const findOriginal = (root: MimeEntity): MimeEntity | undefined =>
  findEntities(root, (entity) => entity !== root && isEnclosing(entity))[0]?.enclosed

/** The header block of an original pasted below a text bounce's explanation, parsed. */
const pastedOriginalHeaders = (root: MimeEntity, body: string): MimeEntity | undefined => {
  const pasted = pastedOriginal(body)
  if (pasted === null) return undefined
  const start = pasted.search(/^[A-Za-z][A-Za-z0-9-]*:[ \t]/m)
  if (start === -1) return undefined
  const parsed = root.parseText(pasted.slice(start))
  return parsed.headers.length > 0 ? parsed : undefined
}

const htmlToText = (html: string): string =>
  html
    .replace(/<(?:style|script)[\s\S]*?<\/(?:style|script)>/gi, " ")
    .replace(/<br\s*\/?>|<\/(?:p|div|tr|li|h\d)>/gi, "\n")
    .replace(/<[^>]+>/g, " ")
    .replace(/&nbsp;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, "&")
    .replace(/[ \t]+\n/g, "\n")

/** The human-readable explanation of a report: its first text part outside any enclosed message. */
const humanReadable = (root: MimeEntity): string => {
  const visit = (entity: MimeEntity, depth: number): string | undefined => {
    if (depth > 50) return undefined
    if (entity.contentType.startsWith("multipart/")) {
      const children = entity.children
      if (children.length === 0) return entity.text()
      let html: string | undefined
      for (const child of children) {
        if (child.contentType === "text/html") html ??= visit(child, depth + 1)
        else {
          const text = visit(child, depth + 1)
          if (text !== undefined && text.trim() !== "") return text
        }
      }
      return html
    }
    if (entity.contentType === "text/plain" || entity.contentType === "text/enriched") return entity.text()
    if (entity.contentType === "text/html") return htmlToText(entity.text())
    return undefined
  }
  // one line end throughout: the text readers split lines on LF and a stray CR would end no pattern
  return (visit(root, 0) ?? "").replace(/\r\n?/g, "\n")
}

const stripAngles = (value: string | undefined | null): string | null => {
  if (value === undefined || value === null) return null
  const match = /<([^<>\s]+)>/.exec(value)
  const id = (match?.[1] ?? value).trim()
  return id === "" ? null : id
}

const messageIdLine = /^[ \t>]*Message-I[Dd][ \t]*:[ \t]*(?:\r?\n[ \t]+)?(\S+)/m

/** The original Message-ID, and whether it came from returned headers rather than text or In-Reply-To. */
const originalMessageId = (
  root: MimeEntity,
  original: MimeEntity | undefined,
  body: string
): { readonly value: string | null; readonly fromHeaders: boolean } => {
  const enclosedId = stripAngles(original?.header("message-id"))
  if (enclosedId !== null) return { value: enclosedId, fromHeaders: true }
  const pasted = pastedOriginal(body)
  const pastedId = pasted === null ? null : stripAngles(messageIdLine.exec(pasted)?.[1])
  if (pastedId !== null) return { value: pastedId, fromHeaders: true }
  const sesId = sesOriginalMessageId(body)
  if (sesId !== null) return { value: stripAngles(sesId), fromHeaders: true }
  for (const part of findEntities(root, (entity) => entity.contentType === "text/plain" && entity !== root)) {
    // a text part that is a header block: the returned headers, sent as text/plain by some appliances
    const text = part.text(64 * 1024)
    if (text === body || !/^\s*[A-Za-z][A-Za-z0-9-]*:[ \t]/.test(text)) continue
    const id = stripAngles(root.parseText(text.trimStart()).header("message-id"))
    if (id !== null) return { value: id, fromHeaders: true }
  }
  const inText = stripAngles(messageIdLine.exec(body)?.[1])
  if (inText !== null) return { value: inText, fromHeaders: false }
  if (root.children.length > 0) {
    // a report whose parts cannot all be split (a delimiter that does not match the declared boundary)
    const anywhere = stripAngles(messageIdLine.exec(root.text(256 * 1024))?.[1])
    if (anywhere !== null) return { value: anywhere, fromHeaders: true }
  }
  const replyTo = stripAngles(root.header("in-reply-to")) ?? stripAngles(root.header("references")?.split(/\s+/)[0])
  return { value: replyTo, fromHeaders: false }
}

const stampIn = (original: MimeEntity | undefined, body: string, name: string | undefined): string | null => {
  if (name === undefined) return null
  const found = original === undefined ? Option.none() : findStampHeader(original.headers, name)
  return Option.getOrNull(Option.isSome(found) ? found : findStampHeader(body, name))
}

/** Addresses that cannot be a failed recipient: whoever the bounce went to and whoever sent the original. */
const notRecipients = (root: MimeEntity, original: MimeEntity | undefined): Set<string> => {
  const addresses = [
    ...["from", "to", "delivered-to", "envelope-to"].flatMap((name) =>
      root.headerAll(name).flatMap((value) => findAddresses(value))
    ),
    ...findAddresses(root.header("return-path") ?? ""),
    ...findAddresses(original?.header("from") ?? ""),
    ...findAddresses(original?.header("return-path") ?? ""),
    ...findAddresses(original?.header("sender") ?? "")
  ]
  return new Set(addresses.map((address) => address.toLowerCase()))
}

const openingAddress = /^\s*<?([^\s<>@"]+@[^\s<>:;,]+?)>?(?=[\s:;,.]|$)/

/** The explanation the human-readable part gives for each recipient of a DSN, indexed once per mail. */
const explanationFor = (body: string) => {
  let index:
    { readonly lines: ReadonlyArray<string>; readonly mentions: ReadonlyMap<string, Array<number>> } | undefined
  return (recipient: string | null): string | null => {
    if (recipient === null) return null
    if (index === undefined) {
      const lines = errorSection(body).split("\n")
      const mentions = new Map<string, Array<number>>()
      lines.forEach((line, at) => {
        if (!line.includes("@")) return
        for (const address of findAddresses(line)) {
          const key = address.toLowerCase()
          const found = mentions.get(key)
          if (found === undefined) mentions.set(key, [at])
          else if (found.length < 4) found.push(at)
        }
      })
      index = { lines, mentions }
    }
    const { lines, mentions } = index
    const key = recipient.toLowerCase()
    // the first mention that says something: a list of addresses may name it before the paragraph that explains
    for (const at of mentions.get(key) ?? []) {
      const parts: Array<string> = [lines[at]!.slice(lines[at]!.toLowerCase().indexOf(key) + key.length)]
      for (let next = at + 1; next < lines.length && lines[next]!.trim() !== ""; next++) {
        // a line that opens with another address starts that recipient's explanation
        const opening = openingAddress.exec(lines[next]!)?.[1]?.toLowerCase()
        if (opening !== undefined && opening !== key) break
        parts.push(lines[next]!)
      }
      const text = oneLine(parts.join(" ").replace(/^[>:.\s]+/, ""))
      if (text.length >= 8) return text
    }
    return null
  }
}

const embeddedReport = /^Content-Type:[ \t]*(?:multipart\/report|message\/(?:global-)?delivery-status)/im
const headerOrContinuation = /^(?:[!-9;-~]+:|[ \t]+\S|From )/

/** A bounce pasted as text into another mail (forwarded, or wrapped by a relay): where its header block starts. */
const embeddedMailStart = (body: string): number | null => {
  const match = embeddedReport.exec(body)
  if (match === null) return null
  const lines = body.slice(0, match.index).split("\n")
  let start = lines.length - 1
  while (start > 0 && headerOrContinuation.test(lines[start - 1]!)) start--
  return lines.slice(0, start).join("\n").length + (start > 0 ? 1 : 0)
}

const textInput = (root: MimeEntity, original: MimeEntity | undefined, body: string) => ({
  subject: root.header("subject") ?? "",
  from: root.header("from") ?? "",
  body,
  failedRecipients: root.headerAll("x-failed-recipients").flatMap((value) => findAddresses(value)),
  notRecipients: notRecipients(root, original),
  originalRecipients: findAddresses(original?.header("to") ?? "")
})

/** Fills in DSN records whose Final-Recipient is unusable from the recipients the text part names. */
const withTextRecipients = (extraction: Extraction, decodeText: () => Extraction | null): Extraction => {
  if (extraction.recipients.every((found) => found.recipient !== null)) return extraction
  const fromText = decodeText()
  if (fromText === null) return extraction
  const named = fromText.recipients.map((found) => found.recipient).filter((address) => address !== null)
  return {
    ...extraction,
    recipients: extraction.recipients.map((found, index) =>
      found.recipient === null ? { ...found, recipient: named[index] ?? named[0] ?? null } : found
    )
  }
}

/** The mail an extraction came from: the one given, or a bounce pasted into it. */
interface Decoded {
  readonly extraction: Extraction | null
  readonly root: MimeEntity
  readonly original: MimeEntity | undefined
  readonly body: string
}

const decodedFrom = (root: MimeEntity, depth = 0): Decoded => {
  const body = humanReadable(root)
  const original = findOriginal(root) ?? pastedOriginalHeaders(root, body)
  const embeddedAt = depth < 3 && findDeliveryStatus(root) === undefined ? embeddedMailStart(body) : null
  if (embeddedAt !== null) {
    const embedded = decodedFrom(root.parseText(body.slice(embeddedAt)), depth + 1)
    if (embedded.extraction !== null && embedded.extraction.recipients.length > 0) return embedded
  }
  return { extraction: extract(root, original, body), root, original, body }
}

/** How much of an explanation is read with the diagnostic: a notification is short, a pasted original is not. */
const leadInLimit = 16 * 1024

const notLeadIn = /^(?:Content-|This is a MIME|This is a multi|This is an auto|This multi-part|###|\*\*\*|--)/

/**
 * A DSN on one recipient from an MTA that no dialect knows: its explanation is read with the diagnostic, for it often
 * says what the Diagnostic-Code does not, and it may name the SMTP command (sisimai rfc3464/lib.go, "beforemesg").
 */
const withLeadIn = (extraction: Extraction, explanation: string): Extraction => {
  if (extraction.recipients.length !== 1) return extraction
  const leadIn = oneLine(
    explanation
      .slice(0, leadInLimit)
      .split("\n")
      .filter((line) => line.trim() !== "" && !notLeadIn.test(line) && !/--- (?:The follow|Transcript)/.test(line))
      .join(" ")
  )
  if (leadIn === "") return extraction
  const found = extraction.recipients[0]!
  return {
    ...extraction,
    recipients: [
      {
        ...found,
        context: found.context === null ? leadIn : `${leadIn} ${found.context}`,
        command: found.command ?? (findSmtpCommand(leadIn) || null)
      }
    ]
  }
}

/**
 * Reads a mail: a dialect that recognises it first decodes a format of its own or refines what the standard
 * decoders (ARF, RFC 3464, Amazon SES, free text, RFC 3834) found.
 */
const extract = (root: MimeEntity, original: MimeEntity | undefined, body: string): Extraction | null => {
  const mail: BounceMail = {
    root,
    subject: root.header("subject") ?? "",
    from: root.header("from") ?? "",
    body,
    section: errorSection(body)
  }
  const dialect = recogniseDialect(mail)
  // a dialect's own format is a text one: a machine-readable report is read by the standard readers
  const machineReadable = findFeedbackReport(root) !== undefined || findDeliveryStatus(root) !== undefined
  const extraction = (machineReadable ? null : dialect?.decode?.(mail)) ?? standardExtract(root, original, body)
  if (extraction === null) return extraction
  if (dialect === undefined) return extraction.dialect === "rfc3464" ? withLeadIn(extraction, mail.body) : extraction
  if (extraction.kind !== "bounce" && extraction.kind !== "delay") return extraction
  return { ...refineExtraction(dialect, extraction, mail), dialect: dialect.name }
}

const standardExtract = (root: MimeEntity, original: MimeEntity | undefined, body: string): Extraction | null => {
  const feedback = findFeedbackReport(root)
  if (feedback !== undefined) return decodeFeedbackReport(feedback, original)
  const status = findDeliveryStatus(root)
  const fromStatus = status === undefined ? null : decodeDeliveryStatus(status, explanationFor(body))
  if (fromStatus !== null)
    return withTextRecipients(fromStatus, () => decodeTextBounce(textInput(root, original, body), "text"))
  const hotmail = decodeHotmailComplaint(root, original)
  if (hotmail !== null) return hotmail
  const ses = root.header("x-amz-sns-message-id") !== undefined || body.includes('"notificationType"')
  const fromSes = ses ? decodeAmazonSes(body) : null
  if (fromSes !== null) return fromSes
  const fromText = decodeTextBounce(textInput(root, original, body), "text")
  if (fromText !== null) return fromText
  return decodeAutoReply(root)
}

/**
 * V8 keeps a substring of 13 characters or more as a view of the string it was cut from, so a header value or a
 * delivery-status field kept in a report keeps its mail's whole decoded text alive (about 10 KB of heap for a 6 KB
 * bounce, held as long as the report: the processor keeps a session's reports until their batch is applied). The
 * report's strings are copied out once it is built; a concatenation, flattened by the slice, makes the copy.
 */
const detached = <S extends string | null>(text: S): S =>
  text === null || text.length < 13 ? text : ((" " + text).slice(1) as S)

/**
 * Decodes one mail into a bounce report: what kind of mail it is and, for each recipient it reports on, the
 * status, the qualified reason and type, and the evidence that ties it to the message that was sent. Pure; never
 * throws on malformed input.
 */
export const decodeBounce = (mail: MimeEntity, options: DecodeOptions = {}): BounceReport => {
  const { extraction, root, original, body } = decodedFrom(mail)
  const messageId = originalMessageId(root, original, body)
  const evidence = {
    bounceAddresses: root === mail ? bounceAddresses(mail) : [...bounceAddresses(mail), ...bounceAddresses(root)],
    originalEnvelopeId: extraction?.originalEnvelopeId ?? null,
    originalMessageId: messageId.value,
    messageIdFromHeaders: messageId.fromHeaders,
    stampValue: stampIn(original, body, options.stampHeader)
  }
  const correlated = correlate(evidence, options.verifier ?? noVerifier)
  const correlation = correlated.value === null ? correlated : { ...correlated, value: detached(correlated.value) }
  const originalMessageIdValue = detached(messageId.value)
  const originalEnvelopeId = detached(extraction?.originalEnvelopeId ?? null)
  const reportingMta = detached(extraction?.reportingMta ?? null)
  const toRecord = (found: FoundRecipient): BounceRecord => {
    const qualification = qualify(
      {
        kind: found.kind,
        status: found.status,
        replyCode: found.replyCode,
        diagnostic: found.diagnostic,
        action: found.action,
        reasonHint: found.reasonHint,
        feedbackType: found.feedbackType,
        remoteMta: found.remoteMta,
        command: found.command,
        diagnosticType: found.diagnosticType,
        recipient: found.recipient,
        reportingMta: found.reportingMta ?? extraction?.reportingMta ?? null,
        context: found.context
      },
      options.rules
    )
    return {
      kind: found.kind,
      recipient: detached(found.recipient),
      originalRecipient: detached(found.originalRecipient),
      action: detached(found.action),
      status: detached(found.status),
      replyCode: detached(found.replyCode),
      diagnostic: detached(found.diagnostic),
      diagnosticType: detached(found.diagnosticType),
      remoteMta: detached(found.remoteMta),
      reportingMta: found.reportingMta === null ? reportingMta : detached(found.reportingMta),
      lastAttemptDate: detached(found.lastAttemptDate),
      willRetryUntil: detached(found.willRetryUntil),
      type: qualification.type,
      reason: qualification.reason,
      campaignReason: qualification.campaignReason,
      rule: qualification.rule,
      feedbackType: detached(found.feedbackType),
      originalMessageId: originalMessageIdValue,
      originalEnvelopeId,
      correlation
    }
  }
  const kind: MailKind = extraction?.kind ?? "not-bounce"
  return {
    kind,
    dialect: extraction?.dialect ?? "none",
    subject: detached(mail.header("subject") ?? null),
    from: detached(cleanAddress(mail.header("from") ?? "")),
    messageId: detached(stripAngles(mail.header("message-id"))),
    date: detached(mail.header("date") ?? null),
    reportingMta,
    arrivalDate: detached(extraction?.arrivalDate ?? null),
    originalEnvelopeId,
    originalMessageId: originalMessageIdValue,
    records: extraction?.recipients.map(toRecord) ?? []
  }
}
