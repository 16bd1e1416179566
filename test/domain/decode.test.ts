import { assert, describe, it } from "@effect/vitest"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { parseMail } from "../../src/adapters/mime/parse.js"
import { decodeBounce, type DecodeOptions } from "../../src/domain/decode.js"
import {
  arfReport,
  autoReply,
  crlf,
  eximBounce,
  oldSendmailBounce,
  personalMail,
  postfixDsn,
  qmailBounce
} from "../support/mails.js"

const decode = (bytes: Uint8Array, options?: DecodeOptions) => decodeBounce(parseMail(bytes), options)

describe("RFC 3464 delivery status notifications", () => {
  it("reads each recipient group with its status, reply code, diagnostic and remote MTA", () => {
    const report = decode(
      postfixDsn({
        recipients: [
          {
            address: "alice@receiver.example",
            status: "5.1.1",
            diagnostic: "550 5.1.1 <alice@receiver.example>: Recipient address rejected: User unknown",
            remoteMta: "mx1.receiver.example"
          },
          { address: "bob@receiver.example", status: "5.2.2", diagnostic: "552 5.2.2 Mailbox full" }
        ],
        envelopeId: "env-42"
      })
    )
    assert.strictEqual(report.kind, "bounce")
    assert.strictEqual(report.dialect, "postfix")
    assert.strictEqual(report.reportingMta, "mta.sender.example")
    assert.strictEqual(report.originalEnvelopeId, "env-42")
    assert.strictEqual(report.records.length, 2)
    const [alice, bob] = report.records
    assert.strictEqual(alice!.recipient, "alice@receiver.example")
    assert.strictEqual(alice!.status, "5.1.1")
    assert.strictEqual(alice!.replyCode, "550")
    assert.strictEqual(alice!.action, "failed")
    assert.strictEqual(alice!.remoteMta, "mx1.receiver.example")
    assert.strictEqual(alice!.reason, "userunknown")
    assert.strictEqual(alice!.type, "hard")
    assert.strictEqual(alice!.campaignReason, "User unknown")
    assert.strictEqual(bob!.recipient, "bob@receiver.example")
    assert.strictEqual(bob!.status, "5.2.2")
    assert.strictEqual(bob!.reason, "mailboxfull")
    assert.strictEqual(bob!.type, "soft")
    assert.strictEqual(alice!.originalMessageId, "20260101120000.1234@sender.example")
    assert.strictEqual(alice!.correlation.method, "envelope-id")
  })

  it("finds the original Message-ID in text/rfc822-headers and message/global returns", () => {
    for (const returned of ["text/rfc822-headers", "message/global"] as const) {
      const report = decode(postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1" }], returned }))
      assert.strictEqual(report.originalMessageId, "20260101120000.1234@sender.example", returned)
      assert.strictEqual(report.records[0]!.correlation.method, "message-id")
    }
  })

  it("reads RFC 6533 global reports with utf-8 addresses", () => {
    const report = decode(
      postfixDsn({
        recipients: [{ address: "j\\x{00F6}rg@receiver.example", addressType: "utf-8", status: "5.1.1" }],
        statusType: "message/global-delivery-status"
      })
    )
    assert.strictEqual(report.records[0]!.recipient, "jörg@receiver.example")
  })

  it("tells delays and successful deliveries from failures", () => {
    const delay = decode(
      postfixDsn({ recipients: [{ address: "a@receiver.example", action: "delayed", status: "4.4.1" }] })
    )
    assert.strictEqual(delay.kind, "delay")
    assert.strictEqual(delay.records[0]!.type, "ignored")
    const delivered = decode(
      postfixDsn({ recipients: [{ address: "a@receiver.example", action: "delivered", status: "2.0.0" }] })
    )
    assert.strictEqual(delivered.kind, "delivered")
    assert.strictEqual(delivered.records[0]!.reason, "delivered")
  })

  it("unfolds folded fields, drops comments and accepts LF-only and CR-only line ends", () => {
    const text = postfixDsn({
      recipients: [{ address: "a@receiver.example", status: "5.1.1 (bad mailbox)", diagnostic: "550 5.1.1 no" }]
    })
      .toString("utf8")
      .replace("Diagnostic-Code: smtp; 550 5.1.1 no", "Diagnostic-Code: smtp; 550 5.1.1\r\n    no such user")
    for (const lineEnd of ["\r\n", "\n", "\r"]) {
      const report = decode(Buffer.from(text.replace(/\r\n/g, lineEnd)))
      assert.strictEqual(report.records[0]!.status, "5.1.1", JSON.stringify(lineEnd))
      assert.strictEqual(report.records[0]!.diagnostic, "550 5.1.1 no such user")
    }
  })

  it("accepts a leading mbox From line", () => {
    const bytes = Buffer.concat([
      Buffer.from("From MAILER-DAEMON Thu Jan  1 12:00:01 2026\n"),
      postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1" }] })
    ])
    assert.strictEqual(decode(bytes).records[0]!.recipient, "a@receiver.example")
  })
})

describe("RFC 5965 feedback reports", () => {
  it("reports a complaint for Original-Rcpt-To with its feedback type", () => {
    const report = decode(arfReport({ feedbackType: "abuse", rcptTo: "alice@receiver.example" }))
    assert.strictEqual(report.kind, "complaint")
    assert.strictEqual(report.records[0]!.recipient, "alice@receiver.example")
    assert.strictEqual(report.records[0]!.feedbackType, "abuse")
    assert.strictEqual(report.records[0]!.reason, "feedback")
    assert.strictEqual(report.records[0]!.type, "ignored")
    assert.strictEqual(report.originalMessageId, "20260101120000.1234@sender.example")
  })

  it("falls back to the To of the returned message when the reporter redacts the recipient", () => {
    const report = decode(arfReport({ feedbackType: "fraud" }))
    assert.strictEqual(report.records[0]!.recipient, "alice@receiver.example")
    assert.strictEqual(report.records[0]!.feedbackType, "fraud")
  })
})

describe("RFC 3834 automatic replies", () => {
  it("recognises Auto-Submitted, X-Autoreply and vacation subjects in several languages", () => {
    const cases = [
      { subject: "Re: Our newsletter", headers: "Auto-Submitted: auto-replied\n" },
      { subject: "Re: Our newsletter", headers: "X-Autoreply: yes\n" },
      { subject: "Out of Office: Our newsletter" },
      { subject: "Automatische Antwort: Our newsletter" },
      { subject: "Réponse automatique : Our newsletter" },
      { subject: "自動応答: Our newsletter" }
    ]
    for (const { subject, headers } of cases) {
      const report = decode(autoReply({ from: "alice@receiver.example", subject, ...(headers ? { headers } : {}) }))
      assert.strictEqual(report.kind, "auto-reply", subject)
      assert.strictEqual(report.records[0]!.recipient, "alice@receiver.example")
      assert.strictEqual(report.records[0]!.reason, "vacation")
      assert.strictEqual(report.records[0]!.type, "ignored")
    }
  })

  it("correlates an auto-reply through In-Reply-To", () => {
    const report = decode(
      autoReply({ from: "a@receiver.example", subject: "Out of office", inReplyTo: "<sent-1@sender.example>" })
    )
    assert.strictEqual(report.originalMessageId, "sent-1@sender.example")
    assert.strictEqual(report.records[0]!.correlation.method, "text")
  })
})

describe("free-text bounces", () => {
  it("reads qmail's <address>: paragraph", () => {
    const report = decode(
      qmailBounce("bob@receiver.example", "Remote host said: 550 5.1.1 <bob@receiver.example>... User unknown")
    )
    assert.strictEqual(report.kind, "bounce")
    assert.strictEqual(report.records.length, 1)
    assert.strictEqual(report.records[0]!.recipient, "bob@receiver.example")
    assert.strictEqual(report.records[0]!.status, "5.1.1")
    assert.strictEqual(report.records[0]!.replyCode, "550")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    assert.strictEqual(report.originalMessageId, "20260101120000.1234@sender.example")
  })

  it("reads Exim's indented recipients, one explanation each", () => {
    const report = decode(
      eximBounce([
        ["a@receiver.example", "host mx.receiver.example [192.0.2.5]: 550 5.1.1 No such user"],
        ["b@other.example", "host mx.other.example [192.0.2.6]: 552 5.2.2 Quota exceeded"]
      ])
    )
    assert.deepStrictEqual(
      report.records.map((record) => [record.recipient, record.status, record.reason]),
      [
        ["a@receiver.example", "5.1.1", "userunknown"],
        ["b@other.example", "5.2.2", "mailboxfull"]
      ]
    )
  })

  it("reads the address in angle brackets after a display name (Exim's malformed address notice)", () => {
    const report = decode(
      crlf(`From: Mail Delivery System <mailer-daemon@mx.relay.example>
To: news@sender.example
Subject: Mail failure - malformed recipient address
Date: Thu, 01 Jan 2026 12:00:01 +0000

A message that you sent contained one or more recipient addresses that were
incorrectly constructed:

  kim@receiver.example <lee@receiver.example>: malformed address: <lee@receiver.example> may not follow kim@receiver.example

This address has been ignored.
`)
    )
    assert.deepStrictEqual(
      report.records.map((record) => record.recipient),
      ["lee@receiver.example"]
    )
  })

  it("reads an old Sendmail session transcript", () => {
    const report = decode(oldSendmailBounce("carol@receiver.example"))
    assert.strictEqual(report.records[0]!.recipient, "carol@receiver.example")
    assert.strictEqual(report.records[0]!.status, "5.1.1")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    assert.strictEqual(report.originalMessageId, "20260101120000.1234@sender.example")
  })

  it("reads a Sendmail report that lacks its top Content-Type header", () => {
    const dsn = postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1" }] }).toString("utf8")
    const withoutType = dsn.replace(/Content-Type: multipart\/report;[^\r]*\r\n\tboundary="[^"]+"\r\n/, "")
    assert.notStrictEqual(withoutType, dsn)
    const report = decode(Buffer.from(withoutType))
    assert.strictEqual(report.dialect, "postfix")
    assert.strictEqual(report.records[0]!.recipient, "a@receiver.example")
  })

  it("decodes a bounce that a relay pasted into a text message", () => {
    const inner = postfixDsn({ recipients: [{ address: "dave@receiver.example", status: "5.1.1" }] }).toString("utf8")
    const outer = crlf(
      `From: MAILER-DAEMON@relay.example\nTo: news@sender.example\nSubject: Undelivered Mail Returned to Sender\nContent-Type: text/plain; charset=us-ascii\n\nThe message below could not be delivered.\n\n---------------------------------\n${inner}`
    )
    const report = decode(outer)
    assert.strictEqual(report.records[0]!.recipient, "dave@receiver.example")
    assert.strictEqual(report.records[0]!.status, "5.1.1")
    assert.strictEqual(report.originalMessageId, "20260101120000.1234@sender.example")
  })

  it("decodes an Amazon SES notification whose JSON line a relay folded", () => {
    const json = JSON.stringify({
      notificationType: "Bounce",
      bounce: {
        bounceType: "Permanent",
        bounceSubType: "General",
        bouncedRecipients: [
          {
            emailAddress: "eve@receiver.example",
            action: "failed",
            status: "5.1.1",
            diagnosticCode: "smtp; 550 5.1.1 user unknown"
          }
        ],
        reportingMTA: "dsn; a1-2.smtp-out.amazonses.com"
      },
      mail: { messageId: "ses-1", headers: [{ name: "Message-ID", value: "<sent-9@sender.example>" }] }
    })
    const folded = json.slice(0, 120) + "\n " + json.slice(120)
    const report = decode(
      crlf(
        `From: no-reply@sns.amazonaws.com\nTo: ops@sender.example\nSubject: AWS Notification Message\nx-amz-sns-message-id: 1\nContent-Type: text/plain; charset=UTF-8\n\n${folded}\n`
      )
    )
    assert.strictEqual(report.dialect, "amazon-ses")
    assert.strictEqual(report.records[0]!.recipient, "eve@receiver.example")
    assert.strictEqual(report.records[0]!.status, "5.1.1")
    assert.strictEqual(report.originalMessageId, "sent-9@sender.example")
  })

  it("decodes quoted-printable, base64 and iso-2022-jp explanations", () => {
    const iso2022 = Buffer.from("1b24422546253925481b2842", "hex") // "テスト" in ISO-2022-JP
    const body = Buffer.concat([
      crlf(
        `From: MAILER-DAEMON@mx.receiver.example\nTo: news@sender.example\nSubject: Returned mail\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain; charset=iso-2022-jp\n\n<frank@receiver.example>:\n550 5.1.1 user unknown `
      ),
      iso2022,
      crlf(
        `\n\n--XYZ\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n${Buffer.from("Message-ID: <b64@sender.example>\r\nSubject: x\r\n\r\nbody\r\n").toString("base64")}\n--XYZ--\n`
      )
    ])
    const report = decode(body)
    assert.strictEqual(report.records[0]!.recipient, "frank@receiver.example")
    assert.include(report.records[0]!.diagnostic ?? "", "テスト")
    assert.strictEqual(report.originalMessageId, "b64@sender.example")
  })

  it("leaves personal mail alone even when it speaks of undelivered things", () => {
    const report = decode(personalMail())
    assert.strictEqual(report.kind, "not-bounce")
    assert.strictEqual(report.records.length, 0)
  })
})

describe("what a report keeps", () => {
  it("none of its mail's text: held reports take a fraction of their mails' size", () => {
    v8.setFlagsFromString("--expose-gc")
    const gc = vm.runInNewContext("gc") as () => void
    const body = "Hello, this is the newsletter body.\r\n"
    const mails = Array.from({ length: 300 }, (_, index) => {
      const mail = postfixDsn({
        recipients: [
          {
            address: `reader${index}@receiver${index % 7}.example`,
            status: "5.1.1",
            diagnostic: `550 5.1.1 <reader${index}@receiver${index % 7}.example>: Recipient address rejected: User unknown`,
            remoteMta: `mx.receiver${index % 7}.example`
          }
        ],
        original: {
          from: "news@sender.example",
          to: `reader${index}@receiver${index % 7}.example`,
          messageId: `<issue-12.reader${index}@sender.example>`,
          subject: `Our newsletter, issue 12 (${index})`
        }
      }).toString("latin1")
      // the returned newsletter, as most bounces carry it: about 24 KB of text
      return Buffer.from(mail.replace(body, body + `${"A paragraph of the newsletter, returned. ".repeat(600)}\r\n`))
    })
    decode(mails[0]!)
    gc()
    gc()
    const before = process.memoryUsage().heapUsed
    const reports = mails.map((mail) => decode(mail))
    gc()
    gc()
    const perReport = (process.memoryUsage().heapUsed - before) / reports.length
    const mailSize = mails[0]!.length
    assert.deepStrictEqual(
      reports.map((report) => report.records[0]?.recipient),
      mails.map((_, index) => `reader${index}@receiver${index % 7}.example`)
    )
    assert.isBelow(perReport, mailSize / 4, `${perReport.toFixed(0)} bytes of heap per report, mails of ${mailSize}`)
  })
})
