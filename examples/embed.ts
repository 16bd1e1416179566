/**
 * An Effect application that embeds rebound's processor with a store layer of its own choosing (here the memory
 * store; any of Store.Sqlite / Store.Postgres / Store.Memory fits) and reads one Maildir folder.
 *
 *   node --import tsx examples/embed.ts ./bounces-maildir
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import {
  Forwarder,
  Mailbox,
  MaildirAccount,
  MaildirMailbox,
  makeTokenVerifier,
  Processor,
  processorLayer,
  ProcessorStatus,
  Store
} from "rebound"

const folder = process.argv[2] ?? "./bounces"

const program = Effect.gen(function* () {
  const processor = yield* Processor
  const mailbox = yield* Mailbox
  const account = Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name: "bounces", path: folder })
  const results = yield* processor.drain({ account, mailbox })
  const store = yield* Store.Store
  const states = yield* Store.AddressStates
  const quarantined = yield* states.list({ status: "quarantined", limit: 100 })
  const first = quarantined[0]
  console.log(
    JSON.stringify({
      retrieved: results.reduce((sum, result) => sum + result.retrieved, 0),
      quarantined: quarantined.map((state) => state.address),
      status: first === undefined ? null : (yield* store.address(first.address)).status
    })
  )
})

const Rebound = processorLayer({
  instance: "embedded",
  decode: { verifier: makeTokenVerifier([]) },
  batchSize: 50
}).pipe(Layer.provideMerge(Layer.mergeAll(Store.Memory.layer(), ProcessorStatus.layer, Forwarder.layer)))

program.pipe(
  Effect.provide(Layer.mergeAll(Rebound, MaildirMailbox.layer({ path: folder }))),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
