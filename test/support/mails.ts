/**
 * Bounce mails written for the tests, one builder per standard form and dialect family. Each returns the bytes of
 * a whole mail; line ends are CRLF unless asked otherwise.
 */

export interface Original {
  readonly from: string
  readonly to: string
  readonly messageId: string
  readonly subject?: string
}

const defaultOriginal: Original = {
  from: "news@sender.example",
  to: "alice@receiver.example",
  messageId: "<20260101120000.1234@sender.example>",
  subject: "Our newsletter"
}

export const crlf = (text: string): Buffer => Buffer.from(text.replace(/\r?\n/g, "\r\n"), "utf8")

const originalHeaders = (original: Original) =>
  `Return-Path: <${original.from}>
From: Sender <${original.from}>
To: <${original.to}>
Subject: ${original.subject ?? "Our newsletter"}
Message-ID: ${original.messageId}
Date: Thu, 01 Jan 2026 12:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8`

export interface DsnRecipient {
  readonly address: string
  readonly action?: string
  readonly status: string
  readonly diagnostic?: string
  readonly remoteMta?: string
  readonly addressType?: string
  /** the SMTP command the reply answered, as Postfix names it in its notification (default RCPT TO) */
  readonly command?: string
}

/** An RFC 3464 report as Postfix writes it: text part, delivery-status part, returned message. */
export const postfixDsn = (options: {
  readonly recipients: ReadonlyArray<DsnRecipient>
  readonly original?: Original
  readonly returned?: "message/rfc822" | "text/rfc822-headers" | "message/global"
  readonly envelopeId?: string
  readonly bounceTo?: string
  readonly statusType?: "message/delivery-status" | "message/global-delivery-status"
}): Buffer => {
  const original = options.original ?? defaultOriginal
  const returned = options.returned ?? "message/rfc822"
  const groups = options.recipients
    .map((recipient) =>
      [
        `Final-Recipient: ${recipient.addressType ?? "rfc822"}; ${recipient.address}`,
        `Original-Recipient: rfc822;${recipient.address}`,
        `Action: ${recipient.action ?? "failed"}`,
        `Status: ${recipient.status}`,
        recipient.remoteMta === undefined ? undefined : `Remote-MTA: dns; ${recipient.remoteMta}`,
        recipient.diagnostic === undefined ? undefined : `Diagnostic-Code: smtp; ${recipient.diagnostic}`
      ]
        .filter((line) => line !== undefined)
        .join("\n")
    )
    .join("\n\n")
  const explanation = options.recipients
    .map(
      (recipient) => `<${recipient.address}>: host ${recipient.remoteMta ?? "mx.receiver.example"} said:
    ${recipient.diagnostic ?? recipient.status} (in reply to ${recipient.command ?? "RCPT TO"} command)`
    )
    .join("\n\n")
  return crlf(`Return-Path: <>
Delivered-To: ${options.bounceTo ?? original.from}
From: MAILER-DAEMON@mta.sender.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: ${options.bounceTo ?? original.from}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="B0UND.1700000000/mta.sender.example"
Message-Id: <20260101120001.AAAA@mta.sender.example>
Date: Thu, 01 Jan 2026 12:00:01 +0000

This is a MIME-encapsulated message.

--B0UND.1700000000/mta.sender.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mta.sender.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

${explanation}

--B0UND.1700000000/mta.sender.example
Content-Description: Delivery report
Content-Type: ${options.statusType ?? "message/delivery-status"}

Reporting-MTA: dns; mta.sender.example
X-Postfix-Queue-ID: AAAA
${options.envelopeId === undefined ? "" : `Original-Envelope-Id: ${options.envelopeId}\n`}Arrival-Date: Thu,  1 Jan 2026 12:00:00 +0000 (UTC)

${groups}

--B0UND.1700000000/mta.sender.example
Content-Description: Undelivered Message
Content-Type: ${returned}

${originalHeaders(original)}
${returned === "text/rfc822-headers" ? "" : "\nHello, this is the newsletter body.\n.leading dot line\n"}
--B0UND.1700000000/mta.sender.example--
`)
}

/** qmail-send's plain-text bounce. */
export const qmailBounce = (recipient: string, reason: string, original: Original = defaultOriginal): Buffer =>
  crlf(`Return-Path: <>
Date: 1 Jan 2026 12:00:01 -0000
From: MAILER-DAEMON@mx.receiver.example
To: ${original.from}
Subject: failure notice

Hi. This is the qmail-send program at mx.receiver.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<${recipient}>:
${reason}

--- Below this line is a copy of the message.

${originalHeaders(original)}

Hello
`)

/** Exim's bounce with X-Failed-Recipients. */
export const eximBounce = (recipients: ReadonlyArray<[string, string]>, original: Original = defaultOriginal): Buffer =>
  crlf(`Return-path: <>
Received: from mail by mx.relay.example with local (Exim 4.96)
\tid 1abcde-000123-AB
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-Id: <E1abcde-000123-AB@mx.relay.example>
X-Failed-Recipients: ${recipients.map(([address]) => address).join(", ")}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.relay.example>
To: ${original.from}
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

${recipients.map(([address, reason]) => `  ${address}\n    ${reason}`).join("\n\n")}

------ This is a copy of the message, including all the headers. ------

${originalHeaders(original)}

Hello
`)

/** Sendmail before DSNs (V5/V8 without a delivery-status part): a session transcript. */
export const oldSendmailBounce = (recipient: string, original: Original = defaultOriginal): Buffer =>
  crlf(`Return-Path: <MAILER-DAEMON@mx.relay.example>
Date: Thu, 01 Jan 2026 12:00:01 +0000
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.relay.example>
Subject: Returned mail: User unknown
Message-Id: <202601011200.AAA00001@mx.relay.example>
To: ${original.from}

   ----- Transcript of session follows -----
While talking to mx.receiver.example:
>>> RCPT To:<${recipient}>
<<< 550 5.1.1 <${recipient}>... User unknown
550 <${recipient}>... User unknown

   ----- Unsent message follows -----
${originalHeaders(original)}

Hello
`)

/** An RFC 5965 abuse report. */
export const arfReport = (options: {
  readonly feedbackType: string
  readonly rcptTo?: string
  readonly original?: Original
}): Buffer => {
  const original = options.original ?? defaultOriginal
  return crlf(`From: <feedback@isp.example>
To: <fbl@sender.example>
Subject: FW: Our newsletter
Date: Thu, 01 Jan 2026 13:00:00 +0000
Message-ID: <fbl-0001@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report;
  boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Thu, 01 Jan 2026 12:00:00 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: ${options.feedbackType}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <${original.from}>
${options.rcptTo === undefined ? "" : `Original-Rcpt-To: <${options.rcptTo}>\n`}Arrival-Date: Thu, 01 Jan 2026 12:00:00 +0000
Source-IP: 192.0.2.1
Reported-Domain: sender.example

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

${originalHeaders(original)}

Hello
--part1_13d.2e68ed54_boundary--
`)
}

/** An out-of-office reply. */
export const autoReply = (options: {
  readonly from: string
  readonly subject: string
  readonly headers?: string
  readonly inReplyTo?: string
}): Buffer =>
  crlf(`From: Alice <${options.from}>
To: news@sender.example
Subject: ${options.subject}
Date: Thu, 01 Jan 2026 12:05:00 +0000
Message-ID: <auto-0001@receiver.example>
${options.inReplyTo === undefined ? "" : `In-Reply-To: ${options.inReplyTo}\n`}${options.headers ?? ""}MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

I am away until Monday and will read your message when I am back.
`)

/** A plain, personal mail: not a bounce of any kind. */
export const personalMail = (): Buffer =>
  crlf(`From: Bob <bob@friend.example>
To: news@sender.example
Subject: Question about the undelivered parcel
Date: Thu, 01 Jan 2026 12:05:00 +0000
Message-ID: <personal-0001@friend.example>
Content-Type: text/plain; charset=utf-8

Hi, my parcel was not delivered yesterday. Can you check?
`)

/** Exchange Server 2003's plain-text report: the recipient, the reason and an MSEXCH error code. */
export const exchange2003Report = (
  recipient: string,
  code: string,
  text: readonly [string, string] = ["The recipient name is not recognized", "Unknown Recipient"],
  original: Original = defaultOriginal
): Buffer =>
  crlf(`From: System Administrator <postmaster@receiver.example>
To: ${original.from}
Subject: Undeliverable: ${original.subject ?? "Our newsletter"}
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <EX2003-0001@receiver.example>
X-Mailer: Internet Mail Service (5.5.2658.3)
MIME-Version: 1.0
Content-Type: text/plain; charset="iso-8859-1"

Your message

  To:      ${recipient}
  Subject: ${original.subject ?? "Our newsletter"}
  Sent:    Thu, 1 Jan 2026 12:00:00 +0000

did not reach the following recipient(s):

${recipient} on Thu, 1 Jan 2026 12:00:01 +0000
    ${text[0]}
    The MTS-ID of the original message is: c=us;a= ;p=receiver;l=EX01-260101120001Z-1
    MSEXCH:IMS:RECEIVER:SITE:EX01 0 (${code}) ${text[1]}
`)

/** An Exchange Online (Office 365) non-delivery report with its diagnostic section for administrators. */
export const exchangeOnlineReport = (recipient: string, reply: string, original: Original = defaultOriginal): Buffer =>
  crlf(`From: Microsoft Outlook <postmaster@receiver.onmicrosoft.com>
To: ${original.from}
Subject: Undeliverable: ${original.subject ?? "Our newsletter"}
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <NDR-0001@receiver.prod.outlook.com>
Content-Language: en-US
MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

${recipient}
The email address couldn't be delivered.

Diagnostic information for administrators:

Generating server: AM0PR01MB0001.eurprd01.prod.outlook.com

${recipient}
Remote Server returned '${reply}'

Original message headers:

${originalHeaders(original)}
`)

/** A DSN from an MTA no dialect knows: a free explanation, then the delivery-status groups as given. */
export const plainDsn = (options: {
  readonly explanation: string
  readonly groups: ReadonlyArray<string>
  readonly subject?: string
  readonly original?: Original
}): Buffer => {
  const original = options.original ?? defaultOriginal
  return crlf(`From: Mail Delivery Service <mailer@mta.relay.example>
To: ${original.from}
Subject: ${options.subject ?? "Delivery Status Notification (Failure)"}
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <dsn-0001@mta.relay.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-boundary"

--dsn-boundary
Content-Type: text/plain; charset=us-ascii

${options.explanation}

--dsn-boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mta.relay.example

${options.groups.join("\n\n")}

--dsn-boundary
Content-Type: text/rfc822-headers

${originalHeaders(original)}

--dsn-boundary--
`)
}

/** Sendmail's DSN with its session transcript: the commands sent and every line of the reply. */
export const sendmailDsn = (options: {
  readonly recipient: string
  readonly command: string
  readonly reply: ReadonlyArray<string>
  readonly status: string
  readonly original?: Original
}): Buffer => {
  const original = options.original ?? defaultOriginal
  return crlf(`From: Mail Delivery Subsystem <MAILER-DAEMON@mx.relay.example>
To: ${original.from}
Subject: Returned mail: see transcript for details
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-Id: <202601011200.AAA00002@mx.relay.example>
Auto-Submitted: auto-generated (failure)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="AAA00002.1767268801/mx.relay.example"

This is a MIME-encapsulated message

--AAA00002.1767268801/mx.relay.example

The original message was received at Thu, 1 Jan 2026 12:00:00 +0000
from localhost [127.0.0.1]

   ----- The following addresses had permanent fatal errors -----
<${options.recipient}>
    (reason: ${options.reply[0]})

   ----- Transcript of session follows -----
... while talking to mx.receiver.example.:
>>> ${options.command}
${options.reply.map((line) => `<<< ${line}`).join("\n")}
554 5.0.0 Service unavailable

--AAA00002.1767268801/mx.relay.example
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example
Arrival-Date: Thu, 1 Jan 2026 12:00:00 +0000

Final-Recipient: RFC822; ${options.recipient}
Action: failed
Status: ${options.status}
Remote-MTA: DNS; mx.receiver.example
Diagnostic-Code: SMTP; ${options.reply[0]}
Last-Attempt-Date: Thu, 1 Jan 2026 12:00:01 +0000

--AAA00002.1767268801/mx.relay.example
Content-Type: text/rfc822-headers

${originalHeaders(original)}

--AAA00002.1767268801/mx.relay.example--
`)
}

/** IMail Server's report: a label of its own before each recipient, the original below. */
export const imailReport = (label: string, recipient: string, original: Original = defaultOriginal): Buffer =>
  crlf(`From: "Postmaster" <postmaster@receiver.example>
To: ${original.from}
Subject: Undeliverable Mail
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <imail-0001@receiver.example>
X-Mailer: <SMTP32 v8.22>
Content-Type: text/plain; charset=us-ascii

${label}: ${recipient}


Original message follows.

${originalHeaders(original)}

Hello
`)

/** Trend Micro InterScan's notice. */
export const interScanNotice = (recipient: string, original: Original = defaultOriginal): Buffer =>
  crlf(`From: postmaster@receiver.example ("InterScan Notification")
To: ${original.from}
Subject: Mail could not be delivered
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <interscan-0001@receiver.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="------------InterScan_NT_MIME_Boundary"

--------------InterScan_NT_MIME_Boundary
Content-type: text/plain

****** Message from InterScan Messaging Security Suite ******

Unable to deliver message to <${recipient}> (and other recipients in the same domain).

--------------InterScan_NT_MIME_Boundary
Content-type: message/rfc822

${originalHeaders(original)}

Hello
--------------InterScan_NT_MIME_Boundary--
`)

/** au (EZweb)'s plain-text report: a reason sentence above the recipient. */
export const ezwebReport = (options: {
  readonly recipient: string
  readonly sentence: string
  readonly spamFilter?: boolean
  readonly original?: Original
}): Buffer => {
  const original = options.original ?? defaultOriginal
  return crlf(`From: Postmaster@ezweb.ne.jp
To: ${original.from}
Subject: Mail System Error - Returned Mail
Date: Thu, 01 Jan 2026 12:00:01 +0900
Message-Id: <20260101120001.AB12CD34@lsean.ezweb.ne.jp>
${options.spamFilter === true ? "X-SPASIGN: NG\n" : ""}MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"

${options.sentence}

<${options.recipient}>

--------------------------------------------------
${originalHeaders(original)}
`)
}

/** fml's notice to a poster: the list address in angle brackets, the event in the subject. */
export const fmlNotice = (subject: string, text: string, original: Original = defaultOriginal): Buffer =>
  crlf(`From: neko-admin@lists.receiver.example
To: ${original.from}
Subject: ${subject}
Date: Thu, 01 Jan 2026 12:00:01 +0900
Message-Id: <202601011200.FMLAAA0001.neko@lists.receiver.example>
X-MLServer: fml [fml 4.0.3 release (20011202/4.0.3)]
Content-Type: text/plain; charset=us-ascii

${text}

Original mail as follows:

${originalHeaders(original)}
`)

/** OpenSMTPD's report: one line per recipient, no blank line between them, and a DSN without diagnostics. */
export const openSmtpdReport = (
  recipients: ReadonlyArray<[string, string]>,
  original: Original = defaultOriginal
): Buffer =>
  crlf(`From: Mailer Daemon <MAILER-DAEMON@mx.relay.example>
To: ${original.from}
Subject: Delivery status notification: failed
Date: Thu, 01 Jan 2026 12:00:01 +0000
Message-ID: <opensmtpd-0001@mx.relay.example>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="0001/mx.relay.example"

This is a MIME-encapsulated message.

--0001/mx.relay.example
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

    Hi!

    This is the MAILER-DAEMON, please DO NOT REPLY to this email.

    An error has occurred while attempting to deliver a message for
    the following list of recipients:

${recipients.map(([address, reply]) => `${address}: ${reply}`).join("\n")}

    Below is a copy of the original message:

--0001/mx.relay.example
Content-Description: Delivery Report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.relay.example

${recipients.map(([address]) => `Final-Recipient: rfc822; ${address}\nAction: failed\nStatus: 5.0.0`).join("\n\n")}

--0001/mx.relay.example
Content-Description: Message headers
Content-Type: text/rfc822-headers

${originalHeaders(original)}

--0001/mx.relay.example--
`)
