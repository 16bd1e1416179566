/**
 * The trace fields an MTA puts in front of a mail it delivers (RFC 5321 section 4.4, RFC 5322 section 3.6.7):
 * Return-Path with the envelope sender, X-Original-To with the RCPT address (Postfix's name; the VERP token travels in
 * it), and a Received field saying who handed the mail over, when and how.
 */

const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const

const pad = (value: number, width = 2) => String(value).padStart(width, "0")

/** An RFC 5322 section 3.3 date-time in UTC: `Thu, 27 Nov 2025 04:03:09 +0000`. */
export const rfc5322Date = (epochMillis: number): string => {
  const date = new Date(epochMillis)
  return (
    `${days[date.getUTCDay()]}, ${date.getUTCDate()} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  )
}

/**
 * Text a client chose (its HELO name, its reverse DNS name) made safe for a header: printable ASCII only, no
 * parentheses or backslash (they would open or escape a comment), at most 255 characters.
 */
export const headerSafe = (text: string): string => {
  const cleaned = text.replace(/[^\x21-\x7e]|[()\\]/g, "?").slice(0, 255)
  return cleaned === "" ? "unknown" : cleaned
}

/** An envelope address for a header: CR, LF and other controls removed (smtp-server already refuses most). */
const addressSafe = (address: string) => address.replace(/[\x00-\x1f\x7f<>]/g, "")

/** What the listener knows about the SMTP session that carried a mail. */
export interface TraceSession {
  /** the name given with HELO/EHLO */
  readonly helo: string
  /** the client's reverse DNS name, when looked up */
  readonly clientHostname: string | null
  readonly clientAddress: string
  /** RFC 3848 protocol: SMTP, ESMTP, ESMTPS */
  readonly protocol: string
  /** the TLS protocol and cipher, when the session is encrypted */
  readonly tls: { readonly version: string; readonly cipher: string } | null
  /** our own host name */
  readonly by: string
  /** the id of this transaction, also in the 250 reply and the logs */
  readonly id: string
  readonly sender: string
  readonly receivedAt: number
}

/**
 * The header block put in front of the spooled bytes of one copy of a mail, for the recipient `recipient`, with CRLF
 * line ends like the message itself.
 */
export const traceHeaders = (session: TraceSession, recipient: string): string => {
  const clientAddress = session.clientAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "")
  const literal = clientAddress.includes(":") ? `IPv6:${clientAddress}` : clientAddress
  const from = `from ${headerSafe(session.helo)} (${headerSafe(session.clientHostname ?? "unknown")} [${literal}])`
  const tls =
    session.tls === null
      ? ""
      : `\r\n\t(using ${headerSafe(session.tls.version)} with cipher ${headerSafe(session.tls.cipher)})`
  return (
    `Return-Path: <${addressSafe(session.sender)}>\r\n` +
    `X-Original-To: ${addressSafe(recipient)}\r\n` +
    `Received: ${from}${tls}\r\n` +
    `\tby ${headerSafe(session.by)} (rebound) with ${session.protocol} id ${session.id}\r\n` +
    `\tfor <${addressSafe(recipient)}>; ${rfc5322Date(session.receivedAt)}\r\n`
  )
}
