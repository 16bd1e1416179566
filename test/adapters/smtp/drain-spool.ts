/**
 * Runs rebound's processor over the listener's spool as over an account of type "smtp", into a memory store, and
 * returns what the store then holds for the given recipients: the end of the pipeline, for the listener's tests.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import { spoolMailbox } from "../../../src/adapters/smtp/spool-mailbox.js"
import type { StoredBounceEvent } from "../../../src/adapters/store/model.js"
import { BounceEvents } from "../../../src/adapters/store/bounce-events.js"
import { coreLayer } from "../../../src/app/app.js"
import { decodeConfig } from "../../../src/app/config.js"
import { Processor, type SessionResult } from "../../../src/app/processor.js"
import { normalizeAddress } from "../../../src/domain/address.js"

export interface Drained {
  readonly results: ReadonlyArray<SessionResult>
  readonly applied: number
  /** the stored bounce events of each recipient asked about */
  readonly events: ReadonlyMap<string, ReadonlyArray<StoredBounceEvent>>
}

export const drainSpool = (
  spoolDir: string,
  signing: { readonly keys: ReadonlyArray<{ readonly id: string; readonly secret: string }>; readonly domain?: string },
  recipients: ReadonlyArray<string>
): Promise<Drained> => {
  const input = {
    store: { type: "memory" },
    accounts: [{ type: "smtp", name: "mx" }],
    signing: { keys: signing.keys, verpLocalPart: "bounce", ...(signing.domain ? { domain: signing.domain } : {}) }
  }
  return Effect.runPromise(
    Effect.gen(function* () {
      const config = yield* decodeConfig(input)
      const mailbox = yield* Layer.build(spoolMailbox({ spoolDir }))
      const processor = yield* Processor
      const results = yield* processor.drain({ account: config.accounts[0]!, mailbox: Context.get(mailbox, Mailbox) })
      const bounceEvents = yield* BounceEvents
      const events = new Map<string, ReadonlyArray<StoredBounceEvent>>()
      for (const recipient of recipients) {
        const address = Either.getOrThrow(normalizeAddress(recipient))
        events.set(recipient, yield* bounceEvents.forAddress(address, 10))
      }
      const applied = results.reduce((sum, result) => sum + (result.outcomes.applied ?? 0), 0)
      return { results, applied, events }
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.unwrapEffect(Effect.map(decodeConfig(input), coreLayer))),
      Effect.provide(NodeContext.layer),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )
}
