import { assert, describe, it } from "@effect/vitest"
import { Either, FastCheck, Option, Redacted, Schema } from "effect"
import {
  base32Decode,
  base32Encode,
  decodeMessageId,
  decodeVerp,
  encodeMessageId,
  encodeStamp,
  encodeVerp,
  findStampHeader,
  makeTokenVerifier,
  SigningKey
} from "../../src/domain/codec.js"
import type { SignedIds } from "../../src/domain/report.js"

const key = (id: string, secret: string): SigningKey => ({ id, secret: Redacted.make(secret) })
const current = key("k2", "a long random secret for the current key")
const previous = key("k1", "another long random secret, the previous one")
const keys = [current, previous]

const anyIds = FastCheck.record({
  instance: FastCheck.string({ unit: "binary", maxLength: 12 }),
  deliveryId: FastCheck.string({ unit: "binary", maxLength: 24 }),
  recipientId: FastCheck.string({ unit: "binary", maxLength: 24 })
})
const anyKey = FastCheck.record({
  id: FastCheck.string({ minLength: 1, maxLength: 8 }),
  secret: FastCheck.string({ minLength: 16, maxLength: 40 }).map(Redacted.make)
})
const alphabet = "abcdefghijklmnopqrstuvwxyz234567"

/** Replaces the character at `index` by one that differs from it in any case. */
const tamper = (text: string, index: number, pick: number): string => {
  const original = text[index]!.toLowerCase()
  const candidates = [...`${alphabet}<>@.+-x_`].filter((c) => c !== original)
  return text.slice(0, index) + candidates[pick % candidates.length] + text.slice(index + 1)
}

const ids: SignedIds = { instance: "prod", deliveryId: "d-20240101-0001", recipientId: "r-42" }

describe("signed Message-ID", () => {
  it("is a valid Message-ID carrying the ids, and verifies with the key that signed it", () => {
    const messageId = encodeMessageId(ids, current, "mail.example.com")
    assert.match(messageId, /^<[a-z2-7]+\.[a-z2-7]{16}@mail\.example\.com>$/)
    const decoded = decodeMessageId(messageId, keys, { domain: "mail.example.com" })
    assert.deepStrictEqual(decoded, Either.right({ ids, keyId: "k2", verified: true as const }))
  })

  it.prop("round-trips any ids, with any key", [anyIds, anyKey], ([ids, key]) => {
    const decoded = decodeMessageId(encodeMessageId(ids, key, "example.org"), [key], { domain: "example.org" })
    assert.deepStrictEqual(
      Either.map(decoded, (token) => token.ids),
      Either.right(ids)
    )
  })

  it.prop("rejects any tampered character", [anyIds, FastCheck.nat(), FastCheck.nat()], ([ids, position, pick]) => {
    const messageId = encodeMessageId(ids, current, "example.org")
    const forged = tamper(messageId, position % messageId.length, pick)
    assert.isTrue(Either.isLeft(decodeMessageId(forged, keys, { domain: "example.org" })), forged)
  })

  it.prop("a token of one key does not verify with another", [anyIds, anyKey, anyKey], ([ids, a, b]) => {
    FastCheck.pre(Redacted.value(a.secret) !== Redacted.value(b.secret))
    const other = { id: a.id, secret: b.secret }
    const decoded = decodeMessageId(encodeMessageId(ids, a, "example.org"), [other])
    assert.isTrue(Either.isLeft(decoded))
    if (Either.isLeft(decoded)) {
      assert.strictEqual(decoded.left.reason, "bad-signature")
      assert.deepStrictEqual(decoded.left.claimed, ids)
    }
  })

  it("supports key rotation: tokens of the previous key still verify, unknown key ids do not", () => {
    const old = encodeMessageId(ids, previous, "example.org")
    assert.strictEqual(Either.getOrThrow(decodeMessageId(old, keys)).keyId, "k1")
    const rejected = decodeMessageId(old, [current])
    assert.isTrue(Either.isLeft(rejected) && rejected.left.reason === "unknown-key")
  })

  it("reads a bare stamp, tells other Message-IDs apart, and checks the domain when asked", () => {
    const stamp = encodeStamp(ids, current)
    assert.deepStrictEqual(
      Either.map(decodeMessageId(stamp, keys), (t) => t.ids),
      Either.right(ids)
    )
    const foreign = decodeMessageId("<CAF=abc123@mail.gmail.com>", keys)
    assert.isTrue(Either.isLeft(foreign) && foreign.left.reason === "not-a-token")
    const elsewhere = decodeMessageId(encodeMessageId(ids, current, "example.org"), keys, { domain: "example.net" })
    assert.isTrue(Either.isLeft(elsewhere) && elsewhere.left.reason === "wrong-domain")
  })

  it("a Message-ID token is no VERP token (the purpose is signed)", () => {
    const token = encodeStamp(ids, current).replace(".", "")
    assert.isTrue(Either.isLeft(decodeVerp(`bounce+${token}@example.org`, keys, { localPart: "bounce" })))
  })
})

describe("signed VERP address", () => {
  const options = { localPart: "bounce", domain: "bounces.example.com" }

  it("is a local-part-safe address that verifies", () => {
    const address = encodeVerp(ids, current, options)
    assert.match(address, /^bounce\+[a-z2-7]+@bounces\.example\.com$/)
    const short = encodeVerp({ instance: "prod", deliveryId: "12345678", recipientId: "9876" }, current, options)
    assert.isAtMost(short.indexOf("@"), 64, "local part within RFC 5321's 64 octets for short ids")
    assert.deepStrictEqual(
      Either.map(decodeVerp(address, keys, options), (t) => t.ids),
      Either.right(ids)
    )
  })

  it.prop("survives an MTA that changes the case of the address", [anyIds], ([ids]) => {
    const address = encodeVerp(ids, current, options)
    for (const variant of [address.toUpperCase(), `"Bounces" <${address.toUpperCase()}>`]) {
      assert.deepStrictEqual(
        Either.map(decodeVerp(variant, keys, options), (t) => t.ids),
        Either.right(ids)
      )
    }
  })

  it.prop("rejects any tampered character", [anyIds, FastCheck.nat(), FastCheck.nat()], ([ids, position, pick]) => {
    const address = encodeVerp(ids, current, options)
    const forged = tamper(address, position % address.length, pick)
    assert.isTrue(Either.isLeft(decodeVerp(forged, keys, options)), forged)
  })

  it.prop("a token of one key does not verify with another", [anyIds, anyKey, anyKey], ([ids, a, b]) => {
    FastCheck.pre(Redacted.value(a.secret) !== Redacted.value(b.secret))
    const address = encodeVerp(ids, a, options)
    assert.isTrue(Either.isLeft(decodeVerp(address, [{ id: a.id, secret: b.secret }], options)))
  })

  it("ignores addresses that are not ours", () => {
    for (const address of ["postmaster@example.com", "bounce@bounces.example.com", "news+abc@bounces.example.com"]) {
      assert.isTrue(Either.isLeft(decodeVerp(address, keys, options)), address)
    }
  })
})

describe("verifier and stamp header", () => {
  it("gives the ids of verified tokens only", () => {
    const verifier = makeTokenVerifier(keys, { verpLocalPart: "bounce" })
    assert.deepStrictEqual(verifier.messageId(encodeMessageId(ids, current, "example.org")), ids)
    assert.deepStrictEqual(verifier.verp(encodeVerp(ids, previous, { localPart: "bounce", domain: "x.example" })), ids)
    assert.isNull(verifier.messageId("<random@example.org>"))
    assert.isNull(makeTokenVerifier([]).messageId(encodeMessageId(ids, current, "example.org")))
  })

  it("finds a stamp in header fields or in a raw header block, folded or quoted", () => {
    assert.deepStrictEqual(
      findStampHeader(
        [
          { name: "subject", value: "hi" },
          { name: "x-rebound-id", value: " abc.def " }
        ],
        "X-Rebound-Id"
      ),
      Option.some("abc.def")
    )
    const block = "Subject: hello\r\nX-Rebound-ID:\r\n abc.def\r\nTo: a@b.example\r\n"
    assert.deepStrictEqual(findStampHeader(block, "x-rebound-id"), Option.some("abc.def"))
    assert.deepStrictEqual(findStampHeader("> X-Rebound-Id: q.r\n", "X-Rebound-Id"), Option.some("q.r"))
    assert.isTrue(Option.isNone(findStampHeader("Subject: x\n", "X-Rebound-Id")))
  })

  it("keys come from config through a Schema that keeps the secret redacted", () => {
    const decoded = Schema.decodeUnknownSync(SigningKey)({ id: "k3", secret: "0123456789abcdef0123" })
    assert.strictEqual(String(decoded.secret), "<redacted>")
    assert.isTrue(Either.isLeft(Schema.decodeUnknownEither(SigningKey)({ id: "k3", secret: "short" })))
  })
})

describe("base32", () => {
  it.prop("round-trips any bytes, in either case", [FastCheck.uint8Array({ maxLength: 64 })], ([bytes]) => {
    const text = base32Encode(bytes)
    assert.deepStrictEqual(base32Decode(text), Option.some(bytes))
    assert.deepStrictEqual(base32Decode(text.toUpperCase()), Option.some(bytes))
  })

  it("has one spelling per value: non-zero trailing bits and impossible lengths are refused", () => {
    assert.deepStrictEqual(base32Decode("my"), Option.some(Uint8Array.from([102])))
    assert.isTrue(Option.isNone(base32Decode("mz")))
    assert.isTrue(Option.isNone(base32Decode("abc")))
    assert.isTrue(Option.isNone(base32Decode("ab1c")))
  })
})
