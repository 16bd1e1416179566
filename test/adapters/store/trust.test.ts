import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { parseMail } from "../../../src/adapters/mime/parse.js"
import { BounceEvents } from "../../../src/adapters/store/bounce-events.js"
import * as MemoryStore from "../../../src/adapters/store/memory.js"
import { ledgerKeyOf, type MailToApply, Store } from "../../../src/adapters/store/store.js"
import { encodeMessageId, makeTokenVerifier, type SigningKey } from "../../../src/domain/codec.js"
import { decodeBounce } from "../../../src/domain/decode.js"
import { postfixDsn } from "../../support/mails.js"

const key: SigningKey = { id: "k1", secret: Redacted.make("trust-test-secret-0123456") }
const verifier = makeTokenVerifier([key])

const bounceFor = (recipient: string, messageId: string, uid: string): MailToApply => {
  const bytes = postfixDsn({
    recipients: [{ address: recipient, status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }],
    original: { from: "news@sender.example", to: recipient, messageId }
  })
  return {
    key: ledgerKeyOf("bounces", uid, bytes),
    outcome: "applied",
    report: decodeBounce(parseMail(bytes), { verifier })
  }
}

describe("trust once signing keys are configured", () => {
  it.effect("only signed or registered bounces change addresses; the others are kept as unverified", () =>
    Effect.gen(function* () {
      const store = yield* Store
      const events = yield* BounceEvents
      yield* store.registerSent([
        { messageId: "<registered-1@sender.example>", deliveryId: "D7", recipient: "registered@receiver.example" }
      ])
      const forged = bounceFor("forged@receiver.example", "<anything-1@sender.example>", "1")
      const signed = bounceFor(
        "signed@receiver.example",
        encodeMessageId({ instance: "prod", deliveryId: "D1", recipientId: "R1" }, key, "sender.example"),
        "2"
      )
      const registered = bounceFor("registered@receiver.example", "<registered-1@sender.example>", "3")
      yield* store.applyMails([forged, signed, registered])
      assert.strictEqual((yield* store.address("forged@receiver.example")).status, "valid")
      assert.strictEqual((yield* store.address("signed@receiver.example")).status, "quarantined")
      assert.strictEqual((yield* store.address("registered@receiver.example")).status, "quarantined")
      const [kept] = yield* events.forMail(forged.key)
      assert.strictEqual(kept?.correlationSource, "unverified")
      assert.strictEqual(kept?.countedAgainst, "none")
    }).pipe(Effect.provide(MemoryStore.layer({ trustUnverified: false })))
  )

  it.effect("without keys, the failed recipient named in a bounce is trusted", () =>
    Effect.gen(function* () {
      const store = yield* Store
      yield* store.applyMail(bounceFor("named@receiver.example", "<anything-2@sender.example>", "4"))
      assert.strictEqual((yield* store.address("named@receiver.example")).status, "quarantined")
    }).pipe(Effect.provide(MemoryStore.layer()))
  )
})
