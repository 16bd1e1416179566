import * as Either from "effect/Either"
import {
  type AddressError,
  type LocalPartCase,
  NormalizedAddress,
  normalizeAddress,
  normalizeDomain
} from "../../domain/address.js"

/** Inputs with nothing to strip (no space, angle bracket or "rfc822;" type prefix): only the domain needs work. */
const plain = /^[^\s<>;]+$/

/**
 * `normalizeAddress` for a batch (the 10,000 addresses of a suppression check): a plain input is split at its last
 * "@" and its domain normalised once per distinct domain, since IDNA encoding is most of the cost and a batch holds
 * few domains; anything else, and every error, goes through `normalizeAddress` itself.
 */
export const batchNormalizer = (localPartCase: LocalPartCase) => {
  const domains = new Map<string, string | null>()
  return (raw: string): Either.Either<NormalizedAddress, AddressError> => {
    const at = raw.lastIndexOf("@")
    if (!plain.test(raw) || at <= 0 || at === raw.length - 1) return normalizeAddress(raw, localPartCase)
    const domainPart = raw.slice(at + 1)
    let domain = domains.get(domainPart)
    if (domain === undefined) {
      const normalized = normalizeDomain(domainPart)
      domain = Either.isRight(normalized) ? normalized.right : null
      domains.set(domainPart, domain)
    }
    if (domain === null) return normalizeAddress(raw, localPartCase)
    const local = raw.slice(0, at)
    return Either.right(
      NormalizedAddress.make(`${localPartCase === "lowercase" ? local.toLowerCase() : local}@${domain}`)
    )
  }
}
