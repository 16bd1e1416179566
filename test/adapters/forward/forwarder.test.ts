import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as net from "node:net"
import { SMTPServer } from "smtp-server"
import { Forwarder } from "../../../src/adapters/forward/forwarder.js"
import { crlf, personalMail, postfixDsn } from "../../support/mails.js"

/** What the relay was handed in one transaction. */
interface Received {
  readonly mailFrom: string | false
  readonly rcptTo: ReadonlyArray<string>
  readonly bytes: Buffer
}

/** A relay on an ephemeral loopback port for the scope of the test; `refusal` is its reply to every RCPT TO. */
const relay = (refusal?: { readonly code: number; readonly text: string }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: SMTPServer; readonly port: number; readonly received: Array<Received> }, Error>(
      (resume) => {
        const received: Array<Received> = []
        const server = new SMTPServer({
          name: "relay.forward.test",
          logger: false,
          authOptional: true,
          disabledCommands: ["AUTH"],
          disableReverseLookup: true,
          closeTimeout: 1000,
          onRcptTo: (_address, _session, callback) =>
            refusal === undefined
              ? callback()
              : callback(Object.assign(new Error(refusal.text), { responseCode: refusal.code })),
          onData: (stream, session, callback) => {
            const chunks: Array<Buffer> = []
            stream.on("data", (chunk: Buffer) => chunks.push(chunk))
            stream.on("end", () => {
              const from = session.envelope.mailFrom
              received.push({
                mailFrom: from === false ? false : from.address,
                rcptTo: session.envelope.rcptTo.map((rcpt) => rcpt.address),
                bytes: Buffer.concat(chunks)
              })
              callback()
            })
          }
        })
        server.server.once("error", (error) => resume(Effect.fail(error)))
        server.listen(0, "127.0.0.1", () =>
          resume(Effect.succeed({ server, port: (server.server.address() as net.AddressInfo).port, received }))
        )
      }
    ),
    ({ server }) => Effect.async<void>((resume) => server.close(() => resume(Effect.void)))
  )

/** A loopback port nothing listens on: one the kernel gave out and that was closed again. */
const closedPort = Effect.async<number>((resume) => {
  const probe = net.createServer()
  probe.listen(0, "127.0.0.1", () => {
    const port = (probe.address() as net.AddressInfo).port
    probe.close(() => resume(Effect.succeed(port)))
  })
})

const forward = (port: number, bytes: Uint8Array, to = "ops@sender.example") =>
  Effect.flatMap(Forwarder, (forwarder) => forwarder.forward({ relay: { host: "127.0.0.1", port }, to, bytes })).pipe(
    Effect.provide(Forwarder.layer)
  )

describe("Forwarder.layer (nodemailer) against an SMTP relay", () => {
  it.live("hands the mail over unchanged, byte for byte, to the operator with a null envelope sender", () =>
    Effect.gen(function* () {
      const { port, received } = yield* relay()
      // a DSN whose returned message has a line starting with "." (dot-stuffed on the wire, RFC 5321 4.5.2)
      const bounce = postfixDsn({ recipients: [{ address: "gone@receiver.example", status: "5.1.1" }] })
      assert.include(bounce.toString(), "\r\n.leading dot line\r\n")
      yield* forward(port, bounce)
      const mail = personalMail()
      yield* forward(port, mail, "postmaster@sender.example")
      assert.lengthOf(received, 2)
      assert.strictEqual(received[0]!.mailFrom, "")
      assert.deepStrictEqual(received[0]!.rcptTo, ["ops@sender.example"])
      assert.isTrue(received[0]!.bytes.equals(bounce), "the relay got the bounce's bytes, nothing added or changed")
      assert.deepStrictEqual(received[1]!.rcptTo, ["postmaster@sender.example"])
      assert.isTrue(received[1]!.bytes.equals(mail))
    }).pipe(Effect.scoped)
  )

  it.live("keeps 8-bit bodies and headers as they came", () =>
    Effect.gen(function* () {
      const { port, received } = yield* relay()
      const mail = crlf(
        "From: Zoë <zoe@receiver.example>\nTo: news@sender.example\nSubject: Réponse automatique\n" +
          "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nJe suis absente jusqu'à lundi.\n"
      )
      yield* forward(port, mail)
      assert.lengthOf(received, 1)
      assert.isTrue(received[0]!.bytes.equals(mail))
    }).pipe(Effect.scoped)
  )

  it.live("a relay that refuses the recipient with 550 is a Refused ForwardError, not a success", () =>
    Effect.gen(function* () {
      const { port, received } = yield* relay({ code: 550, text: "5.1.1 no such operator" })
      const error = yield* Effect.flip(forward(port, personalMail(), "nobody@sender.example"))
      assert.strictEqual(error._tag, "ForwardError")
      assert.strictEqual(error.reason, "Refused")
      assert.include(error.message, "nobody@sender.example")
      assert.include(error.message, `127.0.0.1:${port}`)
      assert.lengthOf(received, 0)
    }).pipe(Effect.scoped)
  )

  it.live("a temporary refusal (450) and a relay that is down are Unreachable: the mail is tried again later", () =>
    Effect.gen(function* () {
      const { port } = yield* relay({ code: 450, text: "4.2.1 try again later" })
      const deferred = yield* Effect.flip(forward(port, personalMail()))
      assert.strictEqual(deferred._tag, "ForwardError")
      assert.strictEqual(deferred.reason, "Unreachable")
      const down = yield* Effect.flip(forward(yield* closedPort, personalMail()))
      assert.strictEqual(down.reason, "Unreachable")
      assert.include(down.message, "ops@sender.example")
    }).pipe(Effect.scoped)
  )
})
