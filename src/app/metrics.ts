import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"
import type { BounceReport } from "../domain/report.js"
import type { AccountStatus } from "./status.js"

/** Failed recipients decoded, by kind, type and reason; the processor adds each applied report's records. */
export const bouncesTotal = Metric.counter("rebound_bounces_total", {
  description: "Records of applied mails, by kind (bounce, delay, complaint, ...), type and reason.",
  incremental: true
})

/** Seconds to parse and decode one mail. */
export const decodeSeconds = Metric.histogram(
  "rebound_decode_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 14 }),
  "Time to parse and decode one mail, in seconds."
)

/** Polls of a mailbox account that failed (connection, authentication, protocol), by account. */
export const pollErrorsTotal = Metric.counter("rebound_poll_errors_total", {
  description: "Polls of a mailbox account that failed, by account.",
  incremental: true
})

/** Polls started, by account. */
export const pollsTotal = Metric.counter("rebound_polls_total", {
  description: "Polls of a mailbox account, by account.",
  incremental: true
})

/** Webhook delivery attempts, by result (delivered, retry, failed). */
export const webhookAttemptsTotal = Metric.counter("rebound_webhook_attempts_total", {
  description: "Webhook delivery attempts, by result: delivered, retry (will be tried again), failed (given up).",
  incremental: true
})

/** Alerts opened, by kind. */
export const alertsOpenedTotal = Metric.counter("rebound_alerts_opened_total", {
  description: "Alerts opened, by kind.",
  incremental: true
})

/**
 * The counter of each (kind, type, reason): made once, not at every record (a tagged metric hashes its labels when it
 * is made). Reasons and types are closed lists, so there are at most a few hundred.
 */
const bounceCounters = new Map<string, Metric.Metric.Counter<number>>()
const bounceCounter = (kind: string, type: string, reason: string) => {
  const key = `${kind}\u0000${type}\u0000${reason}`
  let counter = bounceCounters.get(key)
  if (counter === undefined) {
    counter = Metric.taggedWithLabels(bouncesTotal, [
      MetricLabel.make("kind", kind),
      MetricLabel.make("type", type),
      MetricLabel.make("reason", reason)
    ])
    bounceCounters.set(key, counter)
  }
  return counter
}

/** Counts the records of an applied report in `rebound_bounces_total`. */
export const countReport = (report: BounceReport): Effect.Effect<void> =>
  Effect.forEach(report.records, (record) => Metric.increment(bounceCounter(record.kind, record.type, record.reason)), {
    discard: true
  })

/** Records how long decoding one mail took. */
export const observeDecode = (millis: number): Effect.Effect<void> => Metric.update(decodeSeconds, millis / 1000)

/** Counts a poll of `account`, and whether it failed. */
export const countPoll = (account: string, failed: boolean): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(pollsTotal, "account", account)),
    failed ? Metric.increment(Metric.tagged(pollErrorsTotal, "account", account)) : Effect.void
  )

/** A sample computed when /metrics is read (store counts, the processor's account board). */
export interface Sample {
  readonly name: string
  readonly help: string
  readonly type: "counter" | "gauge"
  readonly values: ReadonlyArray<{ readonly labels: Readonly<Record<string, string>>; readonly value: number }>
}

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const escapeHelp = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

const labelText = (labels: ReadonlyArray<readonly [string, string]>): string =>
  labels.length === 0 ? "" : `{${labels.map(([key, value]) => `${key}="${escapeLabel(value)}"`).join(",")}}`

const numberText = (value: number): string =>
  value === Number.POSITIVE_INFINITY ? "+Inf" : value === Number.NEGATIVE_INFINITY ? "-Inf" : String(value)

/** The samples the processor's account board gives: mails fetched, applied and failed, backlog, failures. */
export const accountSamples = (accounts: ReadonlyArray<AccountStatus>): ReadonlyArray<Sample> => {
  const per = (value: (status: AccountStatus) => number | null) =>
    accounts.flatMap((status) => {
      const v = value(status)
      return v === null ? [] : [{ labels: { account: status.account }, value: v }]
    })
  return [
    {
      name: "rebound_mails_fetched_total",
      help: "Mails fetched from a mailbox account since the process started.",
      type: "counter",
      values: per((s) => s.fetched)
    },
    {
      name: "rebound_mails_applied_total",
      help: "Mails applied to the store (their records counted) since the process started.",
      type: "counter",
      values: per((s) => s.applied)
    },
    {
      name: "rebound_mails_not_applied_total",
      help: "Mails recorded without changing addresses (not a bounce, unqualified, another instance's).",
      type: "counter",
      values: per((s) => s.notApplied)
    },
    {
      name: "rebound_mails_failed_total",
      help: "Mails that could not be processed (kept in the raw archive) since the process started.",
      type: "counter",
      values: per((s) => s.failed)
    },
    {
      name: "rebound_mailbox_backlog",
      help: "Mails left in the mailbox after the last poll.",
      type: "gauge",
      values: per((s) => s.mailsWaiting)
    },
    {
      name: "rebound_account_consecutive_failures",
      help: "Polls that failed in a row.",
      type: "gauge",
      values: per((s) => s.consecutiveFailures)
    },
    {
      name: "rebound_account_last_success_timestamp_seconds",
      help: "When the last poll completed, in seconds since the epoch.",
      type: "gauge",
      values: per((s) => (s.lastSuccessAt === null ? null : s.lastSuccessAt / 1000))
    }
  ]
}

const renderPair = (pair: MetricPair.MetricPair.Untyped): ReadonlyArray<string> => {
  const key = pair.metricKey
  const name = key.name
  const labels = key.tags.map((tag) => [tag.key, tag.value] as const)
  const state = pair.metricState
  if (MetricState.isCounterState(state)) return [`${name}${labelText(labels)} ${numberText(Number(state.count))}`]
  if (MetricState.isGaugeState(state)) return [`${name}${labelText(labels)} ${numberText(Number(state.value))}`]
  if (MetricState.isHistogramState(state)) {
    const lines = state.buckets
      .filter(([bound]) => bound !== Number.POSITIVE_INFINITY)
      .map(([bound, count]) => `${name}_bucket${labelText([...labels, ["le", numberText(bound)]])} ${count}`)
    lines.push(`${name}_bucket${labelText([...labels, ["le", "+Inf"]])} ${state.count}`)
    lines.push(`${name}_sum${labelText(labels)} ${state.sum}`)
    lines.push(`${name}_count${labelText(labels)} ${state.count}`)
    return lines
  }
  if (MetricState.isFrequencyState(state)) {
    return [...state.occurrences].map(([value, count]) => `${name}${labelText([...labels, ["value", value]])} ${count}`)
  }
  return []
}

const typeOf = (pair: MetricPair.MetricPair.Untyped): string => {
  const state = pair.metricState
  if (MetricState.isHistogramState(state)) return "histogram"
  if (MetricState.isGaugeState(state)) return "gauge"
  if (MetricState.isCounterState(state)) return "counter"
  return "untyped"
}

/**
 * The Prometheus text exposition (version 0.0.4) of every Effect metric of the process (rebound's own named
 * `rebound_*`, and any other the runtime records) followed by `samples` computed at scrape time.
 */
export const prometheusText = (samples: ReadonlyArray<Sample>): Effect.Effect<string> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const byName = new Map<string, Array<MetricPair.MetricPair.Untyped>>()
    for (const pair of pairs) {
      const list = byName.get(pair.metricKey.name) ?? []
      list.push(pair)
      byName.set(pair.metricKey.name, list)
    }
    const lines: Array<string> = []
    for (const name of [...byName.keys()].sort()) {
      const group = byName.get(name)!
      const help = Option.getOrElse(group[0]!.metricKey.description, () => name)
      lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${typeOf(group[0]!)}`)
      for (const pair of group) lines.push(...renderPair(pair))
    }
    for (const sample of samples) {
      lines.push(`# HELP ${sample.name} ${escapeHelp(sample.help)}`, `# TYPE ${sample.name} ${sample.type}`)
      for (const { labels, value } of sample.values)
        lines.push(`${sample.name}${labelText(Object.entries(labels))} ${numberText(value)}`)
    }
    return lines.join("\n") + "\n"
  })
