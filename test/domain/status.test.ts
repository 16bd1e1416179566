import { assert, describe, it } from "@effect/vitest"
import { FastCheck, Option } from "effect"
import {
  classOf,
  describeEnhancedStatus,
  findEnhancedStatus,
  findEnhancedStatuses,
  findReplyCode,
  formatEnhancedStatus,
  parseEnhancedStatus,
  preferStatus,
  sameClass,
  statusRegistry
} from "../../src/domain/status.js"

const anyStatus = FastCheck.record({
  statusClass: FastCheck.constantFrom(2 as const, 4 as const, 5 as const),
  subject: FastCheck.integer({ min: 0, max: 999 }),
  detail: FastCheck.integer({ min: 0, max: 999 })
})

describe("enhanced status codes", () => {
  it.prop("format then parse gives the same status", [anyStatus], ([status]) => {
    assert.deepStrictEqual(parseEnhancedStatus(formatEnhancedStatus(status)), Option.some(status))
  })

  it.prop("parse then format gives back a canonical code", [anyStatus], ([status]) => {
    const text = formatEnhancedStatus(status)
    assert.strictEqual(Option.map(parseEnhancedStatus(text), formatEnhancedStatus).pipe(Option.getOrNull), text)
  })

  it("rejects what RFC 3463 does not allow", () => {
    for (const bad of ["", "5.1", "1.1.1", "3.0.0", "6.1.1", "5.1.1.1", "5.1000.1", "5.1.x", "5..1", "550"]) {
      assert.isTrue(Option.isNone(parseEnhancedStatus(bad)), bad)
    }
    assert.deepStrictEqual(parseEnhancedStatus(" 4.7.26 "), Option.some({ statusClass: 4, subject: 7, detail: 26 }))
  })

  it("knows the IANA registry, including the authentication codes of RFC 7372 and later", () => {
    for (const detail of [23, 24, 25, 26, 27, 28, 29, 30])
      assert.isTrue(statusRegistry.has(`7.${detail}`), `7.${detail}`)
    assert.strictEqual(
      Option.getOrNull(describeEnhancedStatus("5.7.26"))?.summary,
      "Multiple authentication checks failed"
    )
    assert.strictEqual(Option.getOrNull(describeEnhancedStatus("4.2.2"))?.summary, "Mailbox full")
    assert.isTrue(Option.isNone(describeEnhancedStatus("5.9.9")))
  })

  it("compares the class of a status with the class of a reply code", () => {
    assert.isTrue(sameClass("5.1.1", "550"))
    assert.isFalse(sameClass("4.2.2", "552"))
    assert.isFalse(sameClass(null, "550"))
    assert.strictEqual(classOf("452"), "4")
    assert.strictEqual(classOf("x"), null)
  })
})

describe("finding a status code in a diagnostic", () => {
  it("takes the code of a Postfix diagnostic and ignores IP addresses", () => {
    const postfix =
      "host mx.example.org[192.0.2.1] said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: " +
      "User unknown in virtual mailbox table (in reply to RCPT TO command)"
    assert.strictEqual(findEnhancedStatus(postfix), "5.1.1")
    assert.deepStrictEqual(findEnhancedStatuses("connect to 5.1.1.4: Connection refused"), [])
  })

  it("skips versions, dates and longer numbers", () => {
    assert.deepStrictEqual(findEnhancedStatuses("Exim v4.5.2 said: ok"), [])
    assert.deepStrictEqual(findEnhancedStatuses("released 1.5.2.1 on 5.1.2024"), [])
    assert.deepStrictEqual(findEnhancedStatuses("error 5.7.1234 then #5.7.1"), ["5.7.1"])
  })

  it("prefers a specific code to a generic one wherever it appears", () => {
    assert.strictEqual(findEnhancedStatus("554 5.0.0 Service unavailable; 550 5.7.1 rejected by policy"), "5.7.1")
    assert.strictEqual(findEnhancedStatus("451 4.4.7 delivery expired; last error 4.2.2 mailbox full"), "4.2.2")
    assert.strictEqual(findEnhancedStatus("550 5.0.0 rejected"), "5.0.0")
    assert.strictEqual(findEnhancedStatus("no code here"), null)
  })

  it("reads Gmail's multi-line replies and Exim's (#5.1.1) suffix", () => {
    const gmail =
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\n" +
      "550-5.1.1 double-checking the recipient's email address for typos or\n" +
      "550 5.1.1 https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp"
    assert.strictEqual(findEnhancedStatus(gmail), "5.1.1")
    assert.strictEqual(findEnhancedStatus("553 sorry, no mailbox here by that name. (#5.7.1)"), "5.7.1")
  })

  it("restricts the search to the class of the reply code when given", () => {
    assert.strictEqual(findEnhancedStatus("421 4.7.0 try later, see 5.7.1 policy", "421"), "4.7.0")
  })

  it("prefers the Status: field unless it is generic or disagrees with the reply code (sisimai)", () => {
    assert.strictEqual(preferStatus("5.0.0", "5.1.1", null), "5.1.1")
    assert.strictEqual(preferStatus("5.1.1", "5.0.0", null), "5.1.1")
    assert.strictEqual(preferStatus("4.4.7", "4.2.2", null), "4.2.2")
    assert.strictEqual(preferStatus("5.1.1", "5.2.2", null), "5.2.2")
    assert.strictEqual(preferStatus("5.1.1", "5.7.1", null), "5.7.1")
    assert.strictEqual(preferStatus("5.2.2", "5.7.1", null), "5.2.2")
    assert.strictEqual(preferStatus("4.2.2", "5.2.2", "552"), "5.2.2")
    assert.strictEqual(preferStatus(null, "5.7.1", null), "5.7.1")
    assert.strictEqual(preferStatus("5.4.4", null, null), "5.4.4")
  })
})

describe("finding a reply code", () => {
  it("finds the code at the start of a reply or after smtp;", () => {
    assert.strictEqual(findReplyCode("smtp; 550 5.1.1 <a@b.example>... User unknown"), "550")
    assert.strictEqual(findReplyCode("host mx.example[192.0.2.7] said: 452 4.2.2 Mailbox full"), "452")
    assert.strictEqual(findReplyCode(">>> RCPT To:<a@b.example>\n<<< 550 Unknown user"), "550")
  })

  it("ignores numbers that are not reply codes", () => {
    assert.strictEqual(findReplyCode("message of 25000 bytes, port 587, 1.550.3"), null)
    assert.strictEqual(findReplyCode("X-Unix; 550 exit status"), null)
    assert.strictEqual(findReplyCode("said: 599 nonsense"), null)
  })

  it("keeps to the class of the status code when asked", () => {
    assert.strictEqual(findReplyCode("421 too busy, earlier 550 refused", "5"), "550")
    assert.strictEqual(findReplyCode("421 too busy, earlier 550 refused"), "421")
  })
})
