import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Redacted, Ref, Schema } from "effect"
import { Forwarder, type Forward } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as Pop3Mailbox from "../../src/adapters/mailbox/pop3-mailbox.js"
import { BounceEvents } from "../../src/adapters/store/bounce-events.js"
import * as MemoryStore from "../../src/adapters/store/memory.js"
import { type Account, Pop3Account } from "../../src/app/config.js"
import { layer as processorLayer, Processor } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../support/dovecot.js"
import { postfixDsn } from "../support/mails.js"
import { skipWithout } from "../support/services.js"

const skip = skipWithout(dovecotAvailable, "Dovecot (dovecot-core, dovecot-pop3d) and openssl", dovecotInstall)

let dovecot: Dovecot

beforeAll(async () => {
  if (skip) return
  dovecot = await startDovecot(["shared", "locked"], { lockedUsers: ["locked"] })
}, 60_000)

afterAll(async () => {
  if (skip) return
  await dovecot.stop()
})

const mailCount = 45
const perSession = 10

describe.skipIf(skip)("Processor against a real Dovecot", () => {
  for (const user of ["shared", "locked"] as const) {
    it.live(
      user === "shared"
        ? "drains a backlog with each next session logged in while the previous one commits"
        : "drains a backlog when Dovecot locks the maildrop (pop3_lock_session): the next login waits for the QUIT",
      () =>
        Effect.gen(function* () {
          for (let i = 0; i < mailCount; i++) {
            dovecot.deliver(
              user,
              postfixDsn({
                recipients: [{ address: `user${i}@receiver.example`, status: "5.1.1", diagnostic: "550 5.1.1 unknown" }]
              })
            )
          }
          const account: Account = Schema.decodeUnknownSync(Pop3Account)({
            type: "pop3",
            name: user,
            host: "127.0.0.1",
            auth: { mechanism: "user", username: user, password: dovecot.password(user) },
            maxMailsPerSession: perSession
          })
          const pop3 = yield* Pop3Mailbox.make({
            host: "127.0.0.1",
            port: dovecot.port,
            tls: "starttls",
            caFile: dovecot.certificate.certFile,
            auth: { mechanism: "user", username: user, password: Redacted.make(dovecot.password(user)) },
            commandTimeout: Duration.seconds(20),
            maxMailsPerSession: perSession,
            overlapSessions: true
          })
          assert.isTrue(pop3.overlappingSessions)
          // how many sessions are open at once, from the start of their login to the end of their scope
          const open = yield* Ref.make(0)
          const mostOpen = yield* Ref.make(0)
          const tracked = Mailbox.of({
            ...pop3,
            open: Effect.zipRight(
              Effect.acquireRelease(
                Effect.flatMap(
                  Ref.updateAndGet(open, (n) => n + 1),
                  (n) => Ref.update(mostOpen, (m) => Math.max(m, n))
                ),
                () => Ref.update(open, (n) => n - 1)
              ),
              pop3.open
            )
          })
          const processor = yield* Processor
          const results = yield* processor.drain({ account, mailbox: tracked })
          assert.strictEqual(
            results.reduce((sum, result) => sum + result.retrieved, 0),
            mailCount
          )
          assert.strictEqual(
            results.reduce((sum, result) => sum + result.duplicates, 0),
            0
          )
          assert.strictEqual(
            results.reduce((sum, result) => sum + (result.outcomes.applied ?? 0), 0),
            mailCount
          )
          assert.strictEqual(yield* (yield* BounceEvents).count(0), mailCount)
          assert.lengthOf(dovecot.files(user), 0)
          assert.strictEqual(yield* Ref.get(mostOpen), 2)
        }).pipe(
          Effect.provide(
            processorLayer({ instance: "prod", decode: {}, batchSize: 4 }).pipe(
              Layer.provideMerge(
                Layer.mergeAll(
                  MemoryStore.layer(),
                  ProcessorStatus.layer,
                  Forwarder.layerMemory(Ref.unsafeMake<ReadonlyArray<Forward>>([]), Ref.unsafeMake(false))
                )
              )
            )
          ),
          Effect.provide(FetchHttpClient.layer),
          Effect.provide(Logger.remove(Logger.defaultLogger))
        )
    )
  }
})
