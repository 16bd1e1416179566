import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Ref, Schema } from "effect"
import { type Forward, Forwarder } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../src/adapters/mailbox/simulated-mailbox.js"
import { MailLedger } from "../../src/adapters/store/mail-ledger.js"
import * as MemoryStore from "../../src/adapters/store/memory.js"
import type { MailOutcome } from "../../src/adapters/store/model.js"
import { RawArchive } from "../../src/adapters/store/raw-archive.js"
import { ledgerKeyOf, Store } from "../../src/adapters/store/store.js"
import { type Account, MaildirAccount } from "../../src/app/config.js"
import { type AccountHandle, Processor, layer as processorLayer } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { crlf, personalMail, postfixDsn } from "../support/mails.js"

const accountOf = (unapplied: NonNullable<(typeof MaildirAccount.Encoded)["unapplied"]>): Account =>
  Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name: "bounces", path: "unused", unapplied })

/** A bounce that names its failed recipient but says nothing about why: no status, no diagnostic, no text. */
const unqualifiedBounce = (): Buffer =>
  crlf(`Return-Path: <>
From: MAILER-DAEMON@mta.sender.example (Mail Delivery System)
To: news@sender.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"
Message-Id: <20260101120001.BBBB@mta.sender.example>
Date: Thu, 01 Jan 2026 12:00:01 +0000

--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mta.sender.example.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mta.sender.example

Final-Recipient: rfc822; mystery@receiver.example
Action: failed

--B--
`)

/** One mail of each fate: applied, unqualified, not a bounce. */
const mailbox = {
  applied: postfixDsn({
    recipients: [{ address: "gone@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }]
  }),
  unqualified: unqualifiedBounce(),
  notABounce: personalMail()
}
const messages = [
  { uid: "applied", bytes: mailbox.applied },
  { uid: "unqualified", bytes: mailbox.unqualified },
  { uid: "not-a-bounce", bytes: mailbox.notABounce }
]

const layers = (
  forwarded: Ref.Ref<ReadonlyArray<Forward>>,
  relayDown: Ref.Ref<boolean | "Refused">,
  store: Parameters<typeof MemoryStore.layer>[0] = {}
) =>
  Layer.mergeAll(
    processorLayer({ instance: "prod", decode: {}, batchSize: 4 }).pipe(
      Layer.provideMerge(
        Layer.mergeAll(MemoryStore.layer(store), ProcessorStatus.layer, Forwarder.layerMemory(forwarded, relayDown))
      )
    ),
    SimulatedMailbox.layer({ messages, pipelining: false })
  )

const withRelay = <A, E>(
  test: (relay: {
    readonly forwarded: Ref.Ref<ReadonlyArray<Forward>>
    readonly down: Ref.Ref<boolean | "Refused">
  }) => Effect.Effect<A, E, Processor | Mailbox | SimulatedMailboxHandle | MailLedger | RawArchive | Store>,
  store: Parameters<typeof MemoryStore.layer>[0] = {}
) =>
  Effect.gen(function* () {
    const forwarded = yield* Ref.make<ReadonlyArray<Forward>>([])
    const down = yield* Ref.make<boolean | "Refused">(false)
    return yield* test({ forwarded, down }).pipe(Effect.provide(layers(forwarded, down, store)))
  })

const handleFor = (account: Account) => Effect.map(Mailbox, (mailbox): AccountHandle => ({ account, mailbox }))

/** For each uid of the test's mailbox: its ledger outcome, whether its bytes are archived, whether it is still there. */
const fates = Effect.gen(function* () {
  const ledger = yield* MailLedger
  const archive = yield* RawArchive
  const left = new Set((yield* (yield* SimulatedMailboxHandle).messages).map((message) => message.uid))
  const entries = yield* ledger.list({ limit: 100 })
  const fate: Record<string, { outcome: MailOutcome | null; archived: boolean; inMailbox: boolean }> = {}
  for (const { uid, bytes } of messages) {
    const key = ledgerKeyOf("bounces", uid, bytes)
    const entry = entries.find((candidate) => candidate.key.uid === uid && candidate.key.sha256 === key.sha256)
    const stored = yield* archive.get(key.sha256)
    if (Option.isSome(stored)) assert.isTrue(Buffer.from(stored.value.bytes).equals(bytes), `${uid}: archived bytes`)
    assert.strictEqual(
      entry?.archived ?? false,
      Option.isSome(stored),
      `${uid}: the ledger says what the archive holds`
    )
    fate[uid] = { outcome: entry?.outcome ?? null, archived: Option.isSome(stored), inMailbox: left.has(uid) }
  }
  return fate
})

describe("unapplied mails", () => {
  it.effect('action "archive" (the default): unapplied mails are archived and deleted, nothing is forwarded', () =>
    withRelay(({ forwarded }) =>
      Effect.gen(function* () {
        const processor = yield* Processor
        const result = yield* processor.session(yield* handleFor(accountOf({})))
        assert.deepStrictEqual(result.outcomes, { applied: 1, unqualified: 1, "not-a-bounce": 1 })
        assert.deepStrictEqual(yield* fates, {
          applied: { outcome: "applied", archived: false, inMailbox: false },
          unqualified: { outcome: "unqualified", archived: true, inMailbox: false },
          "not-a-bounce": { outcome: "not-a-bounce", archived: true, inMailbox: false }
        })
        assert.lengthOf(yield* Ref.get(forwarded), 0)
      })
    )
  )

  it.effect(
    'forwardWhich "unqualified": the unqualified bounce goes to the operator, the mail that is not a bounce does not; both are archived and deleted',
    () =>
      withRelay(({ forwarded }) =>
        Effect.gen(function* () {
          const processor = yield* Processor
          const account = accountOf({
            action: "forward",
            forwardTo: "ops@sender.example",
            forwardWhich: "unqualified",
            smtpHost: "relay.sender.example",
            smtpPort: 587
          })
          const result = yield* processor.session(yield* handleFor(account))
          assert.deepStrictEqual(result.outcomes, { applied: 1, unqualified: 1, "not-a-bounce": 1 })
          assert.strictEqual(result.deleted, 3)
          assert.strictEqual(result.left, 0)
          const sent = yield* Ref.get(forwarded)
          assert.lengthOf(sent, 1)
          assert.strictEqual(sent[0]!.to, "ops@sender.example")
          assert.deepStrictEqual(sent[0]!.relay, { host: "relay.sender.example", port: 587 })
          assert.isTrue(Buffer.from(sent[0]!.bytes).equals(mailbox.unqualified))
          assert.deepStrictEqual(yield* fates, {
            applied: { outcome: "applied", archived: false, inMailbox: false },
            unqualified: { outcome: "unqualified", archived: true, inMailbox: false },
            "not-a-bounce": { outcome: "not-a-bounce", archived: true, inMailbox: false }
          })
        })
      )
  )

  it.effect('forwardWhich "all": the unqualified bounce and the mail that is not a bounce both go', () =>
    withRelay(({ forwarded }) =>
      Effect.gen(function* () {
        const processor = yield* Processor
        const account = accountOf({ action: "forward", forwardTo: "ops@sender.example", forwardWhich: "all" })
        yield* processor.session(yield* handleFor(account))
        const sent = yield* Ref.get(forwarded)
        assert.lengthOf(sent, 2)
        assert.sameMembers(
          sent.map((forward) => Buffer.from(forward.bytes).toString("latin1")),
          [mailbox.unqualified.toString("latin1"), mailbox.notABounce.toString("latin1")]
        )
      })
    )
  )

  it.effect(
    'forwardWhich "unqualified" with the relay down: only the unqualified bounce stays in the mailbox, with no ledger entry, until a forward succeeds',
    () =>
      withRelay(({ forwarded, down }) =>
        Effect.gen(function* () {
          const processor = yield* Processor
          const handle = yield* handleFor(
            accountOf({ action: "forward", forwardTo: "ops@sender.example", forwardWhich: "unqualified" })
          )
          yield* Ref.set(down, true)
          const first = yield* processor.session(handle)
          assert.deepStrictEqual(first.outcomes, { applied: 1, "not-a-bounce": 1 })
          assert.strictEqual(first.left, 1)
          assert.deepStrictEqual(yield* fates, {
            applied: { outcome: "applied", archived: false, inMailbox: false },
            unqualified: { outcome: null, archived: false, inMailbox: true },
            "not-a-bounce": { outcome: "not-a-bounce", archived: true, inMailbox: false }
          })
          yield* Ref.set(down, false)
          const second = yield* processor.session(handle)
          assert.deepStrictEqual(second.outcomes, { unqualified: 1 })
          assert.lengthOf(yield* Ref.get(forwarded), 1)
          assert.deepStrictEqual((yield* fates).unqualified, {
            outcome: "unqualified",
            archived: true,
            inMailbox: false
          })
        })
      )
  )

  it.effect(
    'action "delete": unapplied mails leave the mailbox with a ledger entry and no archived bytes; nothing is forwarded',
    () =>
      withRelay(({ forwarded }) =>
        Effect.gen(function* () {
          const processor = yield* Processor
          // forwardTo is ignored unless the action is "forward"
          const account = accountOf({ action: "delete", forwardTo: "ops@sender.example" })
          const result = yield* processor.session(yield* handleFor(account))
          assert.deepStrictEqual(result.outcomes, { applied: 1, unqualified: 1, "not-a-bounce": 1 })
          assert.strictEqual(result.deleted, 3)
          assert.deepStrictEqual(yield* fates, {
            applied: { outcome: "applied", archived: false, inMailbox: false },
            unqualified: { outcome: "unqualified", archived: false, inMailbox: false },
            "not-a-bounce": { outcome: "not-a-bounce", archived: false, inMailbox: false }
          })
          assert.lengthOf(yield* Ref.get(forwarded), 0)
          // delete concerns the mails, not their effects: the applied bounce changed its address, the unqualified one not
          const store = yield* Store
          assert.strictEqual((yield* store.address("gone@receiver.example")).status, "quarantined")
          assert.strictEqual((yield* store.address("mystery@receiver.example")).status, "valid")
          // the ledger entry is what is left of a deleted mail: the same mail back under its uid is not read again
          yield* (yield* SimulatedMailboxHandle).deliver(mailbox.unqualified, "unqualified")
          const again = yield* processor.session(yield* handleFor(account))
          assert.deepStrictEqual([again.alreadyDurable, again.retrieved, again.deleted], [1, 0, 1])
          assert.deepStrictEqual(again.outcomes, {})
        })
      )
  )

  it.effect(
    "a relay that refuses the mail for good: it is archived and deleted instead of being tried at every session",
    () =>
      withRelay(({ forwarded, down }) =>
        Effect.gen(function* () {
          const processor = yield* Processor
          yield* Ref.set(down, "Refused")
          const account = accountOf({ action: "forward", forwardTo: "ops@sender.example", forwardWhich: "all" })
          const result = yield* processor.session(yield* handleFor(account))
          assert.deepStrictEqual(result.outcomes, { applied: 1, unqualified: 1, "not-a-bounce": 1 })
          assert.strictEqual(result.left, 0)
          assert.deepStrictEqual(yield* fates, {
            applied: { outcome: "applied", archived: false, inMailbox: false },
            unqualified: { outcome: "unqualified", archived: true, inMailbox: false },
            "not-a-bounce": { outcome: "not-a-bounce", archived: true, inMailbox: false }
          })
          assert.lengthOf(yield* Ref.get(forwarded), 0)
        })
      )
  )

  it.effect('archive.all with action "delete": every mail\'s bytes are archived, the unapplied ones too', () =>
    withRelay(
      () =>
        Effect.gen(function* () {
          const processor = yield* Processor
          yield* processor.session(yield* handleFor(accountOf({ action: "delete" })))
          assert.deepStrictEqual(yield* fates, {
            applied: { outcome: "applied", archived: true, inMailbox: false },
            unqualified: { outcome: "unqualified", archived: true, inMailbox: false },
            "not-a-bounce": { outcome: "not-a-bounce", archived: true, inMailbox: false }
          })
        }),
      { archiveAll: true }
    )
  )
})
