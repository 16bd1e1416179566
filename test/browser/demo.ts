import { Clock, Effect, Layer, Ref, Schema } from "effect"
import { Forwarder, type Forward } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../src/adapters/mailbox/simulated-mailbox.js"
import * as SqliteStore from "../../src/adapters/store/sqlite.js"
import { Store } from "../../src/adapters/store/store.js"
import * as AlertsModule from "../../src/app/alerts/index.js"
import { MaildirAccount } from "../../src/app/config.js"
import { parseToken, type ApiToken } from "../../src/app/http/config.js"
import * as Http from "../../src/app/http/server.js"
import { layer as processorLayer, Processor } from "../../src/app/processor.js"
import { initialAccountStatus, ProcessorStatus } from "../../src/app/status.js"
import * as Webhooks from "../../src/app/webhooks/index.js"
import { arfReport, eximBounce, postfixDsn, qmailBounce } from "../support/mails.js"

export const adminToken = "dashboard-admin-0123456789"

const tokens: ReadonlyArray<ApiToken> = [parseToken(`ops:${adminToken}`, "admin", 0) as ApiToken]

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A clock stopped at `millis`, so mails processed "on an earlier day" carry that day's time. */
const clockAt = (millis: number): Clock.Clock => ({
  [Clock.ClockTypeId]: Clock.ClockTypeId,
  unsafeCurrentTimeMillis: () => millis,
  currentTimeMillis: Effect.succeed(millis),
  unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  sleep: () => Effect.void
})

const domains = ["mail.example.com", "inbox.example.net", "post.example.org", "corp.example", "webmail.example.de"]

/**
 * The dashboard over real data: a SQLite store, the processor draining a simulated bounce mailbox, the API with an
 * admin token, alerts and webhooks (no URL). `filename` is the SQLite file.
 */
export const demoLayer = (filename: string) => {
  const forwarded = Ref.unsafeMake<ReadonlyArray<Forward>>([])
  const store = SqliteStore.layer({ filename })
  const base = Layer.mergeAll(store, ProcessorStatus.layer, Forwarder.layerMemory(forwarded))
  const processor = processorLayer({ instance: "demo", decode: {}, batchSize: 25 })
  const webhooks = Webhooks.layer(Schema.decodeUnknownSync(Webhooks.WebhookConfig)({}))
  const alerts = AlertsModule.layer(Schema.decodeUnknownSync(AlertsModule.AlertConfig)({ enabled: false }))
  return Layer.mergeAll(
    Http.layer({ host: "127.0.0.1", port: 0, tokens, dashboard: true }),
    processor,
    alerts.pipe(Layer.provide(webhooks)),
    SimulatedMailbox.layer({})
  ).pipe(Layer.provideMerge(base))
}

const account = Schema.decodeUnknownSync(MaildirAccount)({ type: "maildir", name: "bounces", path: "unused" })

/** Seven days of sends and bounces, processed by the processor from the simulated mailbox, then alerts. */
export const seed = Effect.gen(function* () {
  const store = yield* Store
  const processor = yield* Processor
  const mailbox = yield* SimulatedMailboxHandle
  const handle = { account, mailbox: yield* Mailbox }
  const status = yield* ProcessorStatus
  yield* status.register(initialAccountStatus(account.name, "maildir"))
  const now = Date.now()
  let serial = 0
  for (let day = 6; day >= 0; day--) {
    const deliveryId = `NEWS-${new Date(now - day * DAY).toISOString().slice(0, 10)}`
    const sendAt = now - day * DAY - 20 * HOUR
    const recipients = Array.from({ length: 400 }, (_, i) => `user${day}-${i}@${domains[i % domains.length]}`)
    yield* store
      .registerSent(
        recipients.map((recipient, i) => ({
          messageId: `<${deliveryId}.${i}@news.sender.example>`,
          deliveryId,
          recipient,
          sentAt: sendAt
        }))
      )
      .pipe(Effect.withClock(clockAt(sendAt)))
    for (const hour of [18, 14, 10, 6, 2]) {
      const at = now - day * DAY - hour * HOUR
      if (at > now) continue
      const batch = (day * 7 + hour) % 5
      const mails: Array<Uint8Array> = []
      for (let k = 0; k < 3 + batch; k++) {
        serial++
        const i = (serial * 37) % 400
        const address = recipients[i]!
        const original = {
          from: "news@sender.example",
          to: address,
          messageId: `<${deliveryId}.${i}@news.sender.example>`
        }
        const pick = serial % 11
        if (pick < 4)
          mails.push(
            postfixDsn({
              recipients: [
                {
                  address,
                  status: "5.1.1",
                  diagnostic: `550 5.1.1 <${address}>: Recipient address rejected: User unknown`
                }
              ],
              original
            })
          )
        else if (pick < 7)
          mails.push(
            postfixDsn({
              recipients: [
                { address, status: "4.2.2", diagnostic: `452 4.2.2 <${address}>: Mailbox full, quota exceeded` }
              ],
              original
            })
          )
        else if (pick === 7)
          mails.push(qmailBounce(address, "Sorry, I couldn't find any host named that domain. (#5.1.2)", original))
        else if (pick === 8)
          mails.push(eximBounce([[address, "host mx.example said: 550 5.7.1 Message rejected as spam"]], original))
        else if (pick === 9) mails.push(arfReport({ feedbackType: "abuse", rcptTo: address, original }))
        else
          mails.push(
            postfixDsn({
              recipients: [
                {
                  address,
                  status: "5.7.1",
                  diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using bl.example.org"
                }
              ],
              original
            })
          )
      }
      for (const bytes of mails) yield* mailbox.deliver(bytes)
      yield* processor.drain(handle).pipe(Effect.withClock(clockAt(at)))
    }
  }
  yield* status.update(account.name, (current) => ({
    ...current,
    lastPollAt: now - 30_000,
    lastSuccessAt: now - 29_000,
    mailsWaiting: 0
  }))
  const alerts = yield* AlertsModule.Alerts
  yield* alerts.evaluate
})
