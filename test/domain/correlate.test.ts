import { assert, describe, it } from "@effect/vitest"
import { Redacted } from "effect"
import { parseMail } from "../../src/adapters/mime/parse.js"
import { encodeMessageId, encodeStamp, encodeVerp, makeTokenVerifier, type SigningKey } from "../../src/domain/codec.js"
import { decodeBounce } from "../../src/domain/decode.js"
import { postfixDsn, qmailBounce } from "../support/mails.js"

const key: SigningKey = { id: "k1", secret: Redacted.make("a-secret-of-at-least-16-chars") }
const otherKey: SigningKey = { id: "k1", secret: Redacted.make("another-secret-same-key-id") }
const ids = { instance: "prod", deliveryId: "D-1001", recipientId: "R-77" }
const verifier = makeTokenVerifier([key], { domain: "sender.example" })

const dsnFor = (messageId: string, bounceTo?: string, envelopeId?: string) =>
  postfixDsn({
    recipients: [{ address: "a@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown" }],
    original: { from: "news@sender.example", to: "a@receiver.example", messageId },
    ...(bounceTo === undefined ? {} : { bounceTo }),
    ...(envelopeId === undefined ? {} : { envelopeId })
  })

describe("correlation", () => {
  it("verifies a signed Message-ID in the returned message", () => {
    const report = decodeBounce(parseMail(dsnFor(encodeMessageId(ids, key, "sender.example"))), { verifier })
    const correlation = report.records[0]!.correlation
    assert.strictEqual(correlation.method, "message-id")
    assert.isTrue(correlation.verified)
    assert.deepStrictEqual(correlation.ids, ids)
  })

  it("prefers a verified VERP address over the Message-ID", () => {
    const verp = encodeVerp(ids, key, { localPart: "bounce", domain: "sender.example" })
    const report = decodeBounce(parseMail(dsnFor("<plain-1@sender.example>", verp.toLowerCase())), { verifier })
    const correlation = report.records[0]!.correlation
    assert.strictEqual(correlation.method, "verp")
    assert.isTrue(correlation.verified)
    assert.deepStrictEqual(correlation.ids, ids)
  })

  it("verifies a signed Original-Envelope-Id", () => {
    const report = decodeBounce(parseMail(dsnFor("<plain-2@sender.example>", undefined, encodeStamp(ids, key))), {
      verifier
    })
    assert.strictEqual(report.records[0]!.correlation.method, "envelope-id")
    assert.isTrue(report.records[0]!.correlation.verified)
  })

  it("does not verify a token signed with another secret, and keeps it for a store lookup", () => {
    const forged = encodeMessageId(ids, otherKey, "sender.example")
    const report = decodeBounce(parseMail(dsnFor(forged)), { verifier })
    const correlation = report.records[0]!.correlation
    assert.isFalse(correlation.verified)
    assert.strictEqual(correlation.method, "message-id")
    assert.isNull(correlation.ids)
    assert.strictEqual(correlation.value, forged.slice(1, -1))
  })

  it("finds a stamp header in headers pasted into a text bounce", () => {
    const stamp = encodeStamp(ids, key)
    const mail = qmailBounce("b@receiver.example", "550 5.1.1 unknown").toString("utf8")
    const stamped = mail.replace("Message-ID: <", `X-Rebound-Id: ${stamp}\r\nMessage-ID: <`)
    const report = decodeBounce(parseMail(Buffer.from(stamped)), { verifier, stampHeader: "X-Rebound-Id" })
    const correlation = report.records[0]!.correlation
    assert.strictEqual(correlation.method, "x-header")
    assert.isTrue(correlation.verified)
    assert.deepStrictEqual(correlation.ids, ids)
  })

  it("says none when the bounce carries nothing to correlate", () => {
    const mail = qmailBounce("b@receiver.example", "550 5.1.1 unknown")
      .toString("utf8")
      .replace(/Message-ID: <[^>]+>\r\n/, "")
    const report = decodeBounce(parseMail(Buffer.from(mail)), { verifier })
    assert.strictEqual(report.records[0]!.correlation.method, "none")
  })
})
