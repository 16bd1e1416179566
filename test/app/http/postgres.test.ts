import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import * as Postgres from "../../../src/adapters/store/postgres.js"
import { Store } from "../../../src/adapters/store/store.js"
import { WebhookOutbox } from "../../../src/adapters/store/webhook-outbox.js"
import * as AlertsModule from "../../../src/app/alerts/index.js"
import { AlertLog } from "../../../src/app/alerts/alert-log.js"
import { Webhooks, WebhookConfig, layer as webhooksLayer, verifySignature } from "../../../src/app/webhooks/index.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"
import { eventually, receiver } from "../webhooks/receiver.js"
import { apiLayer, applyBytes, baseUrl, call, complaint, hardBounce, readSecret, softBounce } from "./fixture.js"

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

describe.skipIf(skip)("HTTP API, webhooks and alerts on PostgreSQL", () => {
  let server: PostgresServer | undefined
  let count = 0
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())

  const store = () => {
    count += 1
    return Postgres.layer({ url: Redacted.make(server!.createDatabase(`http_${count}`)), maxConnections: 4 })
  }

  it.live(
    "every read-model query, the outbox and the alert log answer on PostgreSQL",
    () =>
      Effect.gen(function* () {
        const hook = yield* receiver([200])
        const secret = "pg-webhook-secret-0123"
        const config = Schema.decodeUnknownSync(WebhookConfig)({ urls: [hook.url], secret, pollMillis: 30 })
        const alertConfig = Schema.decodeUnknownSync(AlertsModule.AlertConfig)({ enabled: false, minMessages: 10 })
        const layer = Layer.mergeAll(
          AlertsModule.layer(alertConfig).pipe(Layer.provideMerge(webhooksLayer(config)))
        ).pipe(Layer.provideMerge(apiLayer({ store: store() })))

        yield* Effect.gen(function* () {
          const base = yield* baseUrl
          yield* Effect.sleep("100 millis")
          const messages = Array.from({ length: 20 }, (_, i) => ({
            messageId: `<pg${i}@sender.example>`,
            deliveryId: "PG-1",
            recipient: `pg${i}@receiver.example`
          }))
          assert.strictEqual((yield* call(base, "POST", "/v1/messages", { body: { messages } })).status, 200)
          yield* applyBytes(hardBounce("pg0@receiver.example", "<pg0@sender.example>"))
          yield* applyBytes(softBounce("pg1@receiver.example", "<pg1@sender.example>"))
          yield* applyBytes(complaint("pg2@receiver.example"))

          const address = yield* call(base, "GET", "/v1/addresses/pg0@receiver.example", { token: readSecret })
          assert.strictEqual(address.json.status, "quarantined")
          assert.strictEqual(address.json.recentBounces[0].deliveryId, "PG-1")
          const check = yield* call(base, "POST", "/v1/addresses/check", {
            token: readSecret,
            body: { addresses: ["pg0@receiver.example", "PG2@receiver.example", "pg3@receiver.example"] }
          })
          assert.deepStrictEqual(check.json.suppress.map((s: any) => s.status).sort(), ["denylisted", "quarantined"])
          const first = yield* call(base, "GET", "/v1/bounces?limit=2")
          const second = yield* call(base, "GET", `/v1/bounces?limit=2&cursor=${first.json.nextCursor}`)
          assert.strictEqual(first.json.items.length + second.json.items.length, 3)
          const reasons = yield* call(base, "GET", "/v1/reports/reasons")
          assert.deepStrictEqual(reasons.json.rows.map((r: any) => [r.reason, r.count]).sort(), [
            ["mailboxfull", 1],
            ["userunknown", 1]
          ])
          const domains = yield* call(base, "GET", "/v1/reports/domains")
          assert.deepInclude(domains.json.rows[0], { domain: "receiver.example", sent: 20, hard: 1, soft: 1 })
          const deliveries = yield* call(base, "GET", "/v1/reports/deliveries")
          assert.deepInclude(deliveries.json.rows[0], { deliveryId: "PG-1", messages: 20, hard: 1, soft: 1 })
          const timeline = yield* call(base, "GET", "/v1/reports/timeline?bucket=day")
          assert.strictEqual(timeline.status, 200)
          assert.strictEqual(
            timeline.json.rows.reduce((sum: number, row: any) => sum + row.hard + row.soft + row.complaints, 0),
            3
          )
          const quarantines = yield* call(base, "GET", "/v1/quarantines")
          assert.strictEqual(quarantines.json.rows.length, 2)
          const texts = yield* call(base, "GET", "/v1/qualification")
          assert.isAbove(texts.json.rows.length, 0)
          const metrics = yield* call(base, "GET", "/metrics")
          assert.include(metrics.text, 'rebound_addresses{status="quarantined"} 1')

          const alerts = yield* AlertsModule.Alerts
          const changes = yield* alerts.evaluate
          assert.deepStrictEqual(
            changes.opened.map((a) => a.key),
            ["delivery-hard-rate:PG-1"]
          )
          const log = yield* AlertLog
          assert.deepStrictEqual(yield* alerts.evaluate, { opened: [], resolved: [] })
          assert.strictEqual((yield* log.openAlerts).length, 1)

          const outbox = yield* WebhookOutbox
          yield* eventually("four deliveries", outbox.counts, (c) => c.delivered === 4)
          const types = hook.received.map((r) => JSON.parse(r.body).type).sort()
          assert.deepStrictEqual(types, ["address.denylisted", "address.quarantined", "alert.opened", "complaint"])
          for (const request of hook.received)
            assert.isTrue(
              verifySignature({
                secret,
                header: request.headers["x-rebound-signature"] as string,
                body: request.body,
                nowSeconds: Math.floor(Date.now() / 1000)
              }).valid
            )
          const webhooks = yield* Webhooks
          yield* webhooks.publish({ id: "again", type: "complaint", at: Date.now(), data: {} })
          yield* webhooks.publish({ id: "again", type: "complaint", at: Date.now(), data: {} })
          yield* eventually("the published event", outbox.counts, (c) => c.delivered === 5)
          const storeService = yield* Store
          assert.strictEqual(storeService.settings.localPartCase, "lowercase")
        }).pipe(Effect.provide(layer))
      }).pipe(Effect.scoped),
    60_000
  )
})
