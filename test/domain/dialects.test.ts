import { assert, describe, it } from "@effect/vitest"
import { parseMail } from "../../src/adapters/mime/parse.js"
import { decodeBounce } from "../../src/domain/decode.js"
import { exchange2003Report, exchangeOnlineReport, postfixDsn } from "../support/mails.js"

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
