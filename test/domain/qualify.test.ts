import { assert, describe, it } from "@effect/vitest"
import { FastCheck, Schema } from "effect"
import {
  findService,
  findSmtpCommand,
  normalizeDiagnostic,
  qualify,
  type QualifyInput
} from "../../src/domain/qualify.js"
import { Reason } from "../../src/domain/report.js"
import { fallbackRules, primaryRules, Rule } from "../../src/domain/rules.js"
import { findEnhancedStatus, findReplyCode } from "../../src/domain/status.js"

/** A failed recipient as a DSN decoder would find it from a diagnostic text. */
const failure = (diagnostic: string, extra: Partial<QualifyInput> = {}): QualifyInput => {
  const replyCode = findReplyCode(diagnostic)
  return {
    kind: "bounce",
    status: findEnhancedStatus(diagnostic, replyCode),
    replyCode,
    diagnostic,
    action: "failed",
    reasonHint: null,
    feedbackType: null,
    remoteMta: null,
    ...extra
  }
}

const reasonOf = (diagnostic: string, extra: Partial<QualifyInput> = {}) => qualify(failure(diagnostic, extra))

describe("qualify: texts of the main MTA families", () => {
  it("Postfix: unknown user in the local recipient table", () => {
    const q = reasonOf(
      "host mx.example.org[192.0.2.10] said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: " +
        "User unknown in local recipient table (in reply to RCPT TO command)"
    )
    assert.deepStrictEqual(q, {
      reason: "userunknown",
      type: "hard",
      campaignReason: "User unknown",
      rule: "status.userunknown"
    })
  })

  it("a temporarily disabled mailbox is suspend, not blocked (which 4.2.1 alone would say)", () => {
    const q = reasonOf("450 4.2.1 Mailbox temporarily disabled", { action: "delayed", kind: "delay" })
    assert.strictEqual(q.reason, "suspend")
    assert.strictEqual(reasonOf("450 4.2.1 <ann@example.net>: try again later").reason, "blocked")
  })

  it("Postfix: over quota is a soft mailbox-full bounce", () => {
    const q = reasonOf("host mail.example.net[192.0.2.3] said: 452 4.2.2 <ann@example.net>: Mailbox is full")
    assert.strictEqual(q.reason, "mailboxfull")
    assert.strictEqual(q.type, "soft")
    assert.strictEqual(q.campaignReason, "Mailbox full")
  })

  it("Sendmail: a 5.1.1 whose text says relaying was denied is no unknown user", () => {
    const q = reasonOf("smtp; 550 5.1.1 <bob@example.com>... Relaying denied", { command: "RCPT" })
    assert.strictEqual(q.reason, "norelaying")
  })

  it("Exim: unrouteable address", () => {
    const q = reasonOf("Unrouteable address", { status: "5.0.0", replyCode: null })
    assert.strictEqual(q.reason, "hostunknown")
    assert.strictEqual(q.type, "hard")
  })

  it("Exchange: the recipient was not found by SMTP address lookup", () => {
    const q = reasonOf("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", {
      remoteMta: "mail.protection.outlook.com"
    })
    assert.strictEqual(q.reason, "userunknown")
  })

  it("an unknown-user text is userunknown at RCPT, filtered after DATA or when no command is known", () => {
    const text = "550 Unknown user kim@example.net"
    assert.strictEqual(reasonOf(text, { command: "RCPT" }).reason, "userunknown")
    assert.strictEqual(reasonOf(text, { command: "RCPT" }).type, "hard")
    assert.strictEqual(reasonOf(text, { command: "DATA" }).reason, "filtered")
    assert.strictEqual(reasonOf(text).reason, "filtered")
    assert.strictEqual(reasonOf(text).type, "soft")
    // a 5.1.1 status says which address was refused, whatever the command
    assert.strictEqual(reasonOf("550 5.1.1 Unknown user kim@example.net").reason, "userunknown")
  })

  it("Gmail: account does not exist, read over continuation lines", () => {
    const gmail =
      "550-5.1.1 The email account that you tried to reach does not exist. Please try\n" +
      "550-5.1.1 double-checking the recipient's email address for typos or\n" +
      "550 5.1.1 https://support.google.com/mail/?p=NoSuchUser x12si345 - gsmtp"
    assert.strictEqual(reasonOf(gmail, { remoteMta: "gmail-smtp-in.l.google.com" }).reason, "userunknown")
  })

  it("Gmail: the service's own message decides over the generic class of 5.7.1", () => {
    const q = reasonOf(
      "550-5.7.1 Our system has detected that this message is likely unsolicited mail. To reduce the amount\n" +
        "550 5.7.1 of spam sent to Gmail, this message has been blocked.",
      { remoteMta: "gmail-smtp-in.l.google.com" }
    )
    assert.strictEqual(q.reason, "spamdetected")
    assert.strictEqual(q.rule, "rhost.google.spamdetected.2")
  })

  it("Yahoo: deferred for user complaints is a reputation matter", () => {
    const q = reasonOf(
      "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user " +
        "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
      { remoteMta: "mta7.am0.yahoodns.net" }
    )
    assert.strictEqual(q.reason, "rejected")
    assert.strictEqual(q.type, "soft")
  })

  it("Microsoft: an IP block with an Outlook.com postmaster code", () => {
    const q = reasonOf("550 5.7.1 Unfortunately, messages from [192.0.2.9] weren't sent. (S3150) OU-001", {
      remoteMta: "example-com.mail.protection.outlook.com"
    })
    assert.strictEqual(q.reason, "blocked")
  })

  it("qmail: no mailbox here by that name", () => {
    assert.strictEqual(reasonOf("553 sorry, no mailbox here by that name. (#5.1.1)").reason, "userunknown")
  })

  it("a dialect decoder's final finding wins over the text", () => {
    const q = reasonOf("550 5.1.1 user unknown", { reasonHint: "suppressed" })
    assert.strictEqual(q.reason, "suppressed")
    assert.strictEqual(q.rule, "dialect")
  })

  it("a dialect's refinable finding stands when nothing more specific is found", () => {
    const q = reasonOf("delivery failed", { reasonHint: "expired", status: "5.0.0" })
    assert.strictEqual(q.reason, "expired")
    assert.strictEqual(q.rule, "dialect")
  })

  it("spam after DATA, a filter after DATA", () => {
    assert.strictEqual(reasonOf("554 5.7.1 Message rejected as spam by Content Filtering.").reason, "spamdetected")
    assert.strictEqual(reasonOf("550 5.2.1 user refuses to receive this mail", { command: "DATA" }).reason, "filtered")
  })

  it("a user unknown answered after DATA is a filter (sisimai)", () => {
    assert.strictEqual(reasonOf("550 Unknown user ann@example.jp", { command: "DATA" }).reason, "filtered")
    assert.strictEqual(reasonOf("550 Unknown user ann@example.jp", { command: "RCPT" }).reason, "userunknown")
  })

  it("SPF, DKIM, DMARC failures by code and by text", () => {
    assert.strictEqual(reasonOf("550 5.7.23 SPF validation failed").reason, "authfailure")
    assert.strictEqual(reasonOf("550 5.7.1 Sender Policy Framework (SPF) fail for example.com").reason, "authfailure")
    assert.strictEqual(reasonOf("550 5.7.25 Reverse DNS validation failed").reason, "requireptr")
  })

  it("null MX (RFC 7505): hard when permanent, soft when temporary", () => {
    const permanent = reasonOf("556 5.1.10 Recipient address has null MX")
    assert.deepStrictEqual([permanent.reason, permanent.type], ["notaccept", "hard"])
    const temporary = qualify({ ...failure("Host does not accept mail"), status: "4.3.2", replyCode: "421" })
    assert.deepStrictEqual([temporary.reason, temporary.type], ["notaccept", "soft"])
  })

  it("generic codes fall back to the text, then to onhold", () => {
    assert.strictEqual(
      reasonOf("554 5.0.0 Service unavailable; Client host blocked using zen.spamhaus.org").reason,
      "blocked"
    )
    const q = reasonOf("554 5.0.0 something odd happened")
    assert.deepStrictEqual([q.reason, q.rule, q.type], ["onhold", "onhold", "soft"])
    assert.strictEqual(qualify(failure("", { status: null, replyCode: null })).reason, "undefined")
  })

  it("a delay is expired and ignored unless something says more", () => {
    const delayed = qualify({ ...failure("Connection refused"), action: "delayed", kind: "delay", status: "4.4.1" })
    assert.deepStrictEqual([delayed.reason, delayed.type], ["expired", "ignored"])
    const full = qualify({ ...failure("452 4.2.2 Mailbox full"), action: "delayed", kind: "delay" })
    assert.deepStrictEqual([full.reason, full.type], ["mailboxfull", "ignored"])
  })

  it("the kind of mail decides for complaints, auto-replies and delivery reports", () => {
    assert.strictEqual(qualify({ ...failure(""), kind: "complaint", feedbackType: "abuse" }).reason, "feedback")
    assert.strictEqual(qualify({ ...failure(""), kind: "auto-reply" }).type, "ignored")
    assert.strictEqual(qualify({ ...failure("250 2.1.5 Ok"), kind: "bounce", action: "delivered" }).reason, "delivered")
  })

  it("local delivery agents: procmail and maildrop", () => {
    assert.strictEqual(reasonOf('procmail: Quota exceeded while writing "/var/mail/ann"').reason, "mailboxfull")
    assert.strictEqual(reasonOf("maildrop: Cannot find system user").reason, "userunknown")
    assert.strictEqual(reasonOf('procmail: Couldn\'t create "/var/mail/ann"').reason, "mailererror")
  })

  it("qmail: the dialect's findings decide (its sentences are read by the qmail dialect only)", () => {
    const qmail = (text: string, extra: Partial<QualifyInput>) =>
      qualify({ ...failure(text), status: null, replyCode: null, action: null, ...extra })
    const nullMx = qmail("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", { reasonHint: "notaccept" })
    assert.deepStrictEqual([nullMx.reason, nullMx.rule], ["notaccept", "dialect"])
    const helo = qmail("Connected to 192.0.2.5 but my name was rejected. Remote host said: 501 5.0.0 Invalid domain", {
      command: "EHLO",
      reasonHint: "blocked"
    })
    assert.strictEqual(helo.reason, "blocked")
    const slow = qmail("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", { reasonHint: "networkerror" })
    assert.deepStrictEqual([slow.reason, slow.rule], ["networkerror", "dialect"])
  })

  it("Exim: retry timeouts expire, frozen messages expire, a full mailbox is full", () => {
    assert.strictEqual(reasonOf("retry timeout exceeded", { status: "5.0.0" }).reason, "expired")
    assert.strictEqual(reasonOf("mailbox is full: retry timeout exceeded", { status: "5.0.0" }).reason, "mailboxfull")
    assert.strictEqual(reasonOf("malformed address: <a@b.example> may not follow c@d.example").reason, "syntaxerror")
  })

  it("Gmail: the (state N) of its old notices, unless a specific status says more", () => {
    const header = "The error that the other server returned was: 554 554 5.7.0 Header error (state 18)."
    assert.strictEqual(reasonOf(header).reason, "filtered")
    const full = "The error that the other server returned was: 550 550 5.2.2 <a@b.example>... Mailbox Full (state 14)."
    assert.strictEqual(reasonOf(full).reason, "mailboxfull")
  })

  it("Google Workspace: NXDOMAIN is an unknown host when permanent, a network error when temporary", () => {
    const nxdomain = "DNS Error: 1234 DNS type 'mx' lookup of example.invalid responded with code NXDOMAIN"
    assert.strictEqual(reasonOf(nxdomain, { status: "5.0.0" }).reason, "hostunknown")
    assert.strictEqual(reasonOf(nxdomain, { status: "4.0.0" }).reason, "networkerror")
  })

  it("Microsoft's three-digit status details apply without knowing the host", () => {
    assert.strictEqual(reasonOf("550 5.4.312 Message expired, DNS query failed").reason, "networkerror")
    assert.strictEqual(
      reasonOf("550 5.7.509 Access denied, sending domain does not pass DMARC verification").reason,
      "authfailure"
    )
  })

  it("X-Unix diagnostics: the text first, then a mailer error", () => {
    const quota = qualify({
      ...failure("/var/mail/ann/Maildir/tmp/1.a: Disk quota exceeded"),
      diagnosticType: "x-unix"
    })
    assert.strictEqual(quota.reason, "mailboxfull")
  })

  it("X-Unix diagnostics of a failed pipe are mailer errors", () => {
    const q = qualify({ ...failure("exit 75"), status: "5.3.0", diagnosticType: "X-Unix" })
    assert.strictEqual(q.reason, "mailererror")
  })
})

describe("user rules", () => {
  const decode = Schema.decodeUnknownSync(Schema.Array(Rule))
  const rules = decode([
    { name: "acme.blocked-by-policy", reason: "policyviolation", match: { text: [{ any: ["ACME policy 42"] }] } },
    { name: "acme.quota", reason: "mailboxfull", match: { status: ["5.7.*"], replyCode: ["554"] } }
  ])

  it("run before the built-in rules and name the rule that decided", () => {
    const q = qualify(failure("550 5.1.1 user unknown (ACME policy 42)"), rules)
    assert.deepStrictEqual([q.reason, q.rule], ["policyviolation", "acme.blocked-by-policy"])
    assert.strictEqual(qualify(failure("554 5.7.1 nope"), rules).rule, "acme.quota")
  })

  it("leave everything else to the built-in rules", () => {
    assert.strictEqual(qualify(failure("550 5.1.1 user unknown"), rules).reason, "userunknown")
  })

  it("an invalid regular expression in a rule never throws, it never matches", () => {
    const broken = decode([{ name: "broken", reason: "blocked", match: { text: [{ patterns: ["(unclosed"] }] } }])
    assert.strictEqual(qualify(failure("550 5.1.1 user unknown"), broken).reason, "userunknown")
  })
})

describe("helpers", () => {
  it("finds the SMTP command a reply answered", () => {
    assert.strictEqual(findSmtpCommand("550 5.1.1 unknown (in reply to RCPT TO command)"), "RCPT")
    assert.strictEqual(findSmtpCommand("554 rejected (in reply to end of DATA command)"), "DATA")
    assert.strictEqual(findSmtpCommand("SMTP error from remote mail server after MAIL FROM:<a@b.example>"), "MAIL")
    assert.strictEqual(findSmtpCommand("550 user DATABASE@EXAMPLE.JP unknown"), "")
  })

  it("joins multi-line replies and folds white space", () => {
    assert.strictEqual(
      normalizeDiagnostic("550-5.7.1 Message\n550-5.7.1 rejected   as\n550 5.7.1 spam"),
      "message rejected as spam"
    )
  })

  it("recognises services by the remote MTA, the reporting MTA or the recipient's domain", () => {
    assert.strictEqual(findService(null, "dns; mx-aol.mail.gm0.yahoodns.net", null), "YahooInc")
    assert.strictEqual(findService("ann@icloud.com", null, null), "Apple")
    assert.strictEqual(findService(null, null, "BN8PR12MB.namprd12.prod.outlook.com"), "Microsoft")
    assert.strictEqual(findService("ann@example.org", "mx.example.org", null), "")
  })

  it("the built-in rules are valid rules (serialisable, like user rules)", () => {
    const decode = Schema.decodeUnknownEither(Rule)
    for (const rule of [...primaryRules, ...fallbackRules]) assert.isTrue(decode(rule)._tag === "Right", rule.name)
    const names = [...primaryRules, ...fallbackRules].map((rule) => rule.name)
    assert.strictEqual(new Set(names).size, names.length, "rule names are unique")
  })
})

describe("qualify is total", () => {
  const text = FastCheck.oneof(
    FastCheck.string(),
    FastCheck.constantFrom("550 5.1.1 user unknown", "452 4.2.2 mailbox full", "554 5.7.1 spam", "")
  )
  const input = FastCheck.record({
    kind: FastCheck.constantFrom("bounce", "delay", "delivered", "complaint", "auto-reply", "not-bounce" as const),
    status: FastCheck.option(FastCheck.constantFrom("5.1.1", "4.4.7", "5.0.0", "2.1.5", "9.9.9", "x")),
    replyCode: FastCheck.option(FastCheck.constantFrom("550", "421", "999", "")),
    diagnostic: FastCheck.option(text),
    action: FastCheck.option(FastCheck.constantFrom("failed", "delayed", "delivered", "weird")),
    reasonHint: FastCheck.option(FastCheck.constantFrom(...Reason.literals)),
    feedbackType: FastCheck.constant(null),
    remoteMta: FastCheck.option(FastCheck.string()),
    command: FastCheck.option(FastCheck.constantFrom("RCPT", "DATA", "MAIL", "")),
    recipient: FastCheck.option(FastCheck.string())
  })

  it.prop("any input gives a reason, a type and a rule", [input], ([value]) => {
    const q = qualify(value as QualifyInput)
    assert.isTrue(Reason.literals.includes(q.reason))
    assert.isTrue(q.rule.length > 0)
  })
})
