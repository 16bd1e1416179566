import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { domainToASCII } from "node:url"

/**
 * How the local part (left of the "@") is compared. RFC 5321 section 2.4 lets a server treat it as case-sensitive,
 * but almost no mailbox provider does, and Adobe Campaign lowercases addresses, so "lowercase" is the default.
 */
export const LocalPartCase = Schema.Literal("lowercase", "preserve")
export type LocalPartCase = typeof LocalPartCase.Type

/** An address as rebound keys it: local part per the `LocalPartCase` setting, domain lowercased and IDNA-encoded. */
export const NormalizedAddress = Schema.String.pipe(Schema.brand("rebound/NormalizedAddress"))
export type NormalizedAddress = typeof NormalizedAddress.Type

/** Why a string is not an address rebound can key state on. */
export class AddressError extends Data.TaggedError("AddressError")<{
  readonly reason: "empty" | "no-at-sign" | "empty-local-part" | "bad-domain"
  readonly input: string
  readonly message: string
}> {}

const fail = (reason: AddressError["reason"], input: string, message: string) =>
  Either.left(new AddressError({ reason, input, message }))

/**
 * Normalises a recipient as found in a DSN, a registration or an operator's request: strips an RFC 3464
 * address-type prefix ("rfc822;"), angle brackets and surrounding whitespace, lowercases and IDNA-encodes the
 * domain (node:url `domainToASCII`, UTS #46), and applies the local-part case setting.
 */
export const normalizeAddress = (
  input: string,
  localPartCase: LocalPartCase = "lowercase"
): Either.Either<NormalizedAddress, AddressError> => {
  let text = input.trim()
  const typed = /^(rfc822|utf-8)\s*;\s*/i.exec(text)
  if (typed) text = text.slice(typed[0].length)
  if (text.startsWith("<") && text.endsWith(">")) text = text.slice(1, -1).trim()
  if (text.length === 0) return fail("empty", input, "the address is empty")
  const at = text.lastIndexOf("@")
  if (at < 0) return fail("no-at-sign", input, `"${input}" has no "@"`)
  const localPart = text.slice(0, at)
  if (localPart.length === 0) return fail("empty-local-part", input, `"${input}" has an empty local part`)
  const domain = normalizeDomain(text.slice(at + 1))
  if (Either.isLeft(domain)) return fail("bad-domain", input, `"${input}" has an invalid domain`)
  const local = localPartCase === "lowercase" ? localPart.toLowerCase() : localPart
  return Either.right(NormalizedAddress.make(`${local}@${domain.right}`))
}

/** Lowercases and IDNA-encodes a domain (an address literal such as "[192.0.2.1]" is kept as it is). */
export const normalizeDomain = (input: string): Either.Either<string, string> => {
  const known = domainCache.get(input)
  if (known !== undefined) return known
  const result = encodeDomain(input)
  // a bounded memo: the same few thousand receiving domains come back all day, and UTS #46 mapping is not cheap
  if (domainCache.size >= 10_000) domainCache.clear()
  domainCache.set(input, result)
  return result
}

const domainCache = new Map<string, Either.Either<string, string>>()

const encodeDomain = (input: string): Either.Either<string, string> => {
  const text = input.trim().replace(/\.$/, "")
  if (text.startsWith("[") && text.endsWith("]")) return Either.right(text.toLowerCase())
  if (text.length === 0) return Either.left(input)
  const ascii = domainToASCII(text)
  return ascii.length === 0 || !ascii.includes(".") ? Either.left(input) : Either.right(ascii)
}

/** The domain of a normalised address (what receives the mail, and what the outage guard and domain stats key on). */
export const domainOf = (address: NormalizedAddress): string => address.slice(address.lastIndexOf("@") + 1)
