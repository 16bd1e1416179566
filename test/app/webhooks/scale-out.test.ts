import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as PostgresStore from "../../../src/adapters/store/postgres.js"
import * as WebhookOutboxRepo from "../../../src/adapters/store/webhook-outbox.js"
import { WebhookOutbox } from "../../../src/adapters/store/webhook-outbox.js"
import { WebhookConfig } from "../../../src/app/webhooks/config.js"
import { layer as webhooksLayer } from "../../../src/app/webhooks/webhooks.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"
import { applyBytes, hardBounce } from "../http/fixture.js"
import { eventually, receiver } from "./receiver.js"

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

describe.skipIf(skip)("webhooks from several processes on one PostgreSQL", () => {
  let server: PostgresServer | undefined
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())

  it.live("three processes polling every 10 ms POST each event once", () =>
    Effect.gen(function* () {
      const hook = yield* receiver([200])
      const url = server!.createDatabase("webhooks_scale_out")
      const config = Schema.decodeUnknownSync(WebhookConfig)({
        urls: [hook.url],
        secret: "whsec-0123456789abcdef",
        pollMillis: 10,
        timeoutSeconds: 2
      })
      // a process: its own connection pool and its own webhook loop
      const process = () =>
        Layer.mergeAll(webhooksLayer(config), WebhookOutboxRepo.layer).pipe(
          Layer.provideMerge(PostgresStore.layer({ url: Redacted.make(url), maxConnections: 4 }))
        )
      const first = yield* Layer.build(process())
      yield* Layer.build(process())
      yield* Layer.build(process())
      // the first passes place the feed at the end of what exists
      yield* Effect.sleep("200 millis")
      const count = 60
      yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => `gone${i}@receiver.example`),
        (address) => applyBytes(hardBounce(address)),
        { discard: true }
      ).pipe(Effect.provide(first))
      yield* eventually(
        "every quarantine delivered",
        Effect.sync(() => hook.received.length),
        (n) => n >= count
      )
      // passes go on: a second POST of any event would show up now
      yield* Effect.sleep("500 millis")
      const ids = hook.received.map((request) => JSON.parse(request.body).id as string)
      assert.strictEqual(ids.length, count, "no event POSTed twice")
      assert.strictEqual(new Set(ids).size, count)
      const outbox = yield* Effect.provide(WebhookOutbox, first)
      const counts = yield* outbox.counts
      assert.deepStrictEqual(counts, { delivered: count })
      const rows = yield* outbox.list({ limit: count })
      assert.isTrue(
        rows.every((row) => row.attempts === 1),
        "each delivery attempted once"
      )
    }).pipe(Effect.scoped)
  )
})
