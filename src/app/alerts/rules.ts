import * as Schema from "effect/Schema"
import type { DeliveryCounters } from "../http/read-model.js"
import type { AccountStatus } from "../status.js"
import type { AlertInput } from "./alert-log.js"

/** Alert thresholds. `Schema.decodeUnknownSync(AlertConfig)({})` gives the defaults (Adobe Campaign's rates). */
export const AlertConfig = Schema.Struct({
  enabled: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  /** a delivery's hard bounces over this share of its messages raise an alert (Campaign: 2%) */
  hardBounceRate: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.02 }),
  /** a delivery's soft bounces over this share of its messages raise an alert (Campaign: 10%) */
  softBounceRate: Schema.optionalWith(Schema.Number.pipe(Schema.between(0, 1)), { default: () => 0.1 }),
  /** deliveries with fewer registered messages are not judged: two bounces of ten say little */
  minMessages: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 100 }),
  /** deliveries with a bounce in this many hours are judged */
  deliveryWindowHours: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 72 }),
  /** a receiving domain whose hard bounces the outage guard held in this many hours raises an alert */
  outageWindowHours: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 24 }),
  /** polls failing in a row that raise an alert for the account */
  pollFailures: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 3 }),
  /** the backlog grew at this many evaluations in a row ... */
  backlogGrowth: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 5 }),
  /** ... and holds at least this many mails */
  backlogMinimum: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 100 }),
  intervalSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 60 })
})
export type AlertConfig = typeof AlertConfig.Type

export const defaultAlertConfig: AlertConfig = Schema.decodeUnknownSync(AlertConfig)({})

const percent = (share: number) => `${(share * 100).toFixed(1)}%`

/** The alert kinds the rules raise, by what they watch. */
export const deliveryKinds = ["delivery-hard-rate", "delivery-soft-rate"] as const
export const domainKinds = ["outage-guard"] as const
export const accountKinds = ["poll-failing", "backlog-growing"] as const

/** Per delivery: hard and soft bounce rates over the thresholds, once it has `minMessages` messages. */
export const deliveryAlerts = (rows: ReadonlyArray<DeliveryCounters>, config: AlertConfig): Array<AlertInput> =>
  rows.flatMap((row) => {
    if (row.messages < config.minMessages) return []
    const alerts: Array<AlertInput> = []
    const hard = row.hard / row.messages
    const soft = row.soft / row.messages
    const details = { deliveryId: row.deliveryId, messages: row.messages, hard: row.hard, soft: row.soft }
    if (hard > config.hardBounceRate)
      alerts.push({
        key: `delivery-hard-rate:${row.deliveryId}`,
        kind: "delivery-hard-rate",
        subject: row.deliveryId,
        severity: "critical",
        message: `delivery ${row.deliveryId}: hard bounce rate ${percent(hard)} (${row.hard} of ${row.messages}) is over ${percent(config.hardBounceRate)}`,
        details: { ...details, rate: hard, threshold: config.hardBounceRate }
      })
    if (soft > config.softBounceRate)
      alerts.push({
        key: `delivery-soft-rate:${row.deliveryId}`,
        kind: "delivery-soft-rate",
        subject: row.deliveryId,
        severity: "warning",
        message: `delivery ${row.deliveryId}: soft bounce rate ${percent(soft)} (${row.soft} of ${row.messages}) is over ${percent(config.softBounceRate)}`,
        details: { ...details, rate: soft, threshold: config.softBounceRate }
      })
    return alerts
  })

/** Per receiving domain: the outage guard held new hard quarantines as suspect. */
export const outageAlerts = (
  domains: ReadonlyArray<{ readonly domain: string; readonly events: number; readonly last: number }>,
  config: AlertConfig
): Array<AlertInput> =>
  domains.map((row) => ({
    key: `outage-guard:${row.domain}`,
    kind: "outage-guard",
    subject: row.domain,
    severity: "critical",
    message: `${row.domain}: the outage guard held ${row.events} hard bounce(s) as suspect in ${config.outageWindowHours} h; confirm or release them`,
    details: { domain: row.domain, suspectEvents: row.events, lastAt: new Date(row.last).toISOString() }
  }))

/**
 * Per account: polls failing in a row, and a backlog that grew at each of the last `backlogGrowth` evaluations.
 * `backlogs` holds each account's recent `mailsWaiting` samples, oldest first, the current one last.
 */
export const accountAlerts = (
  accounts: ReadonlyArray<AccountStatus>,
  backlogs: ReadonlyMap<string, ReadonlyArray<number>>,
  config: AlertConfig
): Array<AlertInput> =>
  accounts.flatMap((account) => {
    const alerts: Array<AlertInput> = []
    if (account.consecutiveFailures >= config.pollFailures)
      alerts.push({
        key: `poll-failing:${account.account}`,
        kind: "poll-failing",
        subject: account.account,
        severity: "critical",
        message: `${account.account}: ${account.consecutiveFailures} polls failed in a row${account.lastError === null ? "" : ` (${account.lastError})`}`,
        details: {
          account: account.account,
          consecutiveFailures: account.consecutiveFailures,
          lastError: account.lastError,
          lastSuccessAt: account.lastSuccessAt === null ? null : new Date(account.lastSuccessAt).toISOString()
        }
      })
    const samples = backlogs.get(account.account) ?? []
    const recent = samples.slice(-(config.backlogGrowth + 1))
    const growing =
      recent.length === config.backlogGrowth + 1 &&
      recent.every((n, i) => i === 0 || n > recent[i - 1]!) &&
      recent[recent.length - 1]! >= config.backlogMinimum
    if (growing)
      alerts.push({
        key: `backlog-growing:${account.account}`,
        kind: "backlog-growing",
        subject: account.account,
        severity: "warning",
        message: `${account.account}: ${recent[recent.length - 1]} mails waiting, more at each of the last ${config.backlogGrowth} checks`,
        details: { account: account.account, mailsWaiting: recent }
      })
    return alerts
  })
