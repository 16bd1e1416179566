import { assert, describe, it } from "@effect/vitest"
import { diagnosticKey, normalizeDiagnostic } from "../../src/domain/qualification-log.js"

describe("normalizeDiagnostic", () => {
  it("replaces addresses and keeps the reply and enhanced codes", () => {
    assert.strictEqual(
      normalizeDiagnostic(
        "550 5.1.1 <John.Doe@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
      ),
      "550 5.1.1 <address>: Recipient address rejected: User unknown in virtual mailbox table"
    )
  })

  it("makes two answers of one kind from one server the same text", () => {
    const a = normalizeDiagnostic(
      "452-4.2.2 The email account that you tried to reach is over quota. https://support.google.com/mail/?p=OverQuotaTemp a640c23a62f3a-b7f1c2 - gsmtp"
    )
    const b = normalizeDiagnostic(
      "452-4.2.2 The email account that you tried to reach is over quota. https://support.google.com/mail/?p=OverQuotaTemp 98e67ed59e1d1-34a7f9 - gsmtp"
    )
    assert.strictEqual(a, b)
    assert.include(a, "452-4.2.2")
    assert.include(a, "<url>")
  })

  it("replaces IPs, hosts, dates, times, ids and numbers", () => {
    assert.strictEqual(
      normalizeDiagnostic("host mx1.example.net[192.0.2.25] said: 421 too many connections (15) from 2001:db8::1"),
      "host <host><ip> said: <n> too many connections (<n>) from <ip>"
    )
    assert.strictEqual(
      normalizeDiagnostic(
        "Message 1a2b3c4d5e held since Tue, 7 Jan 2025 10:11:12 +0100, retry at 2025-01-08T10:00:00Z"
      ),
      "Message <id> held since <date>, retry at <date>"
    )
    assert.strictEqual(normalizeDiagnostic("queue 4Yk9Lm2Qz7 at 10:11:12"), "queue <id> at <time>")
  })

  it("collapses whitespace and caps the length", () => {
    assert.strictEqual(normalizeDiagnostic("  550   mailbox\n\tunavailable "), "550 mailbox unavailable")
    assert.isAtMost(normalizeDiagnostic("x ".repeat(5000)).length, 1000)
  })

  it("keys ignore case", () => {
    assert.strictEqual(diagnosticKey("550 User Unknown"), diagnosticKey("550 user unknown"))
  })
})
