import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { AddressStates, type QuarantineFilter } from "../../adapters/store/address-states.js"
import type { StoreError } from "../../adapters/store/errors.js"
import type { HistoryEntry, QualificationEntry, StoredAddressState } from "../../adapters/store/model.js"
import { QualificationLog } from "../../adapters/store/qualification-log.js"
import { normalizeMessageId } from "../../adapters/store/sent-messages.js"
import { type MailToApply, sha256Hex, Store } from "../../adapters/store/store.js"
import { WebhookOutbox } from "../../adapters/store/webhook-outbox.js"
import { type NormalizedAddress, normalizeAddress } from "../../domain/address.js"
import { isSendable, type Transition } from "../../domain/quarantine.js"
import type { BounceReport } from "../../domain/report.js"
import { AlertLog } from "../alerts/alert-log.js"
import { accountSamples, prometheusText, type Sample } from "../metrics.js"
import { type AccountStatus, ProcessorStatus } from "../status.js"
import {
  type AccountState,
  type AddressView,
  type AlertView,
  BadRequest,
  type BounceView,
  Caller,
  type HistoryLine,
  NotFound,
  NotReady,
  ReboundApi,
  Unavailable
} from "./api.js"
import { batchNormalizer } from "./batch-normalize.js"
import { packageVersion } from "./package-version.js"
import { type BounceRow, DAY, HOUR, ReadModel } from "./read-model.js"

const version = packageVersion()

const iso = (millis: number): string => new Date(millis).toISOString()
const isoOrNull = (millis: number | null): string | null => (millis === null ? null : iso(millis))

export const addressView = (stored: StoredAddressState): AddressView => {
  const state = stored.state
  return {
    address: stored.address,
    domain: stored.domain,
    status: stored.status,
    sendable: isSendable(state),
    list: state.list,
    errorCount: state.errorCount,
    lastErrorAt: isoOrNull(state.lastErrorAt),
    lastErrorReason: state.lastErrorReason,
    lastErrorType: state.lastErrorType,
    quarantine: state.quarantine === null ? null : { ...state.quarantine, at: iso(state.quarantine.at) },
    updatedAt: iso(stored.updatedAt)
  }
}

const historyLine = (entry: Transition): HistoryLine => ({
  at: iso(entry.at),
  from: entry.from,
  to: entry.to,
  cause: entry.cause,
  errorCount: entry.errorCount,
  reason: entry.reason,
  suspect: entry.suspect,
  who: entry.who,
  why: entry.why
})

const bounceView = (row: BounceRow): BounceView => ({ ...row, receivedAt: iso(row.receivedAt) }) as BounceView

const accountState = (status: AccountStatus): AccountState => ({
  ...status,
  lastPollAt: isoOrNull(status.lastPollAt),
  lastSuccessAt: isoOrNull(status.lastSuccessAt)
})

const qualificationView = (entry: QualificationEntry) => ({
  ...entry,
  firstSeen: iso(entry.firstSeen),
  lastSeen: iso(entry.lastSeen),
  reviewedAt: isoOrNull(entry.reviewedAt)
})

export const alertView = (alert: {
  readonly id: number
  readonly key: string
  readonly kind: string
  readonly subject: string
  readonly severity: "warning" | "critical"
  readonly message: string
  readonly details: unknown
  readonly openedAt: number
  readonly updatedAt: number
  readonly resolvedAt: number | null
}): AlertView => ({
  ...alert,
  openedAt: iso(alert.openedAt),
  updatedAt: iso(alert.updatedAt),
  resolvedAt: isoOrNull(alert.resolvedAt)
})

/** A store failure: the caller's mistake (400), or the database (503). */
const storeFailure = (error: StoreError) =>
  error.reason === "InvalidInput" ? new BadRequest({ message: error.message }) : unavailable(error)

const unavailable = (error: StoreError | SqlError) => new Unavailable({ message: `the store failed: ${error.message}` })

const orUnavailable = <A, R>(effect: Effect.Effect<A, StoreError | SqlError, R>) => Effect.mapError(effect, unavailable)

/** A range [from, to) from optional query parameters: the last `days` days up to now by default. */
const rangeOf = (from: number | undefined, to: number | undefined, days = 7) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    const end = to ?? now
    return { from: from ?? end - days * DAY, to: end }
  })

const rate = (part: number, whole: number) => (whole === 0 ? 0 : part / whole)

const cursorOf = (id: number) => Buffer.from(`b:${id}`).toString("base64url")
const idOfCursor = (cursor: string): number | null => {
  const match = /^b:(\d+)$/.exec(Buffer.from(cursor, "base64url").toString("utf8"))
  return match === null ? null : Number(match[1])
}

const systemGroup = HttpApiBuilder.group(ReboundApi, "system", (handlers) =>
  Effect.gen(function* () {
    const readModel = yield* ReadModel
    const status = yield* ProcessorStatus
    const started = yield* Clock.currentTimeMillis
    return handlers
      .handle("health", () =>
        Effect.map(Clock.currentTimeMillis, (now) => ({
          status: "ok" as const,
          version,
          uptimeSeconds: Math.round((now - started) / 1000)
        }))
      )
      .handle("ready", () =>
        Effect.gen(function* () {
          const store = yield* readModel.ping.pipe(
            Effect.timeout("5 seconds"),
            Effect.as({ reachable: true, error: null }),
            Effect.catchAll((error) => Effect.succeed({ reachable: false, error: String(error.message ?? error) }))
          )
          const accounts = (yield* status.accounts).map(accountState)
          const readiness = { ready: store.reachable, store, accounts }
          if (!store.reachable)
            return yield* Effect.fail(new NotReady({ message: `the store is unreachable: ${store.error}`, readiness }))
          return readiness
        })
      )
  })
)

const metricsGroup = HttpApiBuilder.group(ReboundApi, "metrics", (handlers) =>
  Effect.gen(function* () {
    const status = yield* ProcessorStatus
    const addressStates = yield* AddressStates
    const outbox = yield* WebhookOutbox
    const alerts = yield* AlertLog
    return handlers.handle("metrics", () =>
      Effect.gen(function* () {
        const accounts = yield* status.accounts
        const samples: Array<Sample> = [...accountSamples(accounts)]
        const counts = yield* Effect.option(addressStates.counts)
        if (Option.isSome(counts))
          samples.push({
            name: "rebound_addresses",
            help: "Addresses known to the store, by status.",
            type: "gauge",
            values: Object.entries(counts.value).map(([status, n]) => ({ labels: { status }, value: n ?? 0 }))
          })
        const outboxCounts = yield* Effect.option(outbox.counts)
        if (Option.isSome(outboxCounts))
          samples.push({
            name: "rebound_webhook_outbox",
            help: "Webhook deliveries in the outbox, by state.",
            type: "gauge",
            values: (["pending", "delivered", "failed"] as const).map((state) => ({
              labels: { state },
              value: outboxCounts.value[state] ?? 0
            }))
          })
        const open = yield* Effect.option(alerts.openAlerts)
        if (Option.isSome(open))
          samples.push({
            name: "rebound_alerts_open",
            help: "Open alerts.",
            type: "gauge",
            values: [{ labels: {}, value: open.value.length }]
          })
        return yield* prometheusText(samples)
      })
    )
  })
)

const addressesGroup = HttpApiBuilder.group(ReboundApi, "addresses", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const addressStates = yield* AddressStates
    const readModel = yield* ReadModel
    return handlers
      .handle("get", ({ path }) =>
        Effect.gen(function* () {
          const stored = yield* store.address(path.address).pipe(Effect.mapError(storeFailure))
          const history = yield* orUnavailable(addressStates.history(stored.address))
          const recent = yield* orUnavailable(readModel.bounces({ address: stored.address, limit: 20 }))
          return {
            ...addressView(stored),
            history: history.map(historyLine),
            recentBounces: recent.map(bounceView)
          }
        })
      )
      .handle("check", ({ payload }) =>
        Effect.gen(function* () {
          const invalid: Array<{ address: string; message: string }> = []
          const inputsOf = new Map<NormalizedAddress, Array<string>>()
          const normalize = batchNormalizer(store.settings.localPartCase)
          for (const raw of payload.addresses) {
            const normalized = normalize(raw)
            if (Either.isLeft(normalized)) {
              invalid.push({ address: raw, message: normalized.left.message })
              continue
            }
            const inputs = inputsOf.get(normalized.right)
            if (inputs === undefined) inputsOf.set(normalized.right, [raw])
            else inputs.push(raw)
          }
          const rows = yield* orUnavailable(readModel.suppressed([...inputsOf.keys()]))
          const suppress = rows.flatMap((row) =>
            (inputsOf.get(row.address) ?? []).map((address) => ({
              address,
              status: row.status,
              reason: row.status === "denylisted" ? "denylisted" : (row.reason ?? "quarantined"),
              since: isoOrNull(row.quarantinedAt),
              suspect: row.suspect
            }))
          )
          return { checked: payload.addresses.length, suppress, invalid }
        })
      )
  })
)

const addressAdminGroup = HttpApiBuilder.group(ReboundApi, "addressAdmin", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const operate =
      (action: "release" | "allow" | "deny" | "confirm") =>
      ({ path, payload }: { path: { address: string }; payload: { why?: string | undefined } }) =>
        Effect.gen(function* () {
          const caller = yield* Caller
          const why = payload.why?.trim() || `${action} from the API`
          const transitions = yield* store
            .operate(action, path.address, { who: caller.name, why })
            .pipe(Effect.mapError(storeFailure))
          const stored = yield* store.address(path.address).pipe(Effect.mapError(storeFailure))
          yield* Effect.logInfo(`address ${action}`).pipe(
            Effect.annotateLogs({ address: stored.address, by: caller.name, changed: transitions.length > 0 })
          )
          return {
            address: addressView(stored),
            changed: transitions.length > 0,
            transitions: transitions.map(historyLine)
          }
        })
    return handlers
      .handle("release", operate("release"))
      .handle("allow", operate("allow"))
      .handle("deny", operate("deny"))
      .handle("confirm", operate("confirm"))
      .handle("bulkRelease", ({ payload }) =>
        Effect.gen(function* () {
          const { why, ...given } = payload
          const filter = Object.fromEntries(
            Object.entries(given).filter(([, value]) => value !== undefined)
          ) as QuarantineFilter
          if (Object.values(filter).every((value) => value === false))
            return yield* Effect.fail(
              new BadRequest({ message: "give at least one filter: domain, reason, from, to or suspectOnly" })
            )
          const caller = yield* Caller
          const released = yield* store
            .bulk("release", filter, { who: caller.name, why: why?.trim() || "bulk release from the API" })
            .pipe(Effect.mapError(storeFailure))
          yield* Effect.logInfo("bulk release").pipe(Effect.annotateLogs({ ...filter, released, by: caller.name }))
          return { released }
        })
      )
  })
)

const invalidRecipients = (
  entries: ReadonlyArray<{ readonly recipient: string }>,
  localPartCase: "lowercase" | "preserve"
) => {
  const problems: Array<string> = []
  entries.forEach((entry, index) => {
    const normalized = normalizeAddress(entry.recipient, localPartCase)
    if (Either.isLeft(normalized)) problems.push(`#${index}: ${normalized.left.message}`)
  })
  return problems
}

const badBatch = (problems: ReadonlyArray<string>) =>
  new BadRequest({
    message: `${problems.length} entr${problems.length === 1 ? "y has" : "ies have"} an invalid recipient, nothing was recorded: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? "; ..." : ""}`
  })

/** A delivery the sender reports, as the one-record report `Store.applyMails` takes. */
export const deliveredMail = (messageId: string, recipient: string, deliveredAt: number | undefined): MailToApply => {
  const id = normalizeMessageId(messageId)
  const report: BounceReport = {
    kind: "delivered",
    dialect: "api",
    subject: null,
    from: null,
    messageId: null,
    date: null,
    reportingMta: null,
    arrivalDate: null,
    originalEnvelopeId: null,
    originalMessageId: id,
    records: [
      {
        kind: "delivered",
        recipient,
        originalRecipient: null,
        action: "delivered",
        status: "2.0.0",
        replyCode: null,
        diagnostic: null,
        diagnosticType: null,
        remoteMta: null,
        reportingMta: null,
        lastAttemptDate: deliveredAt === undefined ? null : new Date(deliveredAt).toUTCString(),
        willRetryUntil: null,
        type: "ignored",
        reason: "delivered",
        campaignReason: "Error ignored",
        rule: "api-delivery-success",
        feedbackType: null,
        originalMessageId: id,
        originalEnvelopeId: null,
        // matched against registered messages only: a delivery report never guesses which message it was
        correlation: { method: "message-id", verified: false, value: id, ids: null }
      }
    ]
  }
  return {
    key: { account: "api", uid: `delivered:${id}`, sha256: sha256Hex(Buffer.from(JSON.stringify([id, recipient]))) },
    outcome: "applied",
    report
  }
}

const messagesGroup = HttpApiBuilder.group(ReboundApi, "messages", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    return handlers
      .handle("register", ({ payload }) =>
        Effect.gen(function* () {
          const problems = invalidRecipients(payload.messages, store.settings.localPartCase)
          if (problems.length > 0) return yield* Effect.fail(badBatch(problems))
          const registered = yield* store
            .registerSent(
              payload.messages.map((m) => ({
                messageId: m.messageId,
                deliveryId: m.deliveryId,
                recipient: m.recipient,
                ...(m.sentAt === undefined ? {} : { sentAt: m.sentAt })
              }))
            )
            .pipe(Effect.mapError(storeFailure))
          return { registered }
        })
      )
      .handle("delivered", ({ payload }) =>
        Effect.gen(function* () {
          const problems = invalidRecipients(payload.deliveries, store.settings.localPartCase)
          if (problems.length > 0) return yield* Effect.fail(badBatch(problems))
          const results = yield* store
            .applyMails(payload.deliveries.map((d) => deliveredMail(d.messageId, d.recipient, d.deliveredAt)))
            .pipe(Effect.mapError(storeFailure))
          const duplicates = results.filter((result) => result.duplicate).length
          return { applied: results.length - duplicates, duplicates }
        })
      )
  })
)

const bouncesGroup = HttpApiBuilder.group(ReboundApi, "bounces", (handlers) =>
  Effect.gen(function* () {
    const readModel = yield* ReadModel
    const store = yield* Store
    return handlers
      .handle("list", ({ urlParams }) =>
        Effect.gen(function* () {
          const { cursor, limit, address, ...filter } = urlParams
          const before = cursor === undefined ? undefined : idOfCursor(cursor)
          if (before === null)
            return yield* Effect.fail(new BadRequest({ message: "the cursor is not one this API gave" }))
          let normalized: string | undefined
          if (address !== undefined) {
            const parsed = normalizeAddress(address, store.settings.localPartCase)
            if (Either.isLeft(parsed)) return yield* Effect.fail(new BadRequest({ message: parsed.left.message }))
            normalized = parsed.right
          }
          const rows = yield* orUnavailable(
            readModel.bounces({ ...filter, address: normalized, before, limit: limit + 1 })
          )
          const page = rows.slice(0, limit)
          return {
            items: page.map(bounceView),
            nextCursor: rows.length > limit ? cursorOf(page[page.length - 1]!.id) : null
          }
        })
      )
      .handle("reasons", ({ urlParams }) =>
        Effect.gen(function* () {
          const range = yield* rangeOf(urlParams.from, urlParams.to)
          const rows = yield* orUnavailable(readModel.reasons(range.from, range.to, urlParams.limit))
          return { from: iso(range.from), to: iso(range.to), rows: rows as any }
        })
      )
      .handle("domains", ({ urlParams }) =>
        Effect.gen(function* () {
          const range = yield* rangeOf(urlParams.from, urlParams.to)
          const totals = yield* orUnavailable(readModel.domains(range.from, range.to))
          const rows = totals
            .map(({ counters, domain }) => {
              const count = (name: string) => counters[name] ?? 0
              const ours = Object.entries(counters)
                .filter(([name]) => name.startsWith("ours:"))
                .reduce((sum, [, n]) => sum + n, 0)
              const sent = count("sent")
              return {
                domain,
                sent,
                hard: count("hard"),
                soft: count("soft"),
                delayed: count("delayed"),
                delivered: count("delivered"),
                complaints: count("complaint"),
                ours,
                hardRate: sent === 0 ? null : count("hard") / sent,
                softRate: sent === 0 ? null : count("soft") / sent
              }
            })
            .sort((a, b) => b.hard + b.soft + b.ours - (a.hard + a.soft + a.ours) || b.sent - a.sent)
            .slice(0, urlParams.limit)
          return { from: iso(range.from), to: iso(range.to), rows }
        })
      )
      .handle("deliveries", ({ urlParams }) =>
        Effect.gen(function* () {
          const range = yield* rangeOf(urlParams.from, urlParams.to)
          const rows = yield* orUnavailable(readModel.deliveries(range.from, range.to, urlParams.limit))
          return {
            from: iso(range.from),
            to: iso(range.to),
            rows: rows.map((row) => ({
              ...row,
              hardRate: rate(row.hard, row.messages),
              softRate: rate(row.soft, row.messages),
              lastUpdate: iso(row.lastUpdate)
            }))
          }
        })
      )
      .handle("timeline", ({ urlParams }) =>
        Effect.gen(function* () {
          const bucket = urlParams.bucket === "day" ? DAY : HOUR
          const range = yield* rangeOf(urlParams.from, urlParams.to, urlParams.bucket === "day" ? 30 : 2)
          if ((range.to - range.from) / bucket > 2000)
            return yield* Effect.fail(new BadRequest({ message: "the range holds more than 2,000 buckets" }))
          const counts = yield* orUnavailable(readModel.timeline(range.from, range.to, bucket))
          const first = Math.floor(range.from / bucket)
          const last = Math.floor((range.to - 1) / bucket)
          const buckets = new Map<
            number,
            { hard: number; soft: number; ignored: number; delayed: number; complaints: number }
          >()
          for (let b = first; b <= last; b++)
            buckets.set(b, { hard: 0, soft: 0, ignored: 0, delayed: 0, complaints: 0 })
          for (const count of counts) {
            const row = buckets.get(count.bucket)
            if (row === undefined) continue
            if (count.kind === "delay") row.delayed += count.n
            else if (count.kind === "complaint") row.complaints += count.n
            else if (count.type === "hard") row.hard += count.n
            else if (count.type === "soft") row.soft += count.n
            else row.ignored += count.n
          }
          return {
            from: iso(range.from),
            to: iso(range.to),
            rows: [...buckets].map(([b, row]) => ({ at: iso(b * bucket), ...row }))
          }
        })
      )
  })
)

const operationsGroup = HttpApiBuilder.group(ReboundApi, "operations", (handlers) =>
  Effect.gen(function* () {
    const readModel = yield* ReadModel
    const qualificationLog = yield* QualificationLog
    const alerts = yield* AlertLog
    const status = yield* ProcessorStatus
    const outbox = yield* WebhookOutbox
    return handlers
      .handle("session", () => Caller)
      .handle("quarantines", ({ urlParams }) =>
        Effect.gen(function* () {
          const range = yield* rangeOf(urlParams.from, urlParams.to)
          const rows = yield* orUnavailable(readModel.quarantines(range.from, range.to, urlParams.limit))
          return {
            from: iso(range.from),
            to: iso(range.to),
            rows: rows.map((entry: HistoryEntry) => ({ address: entry.address, ...historyLine(entry) }))
          }
        })
      )
      .handle("qualification", ({ urlParams }) =>
        Effect.map(
          orUnavailable(
            qualificationLog.list({
              ...(urlParams.review === undefined ? {} : { review: urlParams.review }),
              limit: urlParams.limit
            })
          ),
          (rows) => ({ rows: rows.map(qualificationView) })
        )
      )
      .handle("alerts", ({ urlParams }) =>
        Effect.map(orUnavailable(alerts.list(urlParams)), (rows) => ({ rows: rows.map(alertView) }))
      )
      .handle("accounts", () => Effect.map(status.accounts, (rows) => ({ rows: rows.map(accountState) })))
      .handle("webhooks", ({ urlParams }) =>
        Effect.gen(function* () {
          const counts = yield* orUnavailable(outbox.counts)
          const rows = yield* orUnavailable(
            outbox.list({
              ...(urlParams.state === undefined ? {} : { state: urlParams.state }),
              limit: urlParams.limit
            })
          )
          return {
            counts: { pending: counts.pending ?? 0, delivered: counts.delivered ?? 0, failed: counts.failed ?? 0 },
            rows: rows.map((row) => ({
              id: row.id,
              eventId: row.eventId,
              eventType: row.eventType,
              url: row.url,
              state: row.state,
              attempts: row.attempts,
              createdAt: iso(row.createdAt),
              nextAttemptAt: row.state === "pending" ? iso(row.nextAttemptAt) : null,
              lastStatus: row.lastStatus,
              lastError: row.lastError
            }))
          }
        })
      )
  })
)

const operationsAdminGroup = HttpApiBuilder.group(ReboundApi, "operationsAdmin", (handlers) =>
  Effect.gen(function* () {
    const store = yield* Store
    const qualificationLog = yield* QualificationLog
    const outbox = yield* WebhookOutbox
    return handlers
      .handle("review", ({ path, payload }) =>
        Effect.gen(function* () {
          const caller = yield* Caller
          const found = yield* store
            .reviewText(path.textKey, payload.review, { who: caller.name, why: payload.note?.trim() ?? "" })
            .pipe(Effect.mapError(unavailable))
          if (!found)
            return yield* Effect.fail(new NotFound({ message: `no text ${path.textKey} in the qualification log` }))
          const entry = yield* orUnavailable(qualificationLog.get(path.textKey))
          return qualificationView(Option.getOrThrow(entry))
        })
      )
      .handle("retryWebhooks", () =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          return { requeued: yield* orUnavailable(outbox.retryFailed(now)) }
        })
      )
  })
)

/** Every group's handlers; needs the store, the read model, the alert log, the outbox and the processor status. */
export const layerHandlers = Layer.mergeAll(
  systemGroup,
  metricsGroup,
  addressesGroup,
  addressAdminGroup,
  messagesGroup,
  bouncesGroup,
  operationsGroup,
  operationsAdminGroup
)
