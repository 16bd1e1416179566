/**
 * Signed Message-ID and VERP codec: a sender puts the ids of a delivery into the Message-ID (`<payload.mac@domain>`)
 * or the envelope sender (`bounce+token@domain`) of each message; a bounce that carries them back can be tied to the
 * delivery, and the HMAC proves that we wrote them, so a forged bounce cannot quarantine anyone.
 *
 * Tokens are base32 in lower case (RFC 4648 alphabet): MTAs may change the case of a VERP local part, so decoding
 * ignores case. The payload holds a version, the key id (for key rotation) and the ids, each length-prefixed so that
 * ids may contain any character. The MAC is HMAC-SHA256 truncated to 80 bits (RFC 2104 section 5: at least half the
 * output and not less than 80 bits), over the purpose ("message-id" or "verp") and the payload.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { SignedIds } from "./report.js"

/** A signing key: its id travels in every token so that several keys can verify during a rotation. */
export const SigningKey = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(32)),
  secret: Schema.Redacted(Schema.String.pipe(Schema.minLength(16)))
})
export type SigningKey = typeof SigningKey.Type

/** Why a token did not verify. */
export type TokenRejection = "not-a-token" | "malformed" | "unknown-key" | "bad-signature" | "wrong-domain"

/** A token that did not verify; `claimed` holds the ids it carries when it could be read, which nobody vouches for. */
export class TokenRejected extends Data.TaggedError("TokenRejected")<{
  readonly reason: TokenRejection
  readonly message: string
  readonly keyId: string | null
  readonly claimed: SignedIds | null
}> {}

/** A token whose MAC verified with one of our keys. */
export interface VerifiedToken {
  readonly ids: SignedIds
  readonly keyId: string
  readonly verified: true
}

type Purpose = "message-id" | "verp"

const version = 1
/** Truncated MAC length in bytes (80 bits). */
export const macLength = 10

// ---------------------------------------------------------------------------------------------------------------
// Base32 (RFC 4648 section 6, lower case, no padding), strict: trailing bits must be zero so that every token has
// exactly one spelling.

const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
const alphabetIndex = new Map([...alphabet].map((c, i) => [c, i] as const))

export const base32Encode = (bytes: Uint8Array): string => {
  let out = ""
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31]
  return out
}

/** Decodes base32 in either case; none for a character outside the alphabet or a non-canonical ending. */
export const base32Decode = (text: string): Option.Option<Uint8Array> => {
  const remainder = text.length % 8
  if (remainder === 1 || remainder === 3 || remainder === 6) return Option.none()
  const out = new Uint8Array(Math.floor((text.length * 5) / 8))
  let buffer = 0
  let bits = 0
  let at = 0
  for (const c of text.toLowerCase()) {
    const value = alphabetIndex.get(c)
    if (value === undefined) return Option.none()
    buffer = ((buffer << 5) | value) & 0xffff
    bits += 5
    if (bits >= 8) {
      out[at++] = (buffer >>> (bits - 8)) & 255
      bits -= 8
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return Option.none()
  return Option.some(out)
}

// ---------------------------------------------------------------------------------------------------------------
// Payload: version, key id, instance, delivery id, recipient id. Strings are WTF-8 (UTF-8 that also carries lone
// surrogates), so that any JavaScript string round-trips.

const encodeString = (value: string, out: Array<number>): void => {
  const bytes: Array<number> = []
  for (let i = 0; i < value.length; i++) {
    let code = value.charCodeAt(i)
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const low = value.charCodeAt(i + 1)
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
        i++
      }
    }
    if (code < 0x80) bytes.push(code)
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63))
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63))
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63))
  }
  // length as an unsigned LEB128 varint
  let length = bytes.length
  do {
    out.push((length & 127) | (length > 127 ? 128 : 0))
    length >>>= 7
  } while (length > 0)
  out.push(...bytes)
}

const minimumCode = [0, 0x80, 0x800, 0x10000]

class Reader {
  at = 0
  constructor(readonly bytes: Uint8Array) {}

  byte(): number | undefined {
    return this.at < this.bytes.length ? this.bytes[this.at++] : undefined
  }

  string(): string | undefined {
    let length = 0
    for (let shift = 0; ; shift += 7) {
      const b = this.byte()
      if (b === undefined || shift > 21) return undefined
      length |= (b & 127) << shift
      if ((b & 128) === 0) break
    }
    if (this.at + length > this.bytes.length) return undefined
    const end = this.at + length
    let out = ""
    while (this.at < end) {
      const b0 = this.bytes[this.at++]!
      const need = b0 < 0x80 ? 0 : b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : -1
      if (need < 0 || this.at + need > end) return undefined
      let code = need === 0 ? b0 : b0 & (0x3f >> need)
      for (let k = 0; k < need; k++) {
        const next = this.bytes[this.at++]!
        if ((next & 0xc0) !== 0x80) return undefined
        code = (code << 6) | (next & 63)
      }
      // one spelling per string: no overlong forms, nothing beyond U+10FFFF
      if (code < minimumCode[need]! || code > 0x10ffff) return undefined
      out += String.fromCodePoint(code)
    }
    return out
  }
}

const encodePayload = (ids: SignedIds, keyId: string): Uint8Array => {
  const out: Array<number> = [version]
  encodeString(keyId, out)
  encodeString(ids.instance, out)
  encodeString(ids.deliveryId, out)
  encodeString(ids.recipientId, out)
  return Uint8Array.from(out)
}

const decodePayload = (bytes: Uint8Array): { readonly keyId: string; readonly ids: SignedIds } | undefined => {
  const reader = new Reader(bytes)
  if (reader.byte() !== version) return undefined
  const keyId = reader.string()
  const instance = reader.string()
  const deliveryId = reader.string()
  const recipientId = reader.string()
  if (keyId === undefined || instance === undefined || deliveryId === undefined || recipientId === undefined) {
    return undefined
  }
  if (reader.at !== bytes.length) return undefined
  return { keyId, ids: { instance, deliveryId, recipientId } }
}

const mac = (key: SigningKey, purpose: Purpose, payload: Uint8Array): Uint8Array =>
  createHmac("sha256", Redacted.value(key.secret))
    .update(`rebound-token\u0000${purpose}\u0000`)
    .update(payload)
    .digest()
    .subarray(0, macLength)

/** A rejection before it becomes a TokenRejected: the verifier sees one per address it tries, so no stack trace. */
interface Rejection {
  readonly _tag: "Rejection"
  readonly reason: TokenRejection
  readonly message: string
  readonly read: { readonly keyId: string; readonly ids: SignedIds } | undefined
}

type Checked = VerifiedToken | Rejection

const reject = (
  reason: TokenRejection,
  message: string,
  read?: { readonly keyId: string; readonly ids: SignedIds }
): Rejection => ({ _tag: "Rejection", reason, message, read })

const isRejection = (checked: Checked): checked is Rejection => "_tag" in checked && checked._tag === "Rejection"

const toEither = (checked: Checked): Either.Either<VerifiedToken, TokenRejected> =>
  isRejection(checked)
    ? Either.left(
        new TokenRejected({
          reason: checked.reason,
          message: checked.message,
          keyId: checked.read?.keyId ?? null,
          claimed: checked.read?.ids ?? null
        })
      )
    : Either.right(checked)

const verify = (
  purpose: Purpose,
  payloadBytes: Uint8Array,
  macBytes: Uint8Array,
  keys: ReadonlyArray<SigningKey>
): Checked => {
  const read = decodePayload(payloadBytes)
  if (read === undefined) return reject("malformed", "the token's payload cannot be read")
  const key = keys.find((candidate) => candidate.id === read.keyId)
  if (key === undefined) return reject("unknown-key", `no signing key has the id "${read.keyId}"`, read)
  const expected = mac(key, purpose, payloadBytes)
  if (macBytes.length !== expected.length || !timingSafeEqual(macBytes, expected)) {
    return reject("bad-signature", "the token's MAC does not verify", read)
  }
  return { ids: read.ids, keyId: read.keyId, verified: true }
}

// ---------------------------------------------------------------------------------------------------------------
// Message-ID

/** The local part of a signed Message-ID (`payload.mac`), also usable as an X-header stamp or an ENVID. */
export const encodeStamp = (ids: SignedIds, key: SigningKey): string => {
  const payload = encodePayload(ids, key.id)
  return `${base32Encode(payload)}.${base32Encode(mac(key, "message-id", payload))}`
}

/** A signed Message-ID `<payload.mac@domain>` for one message to one recipient. */
export const encodeMessageId = (ids: SignedIds, key: SigningKey, domain: string): string =>
  `<${encodeStamp(ids, key)}@${domain}>`

const stampSyntax = /^([a-z2-7]+)\.([a-z2-7]+)$/i

/**
 * Verifies a signed Message-ID (with or without angle brackets), or a bare `payload.mac` stamp. With `domain`, the
 * domain part must be that domain (in any case).
 */
export const decodeMessageId = (
  value: string,
  keys: ReadonlyArray<SigningKey>,
  options: { readonly domain?: string } = {}
): Either.Either<VerifiedToken, TokenRejected> => toEither(checkMessageId(value, keys, options))

const checkMessageId = (
  value: string,
  keys: ReadonlyArray<SigningKey>,
  options: { readonly domain?: string }
): Checked => {
  const trimmed = value.trim().replace(/^<(.*)>$/s, "$1")
  const at = trimmed.lastIndexOf("@")
  const local = at < 0 ? trimmed : trimmed.slice(0, at)
  if (at >= 0 && options.domain !== undefined && trimmed.slice(at + 1).toLowerCase() !== options.domain.toLowerCase()) {
    return reject("wrong-domain", `the Message-ID is not of ${options.domain}`)
  }
  const parts = stampSyntax.exec(local)
  if (parts === null) return reject("not-a-token", "this Message-ID was not signed by rebound")
  const payload = base32Decode(parts[1]!)
  const macBytes = base32Decode(parts[2]!)
  if (Option.isNone(payload) || Option.isNone(macBytes) || macBytes.value.length !== macLength) {
    return reject("malformed", "the token is not canonical base32 of the right length")
  }
  return verify("message-id", payload.value, macBytes.value, keys)
}

// ---------------------------------------------------------------------------------------------------------------
// VERP

/** Where VERP addresses live: `localPart+token@domain`. */
export interface VerpOptions {
  readonly localPart: string
  readonly domain: string
}

/** A VERP envelope sender `bounce+token@domain`; the token survives MTAs that change the case of local parts. */
export const encodeVerp = (ids: SignedIds, key: SigningKey, options: VerpOptions): string => {
  const payload = encodePayload(ids, key.id)
  const token = new Uint8Array(payload.length + macLength)
  token.set(payload)
  token.set(mac(key, "verp", payload), payload.length)
  return `${options.localPart}+${base32Encode(token)}@${options.domain}`
}

/**
 * Verifies a VERP address (bare, in angle brackets, or with a display name). The local part before `+` must be
 * `localPart` and, when `domain` is given, the domain must match; both in any case.
 */
export const decodeVerp = (
  address: string,
  keys: ReadonlyArray<SigningKey>,
  options: { readonly localPart: string; readonly domain?: string }
): Either.Either<VerifiedToken, TokenRejected> => toEither(checkVerp(address, keys, options))

const checkVerp = (
  address: string,
  keys: ReadonlyArray<SigningKey>,
  options: { readonly localPart: string; readonly domain?: string }
): Checked => {
  const bare = /<([^<>]*)>\s*$/.exec(address)?.[1] ?? address.trim()
  const at = bare.lastIndexOf("@")
  if (at < 0) return reject("not-a-token", "not an address")
  const local = bare.slice(0, at)
  const domain = bare.slice(at + 1)
  const plus = local.indexOf("+")
  if (plus < 0 || local.slice(0, plus).toLowerCase() !== options.localPart.toLowerCase()) {
    return reject("not-a-token", `not a ${options.localPart}+token address`)
  }
  if (options.domain !== undefined && domain.toLowerCase() !== options.domain.toLowerCase()) {
    return reject("wrong-domain", `the VERP address is not of ${options.domain}`)
  }
  const token = base32Decode(local.slice(plus + 1))
  if (Option.isNone(token) || token.value.length <= macLength) {
    return reject("malformed", "the token is not canonical base32 of the right length")
  }
  const split = token.value.length - macLength
  return verify("verp", token.value.subarray(0, split), token.value.subarray(split), keys)
}

// ---------------------------------------------------------------------------------------------------------------

/** Checks tokens for the decoder: the ids of a token that verifies, or null. */
export interface TokenVerifier {
  readonly messageId: (value: string) => SignedIds | null
  readonly verp: (address: string) => SignedIds | null
  /**
   * The instance that a signed Message-ID (or stamp) names when it is signed with a key this verifier does not hold:
   * another rebound instance's (Adobe Campaign's checkInstanceName). Null for anything else, a token that names one
   * of our keys but does not verify included.
   */
  readonly foreignInstance?: (value: string) => string | null
}

/** A verifier over our keys, for correlation. */
export const makeTokenVerifier = (
  keys: ReadonlyArray<SigningKey>,
  options: { readonly verpLocalPart?: string; readonly domain?: string } = {}
): TokenVerifier => {
  const domain = options.domain === undefined ? {} : { domain: options.domain }
  const verified = (checked: Checked): SignedIds | null => (isRejection(checked) ? null : checked.ids)
  return {
    messageId: (value) => verified(checkMessageId(value, keys, domain)),
    foreignInstance: (value) => {
      // another instance may sign under another domain: the domain is not checked here
      const checked = checkMessageId(value, keys, {})
      return isRejection(checked) && checked.reason === "unknown-key" && checked.read !== undefined
        ? checked.read.ids.instance
        : null
    },
    verp: (address) => verified(checkVerp(address, keys, { localPart: options.verpLocalPart ?? "bounce", ...domain }))
  }
}

/**
 * The value of a stamp header (e.g. `X-Rebound-Id`) in returned headers: a list of fields, or a raw header block
 * (text/rfc822-headers, or headers pasted in the text, folded lines allowed). Case-insensitive name.
 */
export const findStampHeader = (
  headers: ReadonlyArray<{ readonly name: string; readonly value: string }> | string,
  name: string
): Option.Option<string> => {
  const wanted = name.trim().toLowerCase()
  if (typeof headers !== "string") {
    const value = headers.find((header) => header.name.trim().toLowerCase() === wanted)?.value.trim()
    return value ? Option.some(value) : Option.none()
  }
  const lines = headers.split(/\r\n|\r|\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/^[ \t>]*/, "")
    const colon = line.indexOf(":")
    if (colon <= 0 || line.slice(0, colon).trim().toLowerCase() !== wanted) continue
    let value = line.slice(colon + 1)
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) value += " " + lines[++i]!.trim()
    const trimmed = value.trim()
    if (trimmed !== "") return Option.some(trimmed)
  }
  return Option.none()
}
