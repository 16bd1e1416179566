import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Layer, Ref, Schema } from "effect"
import * as Memory from "../../../src/adapters/store/memory.js"
import { Store } from "../../../src/adapters/store/store.js"
import {
  accountAlerts,
  AlertConfig,
  AlertLog,
  Alerts,
  deliveryAlerts,
  layer as alertsLayer
} from "../../../src/app/alerts/index.js"
import * as AlertLogRepo from "../../../src/app/alerts/alert-log.js"
import { Leasing } from "../../../src/app/leasing.js"
import { QuarantinePolicy } from "../../../src/domain/quarantine.js"
import { initialAccountStatus, ProcessorStatus } from "../../../src/app/status.js"
import { type WebhookEvent, Webhooks } from "../../../src/app/webhooks/index.js"
import { applyBytes, hardBounce } from "../http/fixture.js"

const config = Schema.decodeUnknownSync(AlertConfig)({ enabled: false })

const published = Effect.runSync(Ref.make<ReadonlyArray<WebhookEvent>>([]))

const recordingWebhooks = Layer.succeed(
  Webhooks,
  Webhooks.of({
    publish: (event) => Ref.update(published, (events) => [...events, event]),
    runOnce: Effect.succeed({ queued: 0, delivered: 0, retried: 0, failed: 0 })
  })
)

const stack = (storeSettings: Parameters<typeof Memory.layer>[0] = {}) =>
  Layer.mergeAll(alertsLayer(config), AlertLogRepo.layer).pipe(
    Layer.provideMerge(Layer.mergeAll(Memory.layer(storeSettings), ProcessorStatus.layer, recordingWebhooks))
  )

const delivery = (deliveryId: string, messages: number, hard: number, soft: number) => ({
  deliveryId,
  messages,
  hard,
  soft,
  delayed: 0,
  complaints: 0,
  lastUpdate: 0
})

describe("alert rules", () => {
  it("a delivery alerts over 2% hard or 10% soft bounces, once it has enough messages", () => {
    const defaults = Schema.decodeUnknownSync(AlertConfig)({})
    const alerts = deliveryAlerts(
      [
        delivery("at-threshold", 1000, 20, 100),
        delivery("hard", 1000, 21, 0),
        delivery("soft", 1000, 0, 101),
        delivery("small", 50, 40, 40)
      ],
      defaults
    )
    assert.deepStrictEqual(
      alerts.map((a) => [a.key, a.severity]),
      [
        ["delivery-hard-rate:hard", "critical"],
        ["delivery-soft-rate:soft", "warning"]
      ]
    )
    assert.match(alerts[0]!.message, /2\.1% \(21 of 1000\) is over 2\.0%/)
    const stricter = Schema.decodeUnknownSync(AlertConfig)({ hardBounceRate: 0.01, minMessages: 10 })
    assert.strictEqual(deliveryAlerts([delivery("small", 50, 1, 0)], stricter).length, 1)
  })

  it("an account alerts when polls fail in a row or its backlog keeps growing", () => {
    const defaults = Schema.decodeUnknownSync(AlertConfig)({})
    const failing = { ...initialAccountStatus("pop", "pop3"), consecutiveFailures: 3, lastError: "auth failed" }
    const fine = { ...initialAccountStatus("dir", "maildir"), consecutiveFailures: 2 }
    const backlogs = new Map([
      ["dir", [100, 200, 300, 400, 500, 600]],
      ["pop", [100, 200, 300, 300, 500, 600]]
    ])
    assert.deepStrictEqual(
      accountAlerts([failing, fine], backlogs, defaults).map((a) => a.key),
      ["poll-failing:pop", "backlog-growing:dir"]
    )
    assert.deepStrictEqual(accountAlerts([fine], new Map([["dir", [1, 2, 3, 4, 5, 6]]]), defaults), [])
  })
})

describe("alerts over the store", () => {
  it.live("a delivery over the hard bounce rate opens an alert; more sends resolve it; both are published", () =>
    Effect.gen(function* () {
      yield* Ref.set(published, [])
      const store = yield* Store
      const alerts = yield* Alerts
      const send = (from: number, count: number) =>
        store.registerSent(
          Array.from({ length: count }, (_, i) => ({
            messageId: `<m${from + i}@sender.example>`,
            deliveryId: "NEWSLETTER-12",
            recipient: `user${from + i}@receiver.example`
          }))
        )
      yield* send(0, 100)
      for (const i of [0, 1, 2]) yield* applyBytes(hardBounce(`user${i}@receiver.example`, `<m${i}@sender.example>`))
      const first = yield* alerts.evaluate
      assert.deepStrictEqual(
        first.opened.map((a) => a.key),
        ["delivery-hard-rate:NEWSLETTER-12"]
      )
      assert.deepInclude(first.opened[0]!.details, { messages: 100, hard: 3, rate: 0.03 })
      const again = yield* alerts.evaluate
      assert.deepStrictEqual(again, { opened: [], resolved: [] })

      yield* send(100, 100)
      const second = yield* alerts.evaluate
      assert.deepStrictEqual(
        second.resolved.map((a) => a.key),
        ["delivery-hard-rate:NEWSLETTER-12"]
      )
      const events = yield* Ref.get(published)
      assert.deepStrictEqual(
        events.map((e) => e.type),
        ["alert.opened", "alert.resolved"]
      )
      const log = yield* AlertLog
      assert.deepStrictEqual(yield* log.list({ state: "open", limit: 10 }), [])
      assert.strictEqual((yield* log.list({ state: "all", limit: 10 })).length, 1)
    }).pipe(Effect.provide(stack()))
  )

  it.live("the outage guard holding a domain's hard bounces opens an alert for that domain", () =>
    Effect.gen(function* () {
      const alerts = yield* Alerts
      for (const user of ["a", "b", "c"]) yield* applyBytes(hardBounce(`${user}@flaky.example`))
      const changes = yield* alerts.evaluate
      assert.deepStrictEqual(
        changes.opened.map((a) => [a.key, a.severity]),
        [["outage-guard:flaky.example", "critical"]]
      )
      assert.match(changes.opened[0]!.message, /held 2 hard bounce\(s\) as suspect/)
    }).pipe(
      Effect.provide(
        stack({
          policy: Schema.decodeUnknownSync(QuarantinePolicy)({ outageGuard: { hardBouncesPerHour: 2 } })
        })
      )
    )
  )

  it.live("an account's failing polls and growing backlog open alerts that resolve when it recovers", () =>
    Effect.gen(function* () {
      const alerts = yield* Alerts
      const status = yield* ProcessorStatus
      yield* status.register({ ...initialAccountStatus("bounces@sender.example", "pop3"), mailsWaiting: 100 })
      yield* alerts.evaluate
      for (let i = 1; i <= 5; i++) {
        yield* status.update("bounces@sender.example", (s) => ({
          ...s,
          mailsWaiting: 100 + i * 50,
          consecutiveFailures: i,
          lastError: "connection timed out"
        }))
        const changes = yield* alerts.evaluate
        if (i === 3)
          assert.deepStrictEqual(
            changes.opened.map((a) => a.key),
            ["poll-failing:bounces@sender.example"]
          )
        if (i === 5)
          assert.deepStrictEqual(
            changes.opened.map((a) => a.key),
            ["backlog-growing:bounces@sender.example"]
          )
      }
      yield* status.update("bounces@sender.example", (s) => ({ ...s, mailsWaiting: 10, consecutiveFailures: 0 }))
      const recovered = yield* alerts.evaluate
      assert.deepStrictEqual(recovered.resolved.map((a) => a.kind).sort(), ["backlog-growing", "poll-failing"])
    }).pipe(Effect.provide(stack()))
  )

  it.live("with several processes, a process raises and resolves account alerts only for the accounts it holds", () =>
    Effect.gen(function* () {
      const alerts = yield* Alerts
      const status = yield* ProcessorStatus
      const log = yield* AlertLog
      // the holder of "theirs" opened its alert; this process has an idle, never-polled entry for it
      yield* log.open(
        {
          key: "poll-failing:theirs",
          kind: "poll-failing",
          subject: "theirs",
          severity: "critical",
          message: "theirs: 3 polls failed in a row",
          details: {}
        },
        0
      )
      yield* status.register(initialAccountStatus("theirs", "pop3"))
      yield* status.register({ ...initialAccountStatus("mine", "pop3"), consecutiveFailures: 3 })
      const changes = yield* alerts.evaluate
      assert.deepStrictEqual(
        changes.opened.map((a) => a.key),
        ["poll-failing:mine"]
      )
      assert.deepStrictEqual(changes.resolved, [], "the other process's alert stays open")
    }).pipe(Effect.provide(Layer.merge(stack(), holding(["mine"]))))
  )
})

/** A process that holds the leases of `accounts` (what alerts read of Leasing). */
function holding(accounts: ReadonlyArray<string>) {
  return Layer.succeed(Leasing, { held: Effect.succeed(new Set(accounts)) } as unknown as Context.Tag.Service<Leasing>)
}
