import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Redacted from "effect/Redacted"
import { checkRecipient, type RecipientPolicy } from "../../../src/adapters/smtp/recipients.js"
import { ClientRates, clientKey, take } from "../../../src/adapters/smtp/rate.js"
import { headerSafe, rfc5322Date, type TraceSession, traceHeaders } from "../../../src/adapters/smtp/trace.js"
import { encodeVerp, type SigningKey } from "../../../src/domain/codec.js"

const key: SigningKey = { id: "k1", secret: Redacted.make("policy-test-secret-0123") }
const otherKey: SigningKey = { id: "k1", secret: Redacted.make("not-the-policy-secret-0") }

const policy = (rejectBadVerp: boolean): RecipientPolicy => ({
  domains: new Set(["bounce.example.com", "b2.example.org"]),
  verpLocalPart: "bounce",
  rejectBadVerpWith: rejectBadVerp ? [key] : null
})

const label = FastCheck.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/)
const domain = FastCheck.array(label, { minLength: 1, maxLength: 4 }).map((labels) => labels.join("."))
const localPart = FastCheck.stringMatching(/^[A-Za-z0-9._%+-]{1,30}$/)
const randomCase = (text: string, flips: ReadonlyArray<boolean>) =>
  [...text].map((c, i) => (flips[i % Math.max(1, flips.length)] ? c.toUpperCase() : c)).join("")
const ids = FastCheck.record({
  instance: FastCheck.string(),
  deliveryId: FastCheck.string(),
  recipientId: FastCheck.string()
})

describe("checkRecipient", () => {
  it.prop("refuses every address outside the bounce domains", [localPart, domain], ([local, other]) => {
    if (policy(false).domains.has(other)) return
    assert.strictEqual(checkRecipient(`${local}@${other}`, policy(false))._tag, "Relay")
    assert.strictEqual(checkRecipient(`${local}@${other}`, policy(true))._tag, "Relay")
  })

  it.prop(
    "takes every local part of a bounce domain, in any case, when VERP is not checked",
    [localPart, FastCheck.constantFrom("bounce.example.com", "b2.example.org"), FastCheck.array(FastCheck.boolean())],
    ([local, ours, flips]) => {
      assert.strictEqual(checkRecipient(`${local}@${randomCase(ours, flips)}`, policy(false))._tag, "Accept")
    }
  )

  it.prop(
    "with rejectBadVerp, takes our signed VERP addresses and refuses those signed with another key",
    [ids, FastCheck.array(FastCheck.boolean())],
    ([signed, flips]) => {
      const good = encodeVerp(signed, key, { localPart: "bounce", domain: "bounce.example.com" })
      const forged = encodeVerp(signed, otherKey, { localPart: "bounce", domain: "b2.example.org" })
      assert.strictEqual(checkRecipient(randomCase(good, flips), policy(true))._tag, "Accept")
      assert.deepStrictEqual(checkRecipient(forged, policy(true)), { _tag: "BadVerp", rejection: "bad-signature" })
      assert.strictEqual(checkRecipient(forged, policy(false))._tag, "Accept")
    }
  )

  it("takes addresses that are not VERP addresses even with rejectBadVerp, and never an address literal", () => {
    for (const address of ["bounce@bounce.example.com", "postmaster@b2.example.org", "abuse@bounce.example.com"]) {
      assert.strictEqual(checkRecipient(address, policy(true))._tag, "Accept")
    }
    assert.strictEqual(checkRecipient("Postmaster", policy(true))._tag, "Accept")
    assert.strictEqual(checkRecipient("bounce+zzzz@bounce.example.com", policy(true))._tag, "BadVerp")
    assert.strictEqual(checkRecipient("user@[192.0.2.1]", policy(false))._tag, "Relay")
    assert.strictEqual(checkRecipient("root", policy(false))._tag, "Relay")
  })
})

describe("rate limits", () => {
  const limit = { capacity: 5, windowMillis: 60_000 }

  it.prop(
    "allows exactly `capacity` events at one instant, then refills at capacity per window",
    [FastCheck.integer({ min: 1, max: 50 }), FastCheck.integer({ min: 0, max: 2 ** 40 })],
    ([events, now]) => {
      const rates = new ClientRates(limit)
      let allowed = 0
      for (let i = 0; i < events; i++) if (rates.take("192.0.2.1", now)) allowed++
      assert.strictEqual(allowed, Math.min(events, limit.capacity))
      // another client has its own bucket
      assert.isTrue(rates.take("192.0.2.2", now))
      // one token comes back after window / capacity
      const later = now + limit.windowMillis / limit.capacity
      assert.isTrue(rates.take("192.0.2.1", later))
    }
  )

  it.prop(
    "never allows more than capacity + elapsed * rate over any run of events",
    [FastCheck.array(FastCheck.integer({ min: 0, max: 30_000 }), { maxLength: 200 })],
    ([gaps]) => {
      let bucket: ReturnType<typeof take>["bucket"] | undefined
      let now = 0
      let allowed = 0
      for (const gap of gaps) {
        now += gap
        const result = take(bucket, limit, now)
        bucket = result.bucket
        if (result.allowed) allowed++
      }
      assert.isAtMost(allowed, limit.capacity + Math.floor((now * limit.capacity) / limit.windowMillis))
    }
  )

  const group = FastCheck.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16))
  const compressed = (groups: ReadonlyArray<string>) => new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1)

  it.prop(
    "counts IPv6 clients by their /64, however the address is written, and IPv4 clients by their address",
    [FastCheck.array(group, { minLength: 8, maxLength: 8 }), FastCheck.array(group, { minLength: 4, maxLength: 4 })],
    ([groups, otherHost]) => {
      const key = clientKey(groups.join(":"))
      assert.strictEqual(clientKey(compressed(groups)), key)
      assert.strictEqual(clientKey(groups.map((g) => g.toUpperCase().padStart(4, "0")).join(":")), key)
      assert.strictEqual(clientKey([...groups.slice(0, 4), ...otherHost].join(":")), key)
      assert.match(key, /^([0-9a-f]{1,4}:){4}:\/64$/)
    }
  )

  it("maps IPv4-mapped addresses to IPv4", () => {
    assert.strictEqual(clientKey("::ffff:192.0.2.1"), "192.0.2.1")
    assert.strictEqual(clientKey("192.0.2.1"), "192.0.2.1")
    assert.strictEqual(clientKey("2001:db8::1"), "2001:db8:0:0::/64")
    assert.strictEqual(clientKey("::1"), "0:0:0:0::/64")
    assert.notStrictEqual(clientKey("2001:db8:0:1::1"), clientKey("2001:db8:0:2::1"))
  })

  it("forgets full buckets when the table grows", () => {
    const rates = new ClientRates(limit, 100)
    for (let i = 0; i < 150; i++) rates.take(`10.0.${i >> 8}.${i & 255}`, 0)
    // an hour later every bucket is full again, so the next insertion above the bound sweeps them
    for (let i = 0; i < 101; i++) rates.take(`10.1.0.${i}`, 3_600_000)
    assert.isAtMost(rates.size, 101)
  })
})

describe("trace fields", () => {
  it.prop(
    "write RFC 5322 dates that parse back to the second",
    [FastCheck.integer({ min: 0, max: 2 ** 42 })],
    ([ms]) => {
      const text = rfc5322Date(ms)
      assert.match(text, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/)
      assert.strictEqual(Date.parse(text), Math.floor(ms / 1000) * 1000)
    }
  )

  const session = (helo: string, sender: string, hostname: string | null): TraceSession => ({
    helo,
    clientHostname: hostname,
    clientAddress: "::ffff:192.0.2.7",
    protocol: "ESMTPS",
    tls: { version: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" },
    by: "mx.bounce.example.com",
    id: "0123456789AB",
    sender,
    receivedAt: Date.UTC(2026, 0, 2, 3, 4, 5)
  })

  it.prop(
    "stay three well-formed fields whatever the client sends as HELO, sender or recipient",
    [
      FastCheck.string({ maxLength: 300 }),
      FastCheck.string(),
      FastCheck.string(),
      FastCheck.option(FastCheck.string())
    ],
    ([helo, sender, recipient, hostname]) => {
      const block = traceHeaders(session(helo, sender, hostname), recipient)
      assert.isTrue(block.endsWith("\r\n"))
      const lines = block.slice(0, -2).split("\r\n")
      for (const line of lines) assert.notMatch(line, /[\r\n\x00]/)
      const fields = lines.filter((line) => !/^[ \t]/.test(line)).map((line) => line.slice(0, line.indexOf(":")))
      assert.deepStrictEqual(fields, ["Return-Path", "X-Original-To", "Received"])
      // HELO and the reverse name cannot close the comment they sit next to (the "for" path is an address)
      const fromAndBy = lines.slice(2, -1).join(" ")
      assert.strictEqual(fromAndBy.split("(").length, 4)
      assert.strictEqual(fromAndBy.split(")").length, 4)
      assert.include(fromAndBy, "[192.0.2.7])")
    }
  )

  it("writes what Postfix writes, with the TLS cipher as a comment", () => {
    assert.strictEqual(
      traceHeaders(session("mta.example.net", "", "mta.example.net"), "bounce+abc@bounce.example.com"),
      "Return-Path: <>\r\n" +
        "X-Original-To: bounce+abc@bounce.example.com\r\n" +
        "Received: from mta.example.net (mta.example.net [192.0.2.7])\r\n" +
        "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n" +
        "\tby mx.bounce.example.com (rebound) with ESMTPS id 0123456789AB\r\n" +
        "\tfor <bounce+abc@bounce.example.com>; Fri, 2 Jan 2026 03:04:05 +0000\r\n"
    )
    assert.strictEqual(headerSafe("evil) (injected\r\nX: y"), "evil???injected??X:?y")
    assert.strictEqual(headerSafe(""), "unknown")
  })
})
