import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Memory from "../../../src/adapters/store/memory.js"
import * as Sqlite from "../../../src/adapters/store/sqlite.js"
import { Store } from "../../../src/adapters/store/store.js"
import * as WebhookOutboxRepo from "../../../src/adapters/store/webhook-outbox.js"
import { WebhookOutbox } from "../../../src/adapters/store/webhook-outbox.js"
import {
  backoffMillis,
  WebhookConfig,
  Webhooks,
  layer as webhooksLayer,
  verifySignature
} from "../../../src/app/webhooks/index.js"
import { applyBytes, complaint, hardBounce } from "../http/fixture.js"
import { eventually, receiver } from "./receiver.js"

const secret = "whsec-0123456789abcdef"

const config = (urls: ReadonlyArray<string>, overrides: Record<string, unknown> = {}) =>
  Schema.decodeUnknownSync(WebhookConfig)({
    urls,
    secret,
    pollMillis: 30,
    initialBackoffSeconds: 0.05,
    maxBackoffSeconds: 0.2,
    timeoutSeconds: 2,
    ...overrides
  })

const stack = (store: Layer.Layer<any, any>, urls: ReadonlyArray<string>, overrides: Record<string, unknown> = {}) =>
  Layer.mergeAll(webhooksLayer(config(urls, overrides)), WebhookOutboxRepo.layer).pipe(Layer.provideMerge(store))

const withWebhooks = <A, E>(
  urls: ReadonlyArray<string>,
  body: Effect.Effect<A, E, Webhooks | Store | WebhookOutbox>,
  overrides: Record<string, unknown> = {}
) => Effect.provide(body, stack(Memory.layer(), urls, overrides))

const parsed = (body: string) => JSON.parse(body)

describe("webhooks", () => {
  it.live("a quarantine is POSTed with a signature over the timestamp and the body", () =>
    Effect.gen(function* () {
      const hook = yield* receiver([204])
      yield* withWebhooks(
        [hook.url],
        Effect.gen(function* () {
          // the first pass places the feed at the end of what exists, so only new events are announced
          yield* Effect.sleep("100 millis")
          yield* applyBytes(hardBounce("gone@receiver.example"))
          yield* eventually(
            "a delivery",
            Effect.sync(() => hook.received.length),
            (n) => n >= 1
          )
          const request = hook.received[0]!
          const event = parsed(request.body)
          assert.strictEqual(event.type, "address.quarantined")
          assert.strictEqual(event.id, request.headers["x-rebound-delivery"])
          assert.strictEqual(request.headers["x-rebound-event"], "address.quarantined")
          assert.deepInclude(event.data, { address: "gone@receiver.example", to: "quarantined", reason: "userunknown" })
          const verdict = verifySignature({
            secret,
            header: request.headers["x-rebound-signature"] as string,
            body: request.body,
            nowSeconds: Math.floor(Date.now() / 1000)
          })
          assert.isTrue(verdict.valid)
          const outbox = yield* WebhookOutbox
          yield* eventually("the row to be marked", outbox.counts, (c) => c.delivered === 1)
        })
      )
    }).pipe(Effect.scoped)
  )

  it("a signature fails on another body, another secret or an old timestamp", () => {
    const body = '{"id":"history-1"}'
    const now = 1_800_000_000
    const header = `t=${now},v1=${createHmac("sha256", secret).update(`${now}.${body}`).digest("hex")}`
    assert.isTrue(verifySignature({ secret, header, body, nowSeconds: now }).valid)
    assert.isFalse(verifySignature({ secret, header, body: body + " ", nowSeconds: now }).valid)
    assert.isFalse(verifySignature({ secret: secret + "x", header, body, nowSeconds: now }).valid)
    assert.deepStrictEqual(verifySignature({ secret, header, body, nowSeconds: now + 301 }), {
      valid: false,
      problem: "timestamp outside the tolerance"
    })
    assert.isFalse(verifySignature({ secret, header: null, body, nowSeconds: now }).valid)
  })

  it.live("a failing receiver gets the event again with backoff until it answers 2xx", () =>
    Effect.gen(function* () {
      const hook = yield* receiver([500, 503, 200])
      yield* withWebhooks(
        [hook.url],
        Effect.gen(function* () {
          yield* Effect.sleep("100 millis")
          yield* applyBytes(complaint("angry@receiver.example"))
          const outbox = yield* WebhookOutbox
          yield* eventually("the delivery after two failures", outbox.counts, (c) => c.delivered === 1, 15_000)
          assert.deepStrictEqual(
            hook.received.map((r) => [parsed(r.body).type, r.answered]),
            [
              ["complaint", 500],
              ["complaint", 503],
              ["complaint", 200]
            ]
          )
          assert.strictEqual(new Set(hook.received.map((r) => parsed(r.body).id)).size, 1)
          const [row] = yield* outbox.list({ limit: 10 })
          assert.deepInclude(row, { state: "delivered", attempts: 3, lastStatus: 200 })
          assert.deepInclude(parsed(hook.received[2]!.body).data, { address: "angry@receiver.example" })
        }),
        { events: ["complaint"] }
      )
    }).pipe(Effect.scoped)
  )

  it.live("an event is given up after the last attempt and stays in the outbox", () =>
    Effect.gen(function* () {
      const hook = yield* receiver([500])
      yield* withWebhooks(
        [hook.url],
        Effect.gen(function* () {
          const webhooks = yield* Webhooks
          yield* webhooks.publish({ id: "alert-1", type: "alert.opened", at: Date.now(), data: { kind: "test" } })
          const outbox = yield* WebhookOutbox
          const counts = yield* eventually("giving up", outbox.counts, (c) => c.failed === 1, 15_000)
          assert.deepStrictEqual(counts, { failed: 1 })
          assert.strictEqual(hook.received.length, 3)
          const [row] = yield* outbox.list({ limit: 1 })
          assert.deepInclude(row, { attempts: 3, lastStatus: 500, lastError: "HTTP 500", state: "failed" })
        }),
        { maxAttempts: 3 }
      )
    }).pipe(Effect.scoped)
  )

  it.live("only the configured event types are sent", () =>
    Effect.gen(function* () {
      const hook = yield* receiver([200])
      yield* withWebhooks(
        [hook.url],
        Effect.gen(function* () {
          const webhooks = yield* Webhooks
          yield* webhooks.publish({ id: "a1", type: "alert.opened", at: Date.now(), data: {} })
          yield* webhooks.publish({ id: "c1", type: "complaint", at: Date.now(), data: {} })
          yield* webhooks.publish({ id: "c1", type: "complaint", at: Date.now(), data: {} })
          const outbox = yield* WebhookOutbox
          yield* eventually("the delivery", outbox.counts, (c) => c.delivered === 1)
          assert.deepStrictEqual(
            hook.received.map((r) => parsed(r.body).id),
            ["c1"]
          )
        }),
        { events: ["complaint"] }
      )
    }).pipe(Effect.scoped)
  )

  it.live("the outbox survives a restart: an event that failed before it is delivered after it, once", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-webhooks-"))
      const filename = path.join(dir, "rebound.db")
      const hook = yield* receiver([503])
      yield* Effect.provide(
        Effect.gen(function* () {
          yield* Effect.sleep("100 millis")
          yield* applyBytes(hardBounce("first@receiver.example"))
          const outbox = yield* WebhookOutbox
          yield* eventually("a failed attempt", outbox.list({ limit: 5 }), (rows) =>
            rows.some((r) => r.lastStatus === 503)
          )
        }),
        stack(Sqlite.layer({ filename }), [hook.url])
      )
      const refused = hook.received.length
      assert.isAtLeast(refused, 1)
      const firstId = parsed(hook.received[0]!.body).id

      hook.answer([200])
      yield* Effect.provide(
        Effect.gen(function* () {
          const outbox = yield* WebhookOutbox
          const [row] = yield* outbox.list({ limit: 5 })
          assert.strictEqual(row!.state, "pending")
          yield* eventually("the delivery after the restart", outbox.counts, (c) => c.delivered === 1)
          const rows = yield* outbox.list({ limit: 5 })
          assert.strictEqual(rows.length, 1)
        }),
        stack(Sqlite.layer({ filename }), [hook.url])
      )
      const delivered = hook.received.filter((r) => r.answered === 200)
      assert.deepStrictEqual(
        delivered.map((r) => parsed(r.body).id),
        [firstId]
      )
      fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.scoped)
  )

  it("backoff doubles from the initial delay up to the cap, with jitter below 20%", () => {
    const settings = Schema.decodeUnknownSync(WebhookConfig)({ initialBackoffSeconds: 10, maxBackoffSeconds: 60 })
    assert.deepStrictEqual(
      [1, 2, 3, 4, 5].map((attempts) => backoffMillis(settings, attempts, 0)),
      [10_000, 20_000, 40_000, 60_000, 60_000]
    )
    assert.strictEqual(backoffMillis(settings, 1, 1), 8_000)
  })
})
