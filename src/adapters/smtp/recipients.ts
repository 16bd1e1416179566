import * as Either from "effect/Either"
import { decodeVerp, type SigningKey, type TokenRejection } from "../../domain/codec.js"

/** Which RCPT TO addresses the listener takes. */
export interface RecipientPolicy {
  /** the bounce domains, lower case, without a trailing dot */
  readonly domains: ReadonlySet<string>
  /** the local part before `+` in VERP addresses */
  readonly verpLocalPart: string
  /** when set, `verpLocalPart+token` addresses whose token does not verify with these keys are refused */
  readonly rejectBadVerpWith: ReadonlyArray<SigningKey> | null
}

/** What to answer to one RCPT TO. */
export type RecipientVerdict =
  | { readonly _tag: "Accept"; readonly domain: string }
  /** not one of our domains: we are not a relay */
  | { readonly _tag: "Relay"; readonly domain: string }
  /** a VERP address of ours whose token does not verify */
  | { readonly _tag: "BadVerp"; readonly rejection: TokenRejection }

/** A domain as configured or as written in an address: lower case, no trailing dot. */
export const normalizeDomain = (domain: string): string => domain.trim().toLowerCase().replace(/\.$/, "")

/**
 * Decides on one recipient. Every local part of a bounce domain is taken (the VERP addresses, the plain bounce
 * address, postmaster, abuse for ARF reports); RFC 5321 section 4.5.1 also asks to take a bare `<Postmaster>`.
 * Address literals (`user@[192.0.2.1]`) are never ours.
 */
export const checkRecipient = (address: string, policy: RecipientPolicy): RecipientVerdict => {
  const at = address.lastIndexOf("@")
  if (at < 0) {
    return address.toLowerCase() === "postmaster" ? { _tag: "Accept", domain: "" } : { _tag: "Relay", domain: "" }
  }
  const domain = normalizeDomain(address.slice(at + 1))
  if (!policy.domains.has(domain)) return { _tag: "Relay", domain }
  if (policy.rejectBadVerpWith !== null) {
    const verdict = decodeVerp(address, policy.rejectBadVerpWith, { localPart: policy.verpLocalPart })
    if (Either.isLeft(verdict) && verdict.left.reason !== "not-a-token") {
      return { _tag: "BadVerp", rejection: verdict.left.reason }
    }
  }
  return { _tag: "Accept", domain }
}
