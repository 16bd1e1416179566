import { assert, describe, it } from "@effect/vitest"
import { parseMail } from "../../src/adapters/mime/parse.js"
import { decodeBounce } from "../../src/domain/decode.js"
import {
  crlf,
  exchange2003Report,
  eximBounce,
  exchangeOnlineReport,
  ezwebReport,
  fmlNotice,
  imailReport,
  interScanNotice,
  openSmtpdReport,
  plainDsn,
  postfixDsn,
  qmailBounce,
  sendmailDsn
} from "../support/mails.js"

const decode = (bytes: Uint8Array) => decodeBounce(parseMail(bytes))

describe("dialects: Microsoft Exchange", () => {
  it("Exchange 2003: the MSEXCH error code decides, whatever the words", () => {
    const unknown = decode(exchange2003Report("kim@receiver.example", "000C05A6"))
    assert.strictEqual(unknown.dialect, "exchange2003")
    assert.strictEqual(unknown.records[0]!.recipient, "kim@receiver.example")
    assert.strictEqual(unknown.records[0]!.reason, "userunknown")
    assert.strictEqual(unknown.records[0]!.type, "hard")
    const conversion = exchange2003Report("kim@receiver.example", "00050311", [
      "The message could not be converted",
      "Conversion to Internet format failed"
    ])
    assert.strictEqual(decode(conversion).records[0]!.reason, "contenterror")
  })

  it("Exchange 2003: without a known code, an unknown-user text with no SMTP command is filtered", () => {
    const report = decode(exchange2003Report("kim@receiver.example", "000B09AA"))
    assert.strictEqual(report.records[0]!.reason, "filtered")
    assert.strictEqual(report.records[0]!.type, "soft")
  })

  it("Exchange Online: the NDR code in the administrators' section decides", () => {
    const report = decode(
      exchangeOnlineReport(
        "kim@receiver.example",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
      )
    )
    assert.strictEqual(report.dialect, "exchange2007")
    assert.strictEqual(report.records[0]!.recipient, "kim@receiver.example")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    const expired = decode(exchangeOnlineReport("kim@receiver.example", "550 4.4.7 QUEUE.Expired; message expired"))
    assert.strictEqual(expired.records[0]!.reason, "expired")
  })
})

describe("dialects: Postfix", () => {
  it("takes the notification's fuller text and the SMTP command it names", () => {
    const report = decode(
      postfixDsn({
        recipients: [
          {
            address: "kim@receiver.example",
            status: "5.7.1",
            diagnostic: "550 5.7.1 Access denied",
            command: "MAIL FROM"
          }
        ]
      })
    )
    const record = report.records[0]!
    assert.strictEqual(report.dialect, "postfix")
    assert.strictEqual(
      record.diagnostic,
      "host mx.receiver.example said: 550 5.7.1 Access denied (in reply to MAIL FROM command)"
    )
    // refused at MAIL FROM: the sender was refused, not the recipient
    assert.strictEqual(record.reason, "rejected")
  })

  it("a refusal in reply to RCPT TO that says the address is rejected is an unknown user", () => {
    const report = decode(
      postfixDsn({
        recipients: [
          {
            address: "kim@receiver.example",
            status: "5.0.0",
            diagnostic: "550 <kim@receiver.example>: Recipient address rejected."
          }
        ]
      })
    )
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    assert.strictEqual(report.records[0]!.type, "hard")
  })
})

describe("dialects: Sendmail", () => {
  it("reads the whole multi-line reply from the transcript and the command that failed", () => {
    const report = decode(
      sendmailDsn({
        recipient: "kim@receiver.example",
        command: "DATA",
        status: "5.7.1",
        reply: [
          "550-5.7.1 [192.0.2.1] Messages with multiple addresses in From:",
          "550 5.7.1 header are not accepted. - gsmtp"
        ]
      })
    )
    const record = report.records[0]!
    assert.strictEqual(report.dialect, "sendmail")
    assert.strictEqual(
      record.diagnostic,
      "550-5.7.1 [192.0.2.1] Messages with multiple addresses in From: 550 5.7.1 header are not accepted. - gsmtp"
    )
    assert.strictEqual(record.reason, "notcompliantrfc")
  })

  it("an unknown user answered to DATA is a filter's refusal; answered to RCPT, an unknown user", () => {
    const reply = ["550 Unknown user kim@receiver.example"]
    const data = decode(sendmailDsn({ recipient: "kim@receiver.example", command: "DATA", status: "5.2.0", reply }))
    assert.strictEqual(data.records[0]!.reason, "filtered")
    const rcpt = decode(
      sendmailDsn({
        recipient: "kim@receiver.example",
        command: "RCPT To:<kim@receiver.example>",
        status: "5.0.0",
        reply
      })
    )
    assert.strictEqual(rcpt.records[0]!.reason, "userunknown")
  })
})

describe("DSNs from MTAs that no dialect knows", () => {
  const group = (fields: string) => `Final-Recipient: rfc822; kim@receiver.example\nAction: failed\n${fields}`

  it("reads the explanation of a one-recipient report along with its diagnostic", () => {
    const report = decode(
      plainDsn({
        explanation: "Your message to <kim> was automatically rejected:\nNot enough disk space",
        groups: [group("Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <kim@receiver.example>... User Unknown")]
      })
    )
    assert.strictEqual(report.records[0]!.reason, "mailboxfull")
    assert.strictEqual(report.records[0]!.diagnostic, "550 5.1.1 <kim@receiver.example>... User Unknown")
  })

  it("reads the comment of the Status field", () => {
    const report = decode(
      plainDsn({
        explanation: "Delivery to the following recipient failed.",
        groups: [group("Status: 5.0.0 (mailbox disabled, not accepting messages)\nDiagnostic-Code: smtp; 550 refused")]
      })
    )
    assert.strictEqual(report.records[0]!.reason, "suspend")
  })

  it("PowerMTA: X-PowerMTA-BounceCategory is the MTA's own finding", () => {
    const report = decode(
      plainDsn({
        explanation: "<kim@receiver.example> delivery failed; will not continue trying",
        groups: [
          group(
            "Status: 5.0.0 (undefined status)\nDiagnostic-Code: smtp;554 delivery error: this account is not here\n" +
              "X-PowerMTA-BounceCategory: bad-mailbox"
          )
        ]
      })
    )
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    assert.strictEqual(report.records[0]!.type, "hard")
  })
})

describe("dialects: IMail Server and InterScan", () => {
  it("IMail: the label before the address is the reason, and the address is the recipient", () => {
    const full = decode(imailReport("User mailbox exceeds allowed size", "kim@receiver.example"))
    assert.strictEqual(full.dialect, "imail")
    assert.strictEqual(full.records[0]!.recipient, "kim@receiver.example")
    assert.strictEqual(full.records[0]!.reason, "mailboxfull")
    assert.strictEqual(full.originalMessageId, "20260101120000.1234@sender.example")
    const unknown = decode(imailReport("Invalid final delivery userid", "kim@receiver.example"))
    assert.strictEqual(unknown.records[0]!.reason, "userunknown")
    assert.strictEqual(unknown.records[0]!.type, "hard")
  })

  it("without IMail's headers, an address after a colon in prose names nobody for certain", () => {
    const prose = imailReport("User mailbox exceeds allowed size", "kim@receiver.example")
      .toString("utf8")
      .replace("X-Mailer: <SMTP32 v8.22>\r\n", "")
      .replace("Subject: Undeliverable Mail", "Subject: About your message")
    const report = decode(Buffer.from(prose))
    assert.notStrictEqual(report.dialect, "imail")
    assert.isFalse(
      report.records.some((record) => record.recipient === "kim@receiver.example" && record.type === "hard")
    )
  })

  it("InterScan: 'Unable to deliver message to' is an unknown recipient", () => {
    const report = decode(interScanNotice("kim@receiver.example"))
    assert.strictEqual(report.dialect, "trendmicro")
    assert.strictEqual(report.records[0]!.recipient, "kim@receiver.example")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
  })
})

describe("dialects: au (EZweb) and fml", () => {
  it("EZweb: the sentence above the recipient is the reason; X-SPASIGN: NG is its spam filter", () => {
    const disabled = decode(ezwebReport({ recipient: "kim@ezweb.ne.jp", sentence: "The user(s) account is disabled." }))
    assert.strictEqual(disabled.dialect, "ezweb")
    assert.strictEqual(disabled.records[0]!.recipient, "kim@ezweb.ne.jp")
    assert.strictEqual(disabled.records[0]!.reason, "suspend")
    const late = decode(
      ezwebReport({
        recipient: "kim@ezweb.ne.jp",
        sentence: "Your message was not delivered within 0 days and 1 hours.\nRemote host is not responding."
      })
    )
    assert.strictEqual(late.records[0]!.reason, "expired")
    const spam = decode(
      ezwebReport({
        recipient: "kim@ezweb.ne.jp",
        sentence: "Each of the following recipients was rejected by a remote mail server.",
        spamFilter: true
      })
    )
    assert.strictEqual(spam.records[0]!.reason, "filtered")
  })

  it("fml: a loop alert names the list, and the subject says what happened", () => {
    const report = decode(
      fmlNotice(
        "Loop Alert: Duplicated Message-ID (neko ML)",
        "Duplicated Message-ID in <neko@lists.receiver.example>."
      )
    )
    assert.strictEqual(report.dialect, "fml")
    assert.strictEqual(report.records[0]!.recipient, "neko@lists.receiver.example")
    assert.strictEqual(report.records[0]!.reason, "systemerror")
    const member = decode(
      fmlNotice(
        "NOT MEMBER article from news@sender.example (neko ML)",
        "You are not a member of this mailing list <neko@lists.receiver.example>."
      )
    )
    assert.strictEqual(member.records[0]!.reason, "rejected")
  })
})

describe("explanations of several recipients", () => {
  it("a line that opens with another address starts that recipient's explanation", () => {
    const report = decode(
      openSmtpdReport([
        ["kim@receiver.example", "550 5.1.1 <kim@receiver.example>: Recipient address rejected: User unknown"],
        ["lee@receiver.example", "552 5.2.2 <lee@receiver.example>: Recipient address rejected: Mailbox full"]
      ])
    )
    const [kim, lee] = report.records
    assert.strictEqual(kim!.diagnostic, "550 5.1.1 <kim@receiver.example>: Recipient address rejected: User unknown")
    assert.strictEqual(kim!.reason, "userunknown")
    assert.strictEqual(lee!.reason, "mailboxfull")
  })
})

describe("dialects: Exim and qmail", () => {
  it("Exim: the stage named in 'SMTP error from remote mail server after' is the command", () => {
    const report = decode(
      eximBounce([
        [
          "kim@receiver.example",
          "SMTP error from remote mail server after RCPT TO:<kim@receiver.example>:\n    host mx.receiver.example [192.0.2.5]: 550 Unknown user"
        ]
      ])
    )
    assert.strictEqual(report.dialect, "exim")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
    const data = decode(
      eximBounce([
        [
          "kim@receiver.example",
          "SMTP error from remote mail server after end of data:\n    host mx.receiver.example [192.0.2.5]: 550 Unknown user"
        ]
      ])
    )
    assert.strictEqual(data.records[0]!.reason, "filtered")
  })

  it("Exim: its own words decide (a pipe that failed, a retry timeout)", () => {
    const pipe = decode(
      eximBounce([["kim@receiver.example", "pipe to |/usr/local/bin/filter\n    generated by kim@receiver.example"]])
    )
    assert.strictEqual(pipe.records[0]!.reason, "mailererror")
    const late = decode(eximBounce([["kim@receiver.example", "retry timeout exceeded"]]))
    assert.strictEqual(late.records[0]!.reason, "expired")
  })

  it("qmail: 'does not like recipient' is a reply to RCPT, 'failed after I sent the message' to DATA", () => {
    const rcpt = decode(
      qmailBounce(
        "kim@receiver.example",
        "192.0.2.5 does not like recipient.\nRemote host said: 550 Unknown user kim@receiver.example\nGiving up on 192.0.2.5."
      )
    )
    assert.strictEqual(rcpt.dialect, "qmail")
    assert.strictEqual(rcpt.records[0]!.reason, "userunknown")
    const data = decode(
      qmailBounce(
        "kim@receiver.example",
        "192.0.2.5 failed after I sent the message.\nRemote host said: 550 Unknown user kim@receiver.example"
      )
    )
    assert.strictEqual(data.records[0]!.reason, "filtered")
  })

  it("qmail's sentences mean what qmail means only in qmail's reports", () => {
    const sentence =
      "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\nI'm not going to try again; this message has been in the queue too long."
    assert.strictEqual(decode(qmailBounce("kim@receiver.example", sentence)).records[0]!.reason, "networkerror")
    const clone = qmailBounce("kim@receiver.example", sentence)
      .toString("utf8")
      .replace("Subject: failure notice", "Subject: Permanent Delivery Failure")
    assert.strictEqual(decode(Buffer.from(clone)).records[0]!.reason, "expired")
  })
})

describe("dialects: Sendmail without DSN (V5)", () => {
  it("gives each recipient its own SMTP session, and the sender's refusal to the recipients of that session", () => {
    const report = decode(
      crlf(`From: Mail Delivery Subsystem <MAILER-DAEMON@mx.relay.example>
To: news@sender.example
Subject: Returned mail: Host unknown (Name server: receiver.example: host not found)
Date: Thu, 01 Jan 2026 12:00:01 +0000

   ----- Transcript of session follows -----
While talking to mx.receiver.example:
>>> MAIL From:<news@sender.example>
<<< 501 <news@sender.example>... no access from mail server [192.0.2.55] which is an open relay.
554 <kim@receiver.example>... Remote protocol error
While talking to mx.other.example:
>>> RCPT To:<lee@other.example>
<<< 550 <lee@other.example>... User unknown
550 <lee@other.example>... User unknown

   ----- Unsent message follows -----
From: Sender <news@sender.example>
To: <kim@receiver.example>, <lee@other.example>
Subject: Our newsletter
Message-ID: <20260101120000.1234@sender.example>

Hello
`)
    )
    assert.strictEqual(report.dialect, "v5sendmail")
    assert.deepStrictEqual(
      report.records.map((record) => [record.recipient, record.reason, record.remoteMta]),
      [
        ["kim@receiver.example", "blocked", "mx.receiver.example"],
        ["lee@other.example", "userunknown", "mx.other.example"]
      ]
    )
  })
})

describe("dialects: Courier, Notes, Messaging Server", () => {
  it("Courier: the last command of the quoted dialogue is the one that failed", () => {
    const report = decode(
      plainDsn({
        subject: "NOTICE: mail delivery status.",
        explanation: [
          "                          UNDELIVERABLE MAIL",
          "",
          "Your message to the following recipients cannot be delivered:",
          "",
          "<kim@receiver.example>:",
          "    mx.receiver.example [192.0.2.5]:",
          ">>> RCPT TO:<kim@receiver.example>",
          "<<< 550 Unknown user kim@receiver.example"
        ].join("\n"),
        groups: [
          "Final-Recipient: rfc822; kim@receiver.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 Unknown user kim@receiver.example"
        ]
      })
    )
    assert.strictEqual(report.dialect, "courier")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
  })

  it("Messaging Server: an illegal host name is an unknown host", () => {
    const report = decode(
      plainDsn({
        subject: "Delivery Notification: Delivery has failed",
        explanation: [
          "This report relates to a message you sent with the following header fields:",
          "",
          "  Subject: Our newsletter",
          "",
          "Your message cannot be delivered to the following recipients:",
          "",
          "  Recipient address: kim@receiver.example",
          "  Reason: Illegal host/domain name found"
        ].join("\n"),
        groups: [
          "Final-Recipient: rfc822; kim@receiver.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; Illegal host/domain name found"
        ]
      })
    )
    assert.strictEqual(report.dialect, "messagingserver")
    assert.strictEqual(report.records[0]!.reason, "hostunknown")
  })

  it("Notes: the reason stands above the recipient's address", () => {
    const report = decode(
      crlf(`From: Postmaster <postmaster@notes.receiver.example>
To: news@sender.example
Subject: Undeliverable message
Date: Thu, 01 Jan 2026 12:00:01 +0000
Content-Type: text/plain; charset=us-ascii

------- Failure Reasons  --------

User not listed in public Name & Address Book
kim@notes.receiver.example

------- Returned Message --------

Hello
`)
    )
    assert.strictEqual(report.dialect, "notes")
    assert.strictEqual(report.records[0]!.recipient, "kim@notes.receiver.example")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
  })
})

describe("dialects: Google Groups", () => {
  it("a post refused by a group, with Google's four possible reasons, is a refusal of the sender", () => {
    const report = decode(
      crlf(`From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: news@sender.example
Subject: Delivery Status Notification (Failure)
Date: Thu, 01 Jan 2026 12:00:01 +0000
X-Failed-Recipients: team@groups.receiver.example
X-Google-Smtp-Source: AGHT+IExampleSourceToken
Content-Type: text/plain; charset=UTF-8

Hello news@sender.example,

We're writing to let you know that the group you tried to contact (team) may not exist, or you may not have permission to post messages to the group. A few more details on why you weren't able to post:

 * You might have spelled or formatted the group name incorrectly.
 * The owner of the group may have removed this group.
 * You may need to join the group before receiving permission to post.
 * This group may not be open to posting.

If you have questions related to this or any other Google Group, visit the Help Center at https://support.google.com/a/receiver.example/bin/topic.py?topic=25838.

Thanks,

Google Groups
`)
    )
    assert.strictEqual(report.dialect, "googlegroups")
    assert.strictEqual(report.records[0]!.recipient, "team@groups.receiver.example")
    assert.strictEqual(report.records[0]!.reason, "rejected")
    assert.strictEqual(report.records[0]!.type, "soft")
  })
})

describe("dialects: Verizon", () => {
  it("its gateway's 'no such user here' is an unknown recipient", () => {
    const report = decode(
      crlf(`From: post_master@vtext.com
To: news@sender.example
Subject: Undeliverable Message
Date: Thu, 01 Jan 2026 12:00:01 +0000
Content-Type: text/plain; charset=us-ascii

Error: 550 - Requested action not taken: no such user here

Message details:
  Subject: Our newsletter
  Sent date: Thu Jan 01 12:00:00 GMT 2026
  MAIL FROM: news@sender.example
  RCPT TO: 5555550100@vtext.com
`)
    )
    assert.strictEqual(report.dialect, "verizon")
    assert.strictEqual(report.records[0]!.recipient, "5555550100@vtext.com")
    assert.strictEqual(report.records[0]!.reason, "userunknown")
  })
})

describe("dialects leave other mail alone", () => {
  it("a personal mail sent through IMail, or an fml welcome notice, is no bounce", () => {
    const personal = decode(
      crlf(`From: Bob <bob@friend.example>
To: news@sender.example
Subject: Our meeting
Date: Thu, 01 Jan 2026 12:05:00 +0000
X-Mailer: <SMTP32 v8.22>
Content-Type: text/plain; charset=us-ascii

Hi, for the agenda please write to: carol@friend.example
`)
    )
    assert.isFalse(personal.records.some((record) => record.type === "hard" || record.type === "soft"))
    const welcome = decode(
      fmlNotice("Welcome to neko ML", "Welcome! You are now a member of <neko@lists.receiver.example>.")
    )
    assert.isFalse(welcome.records.some((record) => record.type === "hard" || record.type === "soft"))
  })
})

describe("dialects: Sendmail's own lines", () => {
  it("a delivery program's exit status alone gives way to Sendmail's line with its reply and status", () => {
    const report = decode(
      crlf(`From: Mail Delivery Subsystem <MAILER-DAEMON@mx.relay.example>
To: news@sender.example
Subject: Returned mail: see transcript for details
Date: Thu, 01 Jan 2026 12:00:01 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B

   ----- The following addresses had permanent fatal errors -----
"|/home/kim/bin/filter"
    (expanded from: <kim@receiver.example>)

   ----- Transcript of session follows -----
filter: cannot connect to the database
554 5.3.0 unknown mailer error 255

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example

Final-Recipient: RFC822; kim@receiver.example
X-Actual-Recipient: X-Unix; |/home/kim/bin/filter
Action: failed
Status: 5.0.0
Diagnostic-Code: X-Unix; 255

--B--
`)
    )
    const record = report.records[0]!
    assert.strictEqual(report.dialect, "sendmail")
    assert.strictEqual(record.diagnostic, "554 5.3.0 unknown mailer error 255")
    assert.strictEqual(record.status, "5.3.0")
    assert.strictEqual(record.reason, "mailererror")
  })
})
