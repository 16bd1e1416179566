import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { databaseError, type StoreError } from "../../adapters/store/errors.js"
import * as ReadModelRepo from "../http/read-model.js"
import { ReadModel } from "../http/read-model.js"
import { alertsOpenedTotal } from "../metrics.js"
import { Leasing } from "../leasing.js"
import { ProcessorStatus } from "../status.js"
import { Webhooks } from "../webhooks/webhooks.js"
import * as AlertLogRepo from "./alert-log.js"
import { type Alert, AlertLog, type AlertInput } from "./alert-log.js"
import {
  accountAlerts,
  accountKinds,
  type AlertConfig,
  defaultAlertConfig,
  deliveryAlerts,
  deliveryKinds,
  domainKinds,
  outageAlerts
} from "./rules.js"

export interface AlertChanges {
  readonly opened: ReadonlyArray<Alert>
  readonly resolved: ReadonlyArray<Alert>
}

/**
 * Alerts: per delivery, bounce rates over the thresholds; per receiving domain, the outage guard holding quarantines;
 * per account, polls failing and a growing backlog. Each evaluation opens what holds and resolves what no longer
 * does; a change goes to the log, the alert log (the dashboard, GET /v1/alerts) and the webhooks.
 */
export class Alerts extends Context.Tag("rebound/Alerts/Alerts")<
  Alerts,
  { readonly evaluate: Effect.Effect<AlertChanges, StoreError> }
>() {}

const HOUR = 3_600_000

const webhookData = (alert: Alert) => ({
  id: alert.id,
  key: alert.key,
  kind: alert.kind,
  subject: alert.subject,
  severity: alert.severity,
  message: alert.message,
  details: alert.details,
  openedAt: new Date(alert.openedAt).toISOString(),
  resolvedAt: alert.resolvedAt === null ? null : new Date(alert.resolvedAt).toISOString()
})

export const make = (config: AlertConfig) =>
  Effect.gen(function* () {
    const log = yield* AlertLog
    const readModel = yield* ReadModel
    const status = yield* ProcessorStatus
    const webhooks = yield* Webhooks
    const backlogs = yield* Ref.make(new Map<string, ReadonlyArray<number>>())

    const evaluate = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // with several processes, each speaks only for the accounts it holds: another's failing account is not resolved
      const holding = yield* Effect.serviceOption(Leasing)
      const held = Option.isSome(holding) ? yield* holding.value.held : undefined
      const accounts = (yield* status.accounts).filter(
        (account) => held === undefined || account.kind === "smtp" || held.has(account.account)
      )
      const samples = yield* Ref.updateAndGet(backlogs, (current) => {
        const next = new Map(current)
        for (const account of accounts) {
          if (account.mailsWaiting === null) continue
          next.set(account.account, [...(current.get(account.account) ?? []), account.mailsWaiting].slice(-64))
        }
        return next
      })
      const gathered = yield* Effect.gen(function* () {
        const active = yield* readModel.activeDeliveries(now - config.deliveryWindowHours * HOUR)
        const deliveries = active.length === 0 ? [] : yield* readModel.deliveries(0, now + 1, active.length, active)
        const suspects = yield* readModel.suspectDomains(now - config.outageWindowHours * HOUR)
        return { deliveries, suspects }
      }).pipe(Effect.mapError(databaseError("reading what alerts watch")))
      const wanted: Array<AlertInput> = [
        ...deliveryAlerts(gathered.deliveries, config),
        ...outageAlerts(gathered.suspects, config),
        ...accountAlerts(accounts, samples, config)
      ]
      const known = new Set(accounts.map((account) => account.account))
      const managed = (alert: Alert) =>
        (deliveryKinds as ReadonlyArray<string>).includes(alert.kind) ||
        (domainKinds as ReadonlyArray<string>).includes(alert.kind) ||
        ((accountKinds as ReadonlyArray<string>).includes(alert.kind) && known.has(alert.subject))

      const opened: Array<Alert> = []
      for (const input of wanted) {
        const fresh = yield* log.open(input, now)
        if (Option.isNone(fresh)) continue
        opened.push(fresh.value)
        yield* Effect.logWarning(`alert: ${input.message}`).pipe(
          Effect.annotateLogs({ alert: input.key, severity: input.severity })
        )
        yield* Metric.increment(Metric.tagged(alertsOpenedTotal, "kind", input.kind))
        yield* webhooks.publish({
          id: `alert-${fresh.value.id}-opened`,
          type: "alert.opened",
          at: now,
          data: webhookData(fresh.value)
        })
      }
      const wantedKeys = new Set(wanted.map((input) => input.key))
      const resolved: Array<Alert> = []
      for (const alert of yield* log.openAlerts) {
        if (!managed(alert) || wantedKeys.has(alert.key)) continue
        const done = yield* log.resolve(alert.key, now)
        if (Option.isNone(done)) continue
        resolved.push(done.value)
        yield* Effect.logInfo(`alert resolved: ${alert.message}`).pipe(Effect.annotateLogs({ alert: alert.key }))
        yield* webhooks.publish({
          id: `alert-${done.value.id}-resolved`,
          type: "alert.resolved",
          at: now,
          data: webhookData(done.value)
        })
      }
      return { opened, resolved }
    }).pipe(Effect.withSpan("Alerts.evaluate"))

    return Alerts.of({ evaluate })
  })

/** Alerts evaluated every `intervalSeconds` for as long as the layer lives (none when disabled). */
export const layerService = (
  config: AlertConfig
): Layer.Layer<Alerts, never, AlertLog | ReadModel | ProcessorStatus | Webhooks> =>
  Layer.scoped(
    Alerts,
    Effect.gen(function* () {
      const alerts = yield* make(config)
      if (config.enabled)
        yield* alerts.evaluate.pipe(
          Effect.catchAll((error) => Effect.logError("evaluating alerts failed", error)),
          Effect.repeat(Schedule.spaced(`${config.intervalSeconds} seconds`)),
          Effect.forkScoped
        )
      return alerts
    })
  )

/** Alerts over the store's SQL client; needs the processor's status board and the webhooks. */
export const layer = (
  config: AlertConfig
): Layer.Layer<Alerts, never, SqlClient.SqlClient | ProcessorStatus | Webhooks> =>
  layerService(config).pipe(Layer.provide(Layer.merge(AlertLogRepo.layer, ReadModelRepo.layer)))

const d = defaultAlertConfig

/** ALERTS_ENABLED, ALERTS_HARD_BOUNCE_RATE, ALERTS_SOFT_BOUNCE_RATE, ALERTS_MIN_MESSAGES, ... */
export const alertConfig: Config.Config<AlertConfig> = Config.nested(
  Config.all({
    enabled: Config.boolean("ENABLED").pipe(Config.withDefault(d.enabled), Config.withDescription("Raise alerts.")),
    hardBounceRate: Config.number("HARD_BOUNCE_RATE").pipe(
      Config.withDefault(d.hardBounceRate),
      Config.withDescription("A delivery's hard bounce share that raises an alert (0.02: 2%).")
    ),
    softBounceRate: Config.number("SOFT_BOUNCE_RATE").pipe(
      Config.withDefault(d.softBounceRate),
      Config.withDescription("A delivery's soft bounce share that raises an alert (0.10: 10%).")
    ),
    minMessages: Config.integer("MIN_MESSAGES").pipe(
      Config.withDefault(d.minMessages),
      Config.withDescription("Deliveries with fewer registered messages are not judged.")
    ),
    deliveryWindowHours: Config.integer("DELIVERY_WINDOW_HOURS").pipe(
      Config.withDefault(d.deliveryWindowHours),
      Config.withDescription("Deliveries with a bounce in this many hours are judged.")
    ),
    outageWindowHours: Config.integer("OUTAGE_WINDOW_HOURS").pipe(
      Config.withDefault(d.outageWindowHours),
      Config.withDescription("Hours in which held hard bounces keep an outage alert open.")
    ),
    pollFailures: Config.integer("POLL_FAILURES").pipe(
      Config.withDefault(d.pollFailures),
      Config.withDescription("Polls failing in a row that raise an alert.")
    ),
    backlogGrowth: Config.integer("BACKLOG_GROWTH").pipe(
      Config.withDefault(d.backlogGrowth),
      Config.withDescription("Checks in a row at which a growing backlog raises an alert.")
    ),
    backlogMinimum: Config.integer("BACKLOG_MINIMUM").pipe(
      Config.withDefault(d.backlogMinimum),
      Config.withDescription("A backlog below this many mails raises no alert.")
    ),
    intervalSeconds: Config.number("INTERVAL_SECONDS").pipe(
      Config.withDefault(d.intervalSeconds),
      Config.withDescription("How often alerts are evaluated.")
    )
  }),
  "ALERTS"
)

/** Alerts configured by the ALERTS_* variables. */
export const layerConfig: Layer.Layer<
  Alerts,
  ConfigError.ConfigError,
  SqlClient.SqlClient | ProcessorStatus | Webhooks
> = Layer.unwrapEffect(Effect.map(alertConfig, layer))
