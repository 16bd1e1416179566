import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Clock, Effect } from "effect"
import { BounceEvents, type CorrelationCount } from "../../adapters/store/bounce-events.js"
import { DeliveryLog, type DeliveryTotals } from "../../adapters/store/delivery-log.js"
import { DomainStats } from "../../adapters/store/domain-stats.js"
import type { CorrelationSource } from "../../adapters/store/model.js"
import { HOUR } from "../../adapters/store/values.js"
import type { Reason } from "../../domain/report.js"
import { configOption } from "./shared.js"
import {
  CliError,
  type Column,
  type Format,
  isoTime,
  percent,
  printOut,
  renderJson,
  renderRows,
  reportFailure,
  rowObject
} from "./format.js"
import { checkedLimit, formatOption, limitOption, loadCliConfig, timeOption, timeRange, withStore } from "./options.js"

/** Adobe Campaign's delivery thresholds: above 2% hard or 10% soft bounces a delivery needs a look. */
export const defaultThresholds = { hard: 0.02, soft: 0.1 } as const

export interface ReasonRow {
  readonly reason: Reason | "(all)"
  readonly total: number
  readonly hard: number
  readonly soft: number
  readonly ignored: number
  /** the reason's share of all bounce records in the period */
  readonly share: number
}

export interface DomainRow {
  readonly domain: string
  readonly sent: number
  readonly hard: number
  readonly soft: number
  /** bounces for reasons on the sending side, counted against the domain rather than the address */
  readonly ours: number
  readonly delayed: number
  readonly delivered: number
  readonly complaints: number
  readonly hardRate: number | null
  readonly softRate: number | null
}

export interface DeliveryRow extends DeliveryTotals {
  readonly hardRate: number
  readonly softRate: number
  readonly hardFlagged: boolean
  readonly softFlagged: boolean
}

export interface CorrelationRow {
  readonly source: CorrelationSource | "(all)"
  readonly total: number
  /** records that counted against their address (changed its state) */
  readonly address: number
  /** records for reasons on the sending side, counted against the receiving domain */
  readonly domain: number
  /** records that changed nothing: untrusted (unverified with signing keys configured), or ignored */
  readonly none: number
}

const count = (key: string, header: string) => ({ key, header, align: "right" as const })
const rate = (key: string, header: string) => ({ key, header, align: "right" as const, show: percent })

const reasonColumns: ReadonlyArray<Column<ReasonRow>> = [
  { key: "reason", header: "REASON", value: (r) => r.reason },
  { ...count("total", "TOTAL"), value: (r) => r.total },
  { ...count("hard", "HARD"), value: (r) => r.hard },
  { ...count("soft", "SOFT"), value: (r) => r.soft },
  { ...count("ignored", "IGNORED"), value: (r) => r.ignored },
  { ...rate("share", "SHARE"), value: (r) => r.share }
]

const domainColumns: ReadonlyArray<Column<DomainRow>> = [
  { key: "domain", header: "DOMAIN", value: (r) => r.domain },
  { ...count("sent", "SENT"), value: (r) => r.sent },
  { ...count("hard", "HARD"), value: (r) => r.hard },
  { ...count("soft", "SOFT"), value: (r) => r.soft },
  { ...count("ours", "OURS"), value: (r) => r.ours },
  { ...count("delayed", "DELAYED"), value: (r) => r.delayed },
  { ...count("delivered", "DELIVERED"), value: (r) => r.delivered },
  { ...count("complaints", "COMPLAINTS"), value: (r) => r.complaints },
  { ...rate("hardRate", "HARD RATE"), value: (r) => r.hardRate },
  { ...rate("softRate", "SOFT RATE"), value: (r) => r.softRate }
]

const correlationColumns: ReadonlyArray<Column<CorrelationRow>> = [
  { key: "source", header: "CORRELATION", value: (r) => r.source },
  { ...count("total", "TOTAL"), value: (r) => r.total },
  { ...count("address", "ADDRESS"), value: (r) => r.address },
  { ...count("domain", "DOMAIN"), value: (r) => r.domain },
  { ...count("none", "NONE"), value: (r) => r.none }
]

const deliveryColumns: ReadonlyArray<Column<DeliveryRow>> = [
  { key: "deliveryId", header: "DELIVERY", value: (r) => r.deliveryId },
  { ...count("messages", "MESSAGES"), value: (r) => r.messages },
  { ...count("hard", "HARD"), value: (r) => r.hard },
  { ...count("soft", "SOFT"), value: (r) => r.soft },
  { ...count("delayed", "DELAYED"), value: (r) => r.delayed },
  { ...count("complaints", "COMPLAINTS"), value: (r) => r.complaints },
  { ...rate("hardRate", "HARD RATE"), value: (r) => r.hardRate },
  { ...rate("softRate", "SOFT RATE"), value: (r) => r.softRate },
  { key: "hardFlagged", header: "HARD FLAG", value: (r) => r.hardFlagged, only: "data" },
  { key: "softFlagged", header: "SOFT FLAG", value: (r) => r.softFlagged, only: "data" },
  {
    key: "flags",
    header: "FLAGS",
    value: (r) => [r.hardFlagged ? "HARD" : "", r.softFlagged ? "SOFT" : ""].filter((f) => f !== "").join(" ") || null,
    show: (value) => (value === null ? "" : String(value)),
    only: "table"
  },
  { key: "lastUpdate", header: "LAST UPDATE", value: (r) => isoTime(r.lastUpdate) }
]

/**
 * Counts of (key, bucket) pairs as one row per key: its count in each bucket and their total, the largest total
 * first (then by key); and each bucket's sum over the rows. A count in no bucket adds to none.
 */
const pivot = <K extends string, B extends string>(
  counts: ReadonlyArray<{ readonly key: K; readonly bucket: string; readonly count: number }>,
  buckets: ReadonlyArray<B>
) => {
  const zero = () => Object.fromEntries(buckets.map((bucket) => [bucket, 0])) as Record<B, number>
  const byKey = new Map<K, Record<B, number>>()
  for (const c of counts) {
    const row = byKey.get(c.key) ?? zero()
    if (buckets.includes(c.bucket as B)) row[c.bucket as B] += c.count
    byKey.set(c.key, row)
  }
  const rows = [...byKey]
    .map(([key, n]) => ({ key, n, total: buckets.reduce((total, bucket) => total + n[bucket], 0) }))
    .sort((a, b) => b.total - a.total || (a.key < b.key ? -1 : 1))
  const sums = zero()
  for (const row of rows) for (const bucket of buckets) sums[bucket] += row.n[bucket]
  return { rows, sums }
}

/** Per reason: its records by type and its share of all bounce records; the totals row comes last. */
export const reasonRows = (
  counts: ReadonlyArray<{ readonly type: string; readonly reason: Reason; readonly count: number }>
): { readonly rows: ReadonlyArray<ReasonRow>; readonly totals: ReasonRow } => {
  const all = counts.reduce((sum, c) => sum + c.count, 0)
  const share = (n: number) => (all === 0 ? 0 : n / all)
  const { rows, sums } = pivot(
    counts.map((c) => ({ key: c.reason, bucket: c.type, count: c.count })),
    ["hard", "soft", "ignored"] as const
  )
  return {
    rows: rows.map(({ key, n, total }): ReasonRow => ({ reason: key, total, ...n, share: share(total) })),
    totals: { reason: "(all)", total: all, ...sums, share: 1 }
  }
}

/** Per correlation source: its records by whom they counted against; the totals row comes last. */
export const correlationRows = (
  counts: ReadonlyArray<CorrelationCount>
): { readonly rows: ReadonlyArray<CorrelationRow>; readonly totals: CorrelationRow } => {
  const { rows, sums } = pivot(
    counts.map((c) => ({ key: c.source, bucket: c.countedAgainst, count: c.count })),
    ["address", "domain", "none"] as const
  )
  return {
    rows: rows.map(({ key, n, total }): CorrelationRow => ({ source: key, total, ...n })),
    totals: { source: "(all)", total: sums.address + sums.domain + sums.none, ...sums }
  }
}

/** Per receiving domain: its counters and its hard and soft rates over the sends recorded for it. */
export const domainRows = (
  totals: ReadonlyArray<{ readonly domain: string; readonly counters: Readonly<Record<string, number>> }>
): ReadonlyArray<DomainRow> =>
  totals
    .map(({ counters, domain }): DomainRow => {
      const n = (name: string) => counters[name] ?? 0
      const ours = Object.entries(counters)
        .filter(([name]) => name.startsWith("ours:"))
        .reduce((sum, [, value]) => sum + value, 0)
      const sent = n("sent")
      return {
        domain,
        sent,
        hard: n("hard"),
        soft: n("soft"),
        ours,
        delayed: n("delayed"),
        delivered: n("delivered"),
        complaints: n("complaint"),
        hardRate: sent === 0 ? null : n("hard") / sent,
        softRate: sent === 0 ? null : n("soft") / sent
      }
    })
    .sort(
      (a, b) =>
        b.hard + b.soft + b.ours - (a.hard + a.soft + a.ours) || b.sent - a.sent || (a.domain < b.domain ? -1 : 1)
    )

/** Per delivery: hard and soft rates over its messages, flagged above the thresholds. */
export const deliveryRows = (
  totals: ReadonlyArray<DeliveryTotals>,
  thresholds: { readonly hard: number; readonly soft: number }
): ReadonlyArray<DeliveryRow> =>
  totals.map((delivery) => {
    const hardRate = delivery.messages === 0 ? 0 : delivery.hard / delivery.messages
    const softRate = delivery.messages === 0 ? 0 : delivery.soft / delivery.messages
    return {
      ...delivery,
      hardRate,
      softRate,
      hardFlagged: hardRate > thresholds.hard,
      softFlagged: softRate > thresholds.soft
    }
  })

const printReport = <Row>(
  format: Format,
  title: string,
  meta: Record<string, unknown>,
  columns: ReadonlyArray<Column<Row>>,
  rows: ReadonlyArray<Row>,
  totals?: Row
) => {
  switch (format) {
    case "json":
      return printOut(
        renderJson({
          ...meta,
          rows: rows.map((row) => rowObject(columns, row)),
          ...(totals === undefined ? {} : { totals: rowObject(columns, totals) })
        })
      )
    case "csv":
      return printOut(renderRows("csv", columns, rows))
    case "table":
      return printOut(`${title}\n\n${renderRows("table", columns, totals === undefined ? rows : [...rows, totals])}`)
  }
}

const thresholdOption = (name: string, value: number, kind: string) =>
  Options.float(name).pipe(
    Options.withDescription(`flag deliveries whose ${kind} bounce rate is above this fraction (default ${value})`),
    Options.withDefault(value)
  )

/** `rebound report`: bounce counts and rates by reason, receiving domain or delivery. */
export const reportCommand = Command.make(
  "report",
  {
    config: configOption,
    since: timeOption("since", "the start of the period (default: 7d, a week ago)"),
    until: timeOption("until", "the end of the period (default: now)"),
    by: Options.choice("by", ["reason", "domain", "delivery", "correlation"] as const).pipe(
      Options.withDescription(
        "reason: bounce records per reason and type; domain: per receiving domain; delivery: per delivery id; correlation: bounce and complaint records per correlation source (signed, registered, recent-recipient, unverified, none) and whom they counted against (with signing keys, unverified ones change nothing)"
      ),
      Options.withDefault("reason" as const)
    ),
    hardThreshold: thresholdOption("hard-threshold", defaultThresholds.hard, "hard"),
    softThreshold: thresholdOption("soft-threshold", defaultThresholds.soft, "soft"),
    limit: limitOption(100),
    format: formatOption
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        yield* checkedLimit(options.limit)
        for (const threshold of [options.hardThreshold, options.softThreshold]) {
          if (!(threshold >= 0 && threshold <= 1)) {
            return yield* new CliError({ reason: "Usage", message: "a threshold is a fraction between 0 and 1" })
          }
        }
        const now = yield* Clock.currentTimeMillis
        const range = yield* timeRange(options.since, options.until, now, "7d")
        const from = range.from ?? now
        // without --until the period includes this very millisecond
        const to = range.to ?? now + 1
        yield* withStore(
          config,
          Effect.gen(function* () {
            switch (options.by) {
              case "reason": {
                const { rows, totals } = reasonRows(yield* (yield* BounceEvents).reasonCounts({ from, to }))
                return yield* printReport(
                  options.format,
                  `Bounce records by reason, ${isoTime(from)} to ${isoTime(to)}`,
                  { by: "reason", from: isoTime(from), to: isoTime(to) },
                  reasonColumns,
                  rows.slice(0, options.limit),
                  totals
                )
              }
              case "correlation": {
                const { rows, totals } = correlationRows(yield* (yield* BounceEvents).correlationCounts({ from, to }))
                return yield* printReport(
                  options.format,
                  `Bounce and complaint records by correlation, ${isoTime(from)} to ${isoTime(to)} (counted against: address, domain, or none)`,
                  { by: "correlation", from: isoTime(from), to: isoTime(to) },
                  correlationColumns,
                  rows,
                  totals
                )
              }
              case "domain": {
                // domain counters are hourly: the period widens to whole hours
                const sinceHour = Math.floor(from / HOUR)
                const untilHour = Math.ceil(to / HOUR)
                const rows = domainRows(yield* (yield* DomainStats).totals({ sinceHour, untilHour }))
                return yield* printReport(
                  options.format,
                  `Receiving domains, ${isoTime(sinceHour * HOUR)} to ${isoTime(untilHour * HOUR)} (rates over recorded sends)`,
                  { by: "domain", from: isoTime(sinceHour * HOUR), to: isoTime(untilHour * HOUR) },
                  domainColumns,
                  rows.slice(0, options.limit)
                )
              }
              case "delivery": {
                const thresholds = { hard: options.hardThreshold, soft: options.softThreshold }
                const rows = deliveryRows(
                  yield* (yield* DeliveryLog).totals({ from, to, limit: options.limit }),
                  thresholds
                )
                return yield* printReport(
                  options.format,
                  `Deliveries active ${isoTime(from)} to ${isoTime(to)}; flagged above ${percent(thresholds.hard)} hard or ${percent(thresholds.soft)} soft`,
                  {
                    by: "delivery",
                    from: isoTime(from),
                    to: isoTime(to),
                    hardThreshold: thresholds.hard,
                    softThreshold: thresholds.soft
                  },
                  deliveryColumns,
                  rows
                )
              }
            }
          })
        )
      })
    )
).pipe(
  Command.withDescription(
    "Bounce counts and rates over a period: per reason (hard/soft/ignored), per receiving domain, per delivery, or per correlation source (how many bounces were unverified and changed nothing)."
  )
)
