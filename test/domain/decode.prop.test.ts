import { assert, describe, it } from "@effect/vitest"
import { FastCheck } from "effect"
import { parseMail } from "../../src/adapters/mime/parse.js"
import { decodeBounce } from "../../src/domain/decode.js"
import { eximBounce, postfixDsn, qmailBounce } from "../support/mails.js"

const decode = (bytes: Uint8Array) => decodeBounce(parseMail(bytes))

const samples = [
  postfixDsn({ recipients: [{ address: "a@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown" }] }),
  qmailBounce("b@receiver.example", "Remote host said: 552 mailbox full"),
  eximBounce([["c@receiver.example", "550 5.7.1 blocked"]])
]

/** Pieces that bounce decoders trip over: MIME syntax, field names, odd bytes and line ends. */
const tricky = FastCheck.constantFrom(
  "\r\n",
  "\n",
  "\r",
  "\r\n\r\n",
  "--",
  "Content-Type: multipart/report; boundary=",
  "Content-Type: message/delivery-status\r\n\r\n",
  "Content-Type: message/rfc822\r\n\r\n",
  "Content-Transfer-Encoding: base64\r\n",
  "Content-Transfer-Encoding: quoted-printable\r\n",
  "Final-Recipient: rfc822; ",
  "Status: 5.1.1\r\n",
  "Diagnostic-Code: smtp; 550 ",
  "=?utf-8?B?",
  "=?iso-2022-jp?Q?=1B$B",
  "<>",
  "@",
  "\u0000",
  "\xff\xfe",
  "From MAILER-DAEMON\n",
  " \t"
)

const hostileMail = FastCheck.array(
  FastCheck.oneof(tricky, FastCheck.string({ maxLength: 40 }), FastCheck.constantFrom("x@y.example", "5.2.2")),
  { maxLength: 60 }
).map((pieces) => Buffer.from(pieces.join(""), "latin1"))

const wellFormed = (report: ReturnType<typeof decode>) => {
  assert.isString(report.kind)
  for (const record of report.records) {
    assert.include(["hard", "soft", "ignored"], record.type)
    assert.isString(record.reason)
    assert.isString(record.rule)
  }
}

describe("decoding arbitrary input", () => {
  it.prop("never throws on random bytes", [FastCheck.uint8Array({ maxLength: 2048 })], ([bytes]) => {
    wellFormed(decode(bytes))
  })

  it.prop("never throws on mails built from MIME and DSN fragments", [hostileMail], ([bytes]) => {
    wellFormed(decode(bytes))
  })

  it.prop(
    "never throws on real bounces cut, spliced and corrupted at random places",
    [FastCheck.constantFrom(...samples), FastCheck.nat(), FastCheck.nat(), FastCheck.uint8Array({ maxLength: 64 })],
    ([sample, cutAt, spliceAt, noise]) => {
      const cut = sample.subarray(0, cutAt % (sample.length + 1))
      const at = spliceAt % (cut.length + 1)
      wellFormed(decode(Buffer.concat([cut.subarray(0, at), noise, cut.subarray(at)])))
    }
  )

  it("decodes deeply nested multiparts without running away", () => {
    let mail = "Content-Type: text/plain\r\n\r\nleaf\r\n"
    for (let depth = 0; depth < 200; depth++) {
      mail = `Content-Type: multipart/mixed; boundary="b${depth}"\r\n\r\n--b${depth}\r\n${mail}--b${depth}--\r\n`
    }
    wellFormed(decode(Buffer.from(mail)))
  })

  it("decodes a DSN with 10,000 recipients", () => {
    const recipients = Array.from({ length: 10_000 }, (_, index) => ({
      address: `user${index}@receiver.example`,
      status: "5.1.1",
      diagnostic: "550 5.1.1 unknown"
    }))
    const report = decode(postfixDsn({ recipients }))
    assert.strictEqual(report.records.length, 10_000)
    assert.strictEqual(report.records[9_999]!.recipient, "user9999@receiver.example")
  })
})
