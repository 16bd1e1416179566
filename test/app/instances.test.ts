import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Ref, Schema } from "effect"
import { type Forward, Forwarder } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../src/adapters/mailbox/simulated-mailbox.js"
import * as MemoryStore from "../../src/adapters/store/memory.js"
import { parseMail } from "../../src/adapters/mime/parse.js"
import {
  base32Decode,
  base32Encode,
  encodeMessageId,
  makeTokenVerifier,
  type SigningKey
} from "../../src/domain/codec.js"
import { decodeBounce } from "../../src/domain/decode.js"
import { type Account, MaildirAccount } from "../../src/app/config.js"
import { type AccountHandle, outcomeOf, Processor, layer as processorLayer } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { postfixDsn } from "../support/mails.js"

const ours: SigningKey = { id: "prod-1", secret: Redacted.make("production-signing-secret-0123") }
const theirs: SigningKey = { id: "stage-1", secret: Redacted.make("staging-signing-secret-456789") }

const bounceFor = (messageId: string) =>
  postfixDsn({
    recipients: [{ address: "x@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }],
    original: { from: "news@sender.example", to: "x@receiver.example", messageId }
  })

const idOf = (instance: string, key: SigningKey, domain = "mail.sender.example") =>
  encodeMessageId({ instance, deliveryId: "D1", recipientId: "R1" }, key, domain)

/** A Message-ID that names our key but whose MAC is not ours: the last character of the MAC changed. */
const forged = (instance: string) => {
  const id = idOf(instance, ours)
  const [payload, mac] = id.slice(1, id.indexOf("@")).split(".") as [string, string]
  const bytes = Option.getOrThrow(base32Decode(mac))
  bytes[0] = bytes[0]! ^ 0xff
  return `<${payload}.${base32Encode(bytes)}@mail.sender.example>`
}

describe("mails of another rebound instance (Campaign's checkInstanceName)", () => {
  const outcome = (messageId: string, keys: ReadonlyArray<SigningKey>) => {
    const verifier = makeTokenVerifier(keys, { domain: "mail.sender.example" })
    return outcomeOf(decodeBounce(parseMail(bounceFor(messageId)), { verifier }), "prod", verifier)
  }

  it("signed with our key for another instance: left to it", () => {
    assert.strictEqual(outcome(idOf("staging", ours), [ours]), "foreign-instance")
  })

  it("signed with a key we do not hold, naming another instance: left to it, whatever its domain", () => {
    assert.strictEqual(outcome(idOf("staging", theirs), [ours]), "foreign-instance")
    assert.strictEqual(outcome(idOf("staging", theirs, "staging.sender.example"), [ours]), "foreign-instance")
  })

  it("with no signing keys configured, a token naming another instance is still recognised", () => {
    assert.strictEqual(outcome(idOf("staging", theirs), []), "foreign-instance")
  })

  it("ours: a token of this instance applies, verified or signed with a key we no longer hold", () => {
    assert.strictEqual(outcome(idOf("prod", ours), [ours]), "applied")
    assert.strictEqual(outcome(idOf("prod", theirs), [ours]), "applied")
  })

  it("a token that names our key but does not verify is not another instance's: it is applied unverified", () => {
    const verifier = makeTokenVerifier([ours], { domain: "mail.sender.example" })
    const report = decodeBounce(parseMail(bounceFor(forged("staging"))), { verifier })
    assert.isFalse(report.records[0]!.correlation.verified)
    assert.strictEqual(outcomeOf(report, "prod", verifier), "applied")
  })

  it.effect("a session leaves another instance's mail in the mailbox and applies the rest", () =>
    Effect.gen(function* () {
      const processor = yield* Processor
      const mailbox = yield* SimulatedMailboxHandle
      yield* mailbox.deliver(bounceFor(idOf("staging", theirs)), "theirs")
      yield* mailbox.deliver(bounceFor(idOf("prod", ours)), "ours")
      const account: Account = Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name: "b", path: "unused" })
      const handle: AccountHandle = { account, mailbox: yield* Mailbox }
      const result = yield* processor.session(handle)
      assert.deepStrictEqual(result.outcomes, { "foreign-instance": 1, applied: 1 })
      assert.deepStrictEqual(
        (yield* mailbox.messages).map((message) => message.uid),
        ["theirs"]
      )
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          processorLayer({
            instance: "prod",
            decode: { verifier: makeTokenVerifier([ours], { domain: "mail.sender.example" }) },
            batchSize: 4
          }).pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                MemoryStore.layer(),
                ProcessorStatus.layer,
                Forwarder.layerMemory(Ref.unsafeMake<ReadonlyArray<Forward>>([]))
              )
            )
          ),
          SimulatedMailbox.layer({ pipelining: false })
        )
      )
    )
  )
})
