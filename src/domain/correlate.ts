import type { TokenVerifier } from "./codec.js"
import { findAddresses } from "./extraction.js"
import type { MimeEntity } from "./mail.js"
import { type Correlation, noCorrelation } from "./report.js"

/** For a decoder without signing keys: nothing verifies. */
export const noVerifier: TokenVerifier = { messageId: () => null, verp: () => null }

/** Everything in a bounce that may tie it to the message that was sent. */
export interface CorrelationEvidence {
  /** addresses the bounce was delivered to: To, Delivered-To, X-Original-To, Envelope-To */
  readonly bounceAddresses: ReadonlyArray<string>
  readonly originalEnvelopeId: string | null
  readonly originalMessageId: string | null
  /** whether the Message-ID came from returned headers (true) or only from text or In-Reply-To (false) */
  readonly messageIdFromHeaders: boolean
  readonly stampValue: string | null
}

/** The addresses a bounce was delivered to, where a VERP address would be. */
export const bounceAddresses = (root: MimeEntity): Array<string> =>
  ["to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to"].flatMap((name) =>
    root.headerAll(name).flatMap((value) => findAddresses(value))
  )

/**
 * Finds the message that was sent, preferring evidence that verifies (a signed VERP address, envelope id or
 * Message-ID) over evidence that the store must look up (a plain Message-ID, envelope id or stamp).
 */
export const correlate = (evidence: CorrelationEvidence, verifier: TokenVerifier): Correlation => {
  for (const address of evidence.bounceAddresses) {
    const ids = verifier.verp(address)
    if (ids !== null) return { method: "verp", verified: true, value: address, ids }
  }
  if (evidence.originalEnvelopeId !== null) {
    const ids = verifier.messageId(evidence.originalEnvelopeId)
    if (ids !== null) return { method: "envelope-id", verified: true, value: evidence.originalEnvelopeId, ids }
  }
  if (evidence.originalMessageId !== null) {
    const ids = verifier.messageId(evidence.originalMessageId)
    const method = evidence.messageIdFromHeaders ? "message-id" : "text"
    if (ids !== null) return { method, verified: true, value: evidence.originalMessageId, ids }
  }
  if (evidence.stampValue !== null) {
    const ids = verifier.messageId(evidence.stampValue)
    return { method: "x-header", verified: ids !== null, value: evidence.stampValue, ids }
  }
  if (evidence.originalEnvelopeId !== null) {
    return { method: "envelope-id", verified: false, value: evidence.originalEnvelopeId, ids: null }
  }
  if (evidence.originalMessageId !== null) {
    const method = evidence.messageIdFromHeaders ? "message-id" : "text"
    return { method, verified: false, value: evidence.originalMessageId, ids: null }
  }
  return noCorrelation
}
