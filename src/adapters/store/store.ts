import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { domainOf, LocalPartCase, type NormalizedAddress, normalizeAddress } from "../../domain/address.js"
import { diagnosticKey, normalizeDiagnostic, type ReviewStatus } from "../../domain/qualification-log.js"
import {
  type Actor,
  type AddressState,
  countsAgainstDomain,
  type DomainWindow,
  outageSuspected,
  QuarantineEvent,
  QuarantinePolicy,
  statusOf,
  transition,
  type Transition
} from "../../domain/quarantine.js"
import type { BounceRecord, BounceReport } from "../../domain/report.js"
import * as AddressStatesRepo from "./address-states.js"
import { AddressStates, type QuarantineFilter } from "./address-states.js"
import * as BounceEventsRepo from "./bounce-events.js"
import { BounceEvents } from "./bounce-events.js"
import * as DeliveryLogRepo from "./delivery-log.js"
import { DeliveryLog } from "./delivery-log.js"
import * as DomainStatsRepo from "./domain-stats.js"
import { DomainStats } from "./domain-stats.js"
import { databaseError, StoreError } from "./errors.js"
import * as LeasesRepo from "./leases.js"
import type { AccountLeases } from "./leases.js"
import * as MailLedgerRepo from "./mail-ledger.js"
import { MailLedger } from "./mail-ledger.js"
import { migrate } from "./migrations.js"
import {
  type CorrelationSource,
  type CountedAgainst,
  type DeliveryLogEntry,
  type DomainCount,
  type HistoryEntry,
  type LedgerEntry,
  type LedgerKey,
  ledgerKeyString,
  type MailOutcome,
  type QualificationEntry,
  type SentMessage,
  type StoredAddressState,
  type StoredBounceEvent
} from "./model.js"
import * as QualificationLogRepo from "./qualification-log.js"
import { QualificationLog } from "./qualification-log.js"
import * as RawArchiveRepo from "./raw-archive.js"
import { RawArchive } from "./raw-archive.js"
import * as SentMessagesRepo from "./sent-messages.js"
import { normalizeMessageId, SentMessages } from "./sent-messages.js"
import { DAY, hourOf } from "./values.js"

const positiveDays = (value: number) =>
  Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => value })

/** How the store applies mails, beyond the quarantine policy. `Schema.decodeUnknownSync(StoreSettings)({})` gives the defaults. */
export const StoreSettings = Schema.Struct({
  policy: Schema.optionalWith(QuarantinePolicy, { default: () => Schema.decodeUnknownSync(QuarantinePolicy)({}) }),
  localPartCase: Schema.optionalWith(LocalPartCase, { default: () => "lowercase" as const }),
  /** archive the bytes of every mail, not only of those that were not applied */
  archiveAll: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  archiveRetentionDays: positiveDays(90),
  sentRetentionDays: positiveDays(90),
  domainStatsRetentionDays: positiveDays(400),
  /** how far back "same recipient, sent recently" looks for a record with no correlation (0: never guess) */
  recentRecipientDays: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { default: () => 7 }),
  /**
   * whether a record that neither a verified signature nor a registered sent message vouches for may change
   * address states and counters (false once signing keys are configured: anyone can mail a forged bounce)
   */
  trustUnverified: Schema.optionalWith(Schema.Boolean, { default: () => true })
})
export type StoreSettings = typeof StoreSettings.Type

export const defaultSettings: StoreSettings = Schema.decodeUnknownSync(StoreSettings)({})

/** One mail for `applyMail`: its ledger key, what the processor made of it, the report and the bytes. */
export interface MailToApply {
  readonly key: LedgerKey
  readonly outcome: MailOutcome
  /** the decoder's report; its records are stored for "applied" and "unqualified" mails */
  readonly report: BounceReport | null
  /** the mail's bytes: archived when the outcome is not "applied", or always with `archiveAll` */
  readonly bytes?: Uint8Array | undefined
  /** the mail's size in octets, for the ledger (default: the length of `bytes`) */
  readonly size?: number | undefined
  /** why it failed, or a note */
  readonly detail?: string | undefined
}

/** One address's change, as `applyMail` and the operator operations report it. */
export interface AddressTransition extends Transition {
  readonly address: NormalizedAddress
}

export interface MailApplied {
  readonly key: LedgerKey
  readonly outcome: MailOutcome
  /** the ledger already held this key: nothing was changed */
  readonly duplicate: boolean
  readonly events: number
  readonly transitions: ReadonlyArray<AddressTransition>
}

/** A message a sender registers; `recipient` is normalised by the store. */
export interface SentMessageInput {
  readonly messageId: string
  readonly deliveryId: string
  readonly recipient: string
  readonly sentAt?: number
}

export type OperatorAction = "release" | "allow" | "deny" | "confirm"

export interface MaintenanceReport {
  /** when the run started (Clock time) */
  readonly at: number
  readonly transitions: number
  readonly archivePurged: number
  readonly sentPurged: number
  readonly domainRowsPurged: number
}

/**
 * The store as the processor and the operator API use it. `applyMails` applies a batch of mails in ONE transaction:
 * ledger entry, raw bytes, bounce events, delivery log, address states and history, domain counters and the
 * qualification log; a mail whose key the ledger already holds changes nothing, so any step may be retried.
 */
export class Store extends Context.Tag("rebound/Store/Store")<
  Store,
  {
    readonly settings: StoreSettings
    readonly applyMail: (mail: MailToApply) => Effect.Effect<MailApplied, StoreError>
    readonly applyMails: (mails: ReadonlyArray<MailToApply>) => Effect.Effect<ReadonlyArray<MailApplied>, StoreError>
    /** Registers sent messages: correlation by Message-ID, "Sent" in the delivery log, send counts per domain. */
    readonly registerSent: (messages: ReadonlyArray<SentMessageInput>) => Effect.Effect<number, StoreError>
    /** The current state of an address (a never-seen address is valid). */
    readonly address: (address: string) => Effect.Effect<StoredAddressState, StoreError>
    /** An operator's release, allow, deny or confirm of one address, with who and why. */
    readonly operate: (
      action: OperatorAction,
      address: string,
      actor: Actor
    ) => Effect.Effect<ReadonlyArray<AddressTransition>, StoreError>
    /** Releases (or confirms) every quarantined, unlisted address that matches; returns how many changed. */
    readonly bulk: (
      action: "release" | "confirm",
      filter: QuarantineFilter,
      actor: Actor
    ) => Effect.Effect<number, StoreError>
    /** Records an operator's review of a qualification log text. */
    readonly reviewText: (textKey: string, review: ReviewStatus, actor: Actor) => Effect.Effect<boolean, StoreError>
    /** The daily job: timed releases, counter resets, and retention of the archive, sent messages and statistics. */
    readonly maintenance: Effect.Effect<MaintenanceReport, StoreError>
    /** The report of the last maintenance run, if any (for health checks, and for tests to wait on the job). */
    readonly lastMaintenance: Effect.Effect<Option.Option<MaintenanceReport>>
    /** Runs `maintenance` now and then every 24 hours on Effect's Clock (fork it, or use `layerDailyJob`). */
    readonly runDaily: Effect.Effect<never, StoreError>
  }
>() {}

/** The SHA-256 of a mail's bytes, as ledger keys hold it. */
export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

/** The ledger key of a mail. */
export const ledgerKeyOf = (account: string, uid: string, bytes: Uint8Array): LedgerKey => ({
  account,
  uid,
  sha256: sha256Hex(bytes)
})

const textKeyOf = (normalized: string) => createHash("sha256").update(diagnosticKey(normalized)).digest("hex")

const deliveryRank = { Sent: 0, Delayed: 1, Delivered: 2, Failed: 3, Complained: 4 } as const

interface ResolvedCorrelation {
  readonly source: CorrelationSource
  readonly sent: SentMessage | null
  readonly deliveryId: string | null
}

const operatorEvent = (action: OperatorAction, actor: Actor): QuarantineEvent => {
  switch (action) {
    case "release":
      return QuarantineEvent.Release({ actor })
    case "allow":
      return QuarantineEvent.Allow({ actor })
    case "deny":
      return QuarantineEvent.Deny({ actor })
    case "confirm":
      return QuarantineEvent.Confirm({ actor })
  }
}

const pageSize = 500

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

export const make = (options: Partial<StoreSettings> = {}) =>
  Effect.gen(function* () {
    const settings: StoreSettings = { ...defaultSettings, ...options }
    const policy = settings.policy
    const sql = yield* SqlClient.SqlClient
    const ledger = yield* MailLedger
    const archive = yield* RawArchive
    const events = yield* BounceEvents
    const sentMessages = yield* SentMessages
    const deliveryLog = yield* DeliveryLog
    const addressStates = yield* AddressStates
    const domainStats = yield* DomainStats
    const qualificationLog = yield* QualificationLog

    const transaction = <A, R>(effect: Effect.Effect<A, StoreError, R>): Effect.Effect<A, StoreError, R> =>
      sql
        .withTransaction(effect)
        .pipe(
          Effect.mapError((error) =>
            error._tag === "StoreError" ? error : databaseError("running a transaction")(error)
          )
        )

    const normalize = (raw: string | null): NormalizedAddress | null => {
      if (raw === null) return null
      const result = normalizeAddress(raw, settings.localPartCase)
      return Either.isRight(result) ? result.right : null
    }

    const requireAddress = (raw: string) =>
      Either.match(normalizeAddress(raw, settings.localPartCase), {
        onLeft: (error) => Effect.fail(new StoreError({ reason: "InvalidInput", message: error.message })),
        onRight: Effect.succeed
      })

    const applyEvent = (
      stored: StoredAddressState,
      event: QuarantineEvent,
      now: number
    ): { stored: StoredAddressState; transitions: ReadonlyArray<Transition> } => {
      const result = transition(stored.state, event, policy, now)
      if (result.transitions.length === 0) return { stored, transitions: [] }
      const state: AddressState = result.state
      return {
        stored: { ...stored, state, status: statusOf(state), updatedAt: now },
        transitions: result.transitions
      }
    }

    const applyMails = Effect.fn("Store.applyMails")(function* (mails: ReadonlyArray<MailToApply>) {
      const now = yield* Clock.currentTimeMillis
      const firstByKey = new Map<string, MailToApply>()
      for (const mail of mails) {
        const key = ledgerKeyString(mail.key)
        if (!firstByKey.has(key)) firstByKey.set(key, mail)
      }
      const entries = [...firstByKey.values()].map((mail): LedgerEntry => ({
        key: mail.key,
        outcome: mail.outcome,
        detail: mail.detail ?? null,
        records: mail.report?.records.length ?? 0,
        size: mail.size ?? mail.bytes?.byteLength ?? 0,
        archived: mail.bytes !== undefined && (settings.archiveAll || mail.outcome !== "applied"),
        processedAt: now
      }))

      const results = yield* transaction(
        Effect.gen(function* () {
          const claimed = yield* ledger.claim(entries)
          const claimedKeys = new Set(claimed.map((entry) => ledgerKeyString(entry.key)))
          // in the order the mails were given, which is the order their records take effect
          const fresh = [...firstByKey].flatMap(([key, mail]) => (claimedKeys.has(key) ? [mail] : []))
          yield* archive.put(
            fresh.flatMap((mail) =>
              mail.bytes !== undefined && (settings.archiveAll || mail.outcome !== "applied")
                ? [{ sha256: mail.key.sha256, bytes: mail.bytes, outcome: mail.outcome, storedAt: now }]
                : []
            )
          )

          interface Item {
            readonly mail: MailToApply
            readonly report: BounceReport
            readonly record: BounceRecord
            readonly index: number
            readonly address: NormalizedAddress | null
            readonly applies: boolean
          }
          const items: Array<Item> = []
          for (const mail of fresh) {
            if (mail.report === null || (mail.outcome !== "applied" && mail.outcome !== "unqualified")) continue
            mail.report.records.forEach((record, index) =>
              items.push({
                mail,
                report: mail.report!,
                record,
                index,
                address: normalize(record.recipient ?? record.originalRecipient),
                applies: mail.outcome === "applied"
              })
            )
          }

          const messageIdOf = (item: Item) => {
            const raw = item.record.originalMessageId ?? item.report.originalMessageId
            return raw === null ? null : normalizeMessageId(raw)
          }
          const sentById = yield* sentMessages.byMessageIds(
            items.flatMap((item) => {
              const id = messageIdOf(item)
              return id === null ? [] : [id]
            })
          )
          const guessFor = items.flatMap((item) => {
            const id = messageIdOf(item)
            const unresolved = item.record.correlation.method === "none" && (id === null || !sentById.has(id))
            return unresolved && item.address !== null && settings.recentRecipientDays > 0 ? [item.address] : []
          })
          const recent = yield* sentMessages.latestForRecipients(guessFor, now - settings.recentRecipientDays * DAY)

          const resolved = new Map<Item, ResolvedCorrelation>()
          const resolve = (item: Item): ResolvedCorrelation => {
            const known = resolved.get(item)
            if (known !== undefined) return known
            const correlation = resolveCorrelation(item)
            resolved.set(item, correlation)
            return correlation
          }
          const resolveCorrelation = (item: Item): ResolvedCorrelation => {
            const correlation = item.record.correlation
            const id = messageIdOf(item)
            const registered = id === null ? undefined : sentById.get(id)
            if (correlation.verified) {
              return { source: "signed", sent: registered ?? null, deliveryId: correlation.ids?.deliveryId ?? null }
            }
            if (registered !== undefined)
              return { source: "registered", sent: registered, deliveryId: registered.deliveryId }
            if (correlation.method !== "none") {
              return { source: "unverified", sent: null, deliveryId: correlation.ids?.deliveryId ?? null }
            }
            const guess = item.address === null ? undefined : recent.get(item.address)
            if (guess !== undefined) return { source: "recent-recipient", sent: guess, deliveryId: guess.deliveryId }
            return { source: "none", sent: null, deliveryId: null }
          }

          const eventOf = (record: BounceRecord, suspect: boolean, why: string): QuarantineEvent | null => {
            switch (record.kind) {
              case "bounce":
                return record.type === "ignored"
                  ? null
                  : QuarantineEvent.Bounce({ type: record.type, reason: record.reason, suspect, why })
              case "complaint":
                return QuarantineEvent.Complaint({ why })
              case "delivered":
                return QuarantineEvent.Delivered({ why })
              default:
                return null
            }
          }
          const countsOnAddress = (record: BounceRecord) =>
            (record.kind === "bounce" && record.type !== "ignored" && !countsAgainstDomain(record.reason, policy)) ||
            record.kind === "complaint" ||
            record.kind === "delivered"

          // an untrusted record is stored, as unverified, but changes no address and no counter
          const trusted = (item: Item) => {
            if (settings.trustUnverified) return true
            const source = resolve(item).source
            return source === "signed" || source === "registered"
          }
          const affected = items.flatMap((item) =>
            item.applies && item.address !== null && countsOnAddress(item.record) && trusted(item) ? [item.address] : []
          )
          const states = yield* addressStates.lock(affected, now)

          const guard = policy.outageGuard
          const hardDomains = [
            ...new Set(
              items.flatMap((item) =>
                item.applies &&
                item.address !== null &&
                item.record.kind === "bounce" &&
                item.record.type === "hard" &&
                trusted(item)
                  ? [domainOf(item.address)]
                  : []
              )
            )
          ]
          const windows = new Map<string, { sends: number; hardBounces: number; hardBouncesLastHour: number }>()
          if (guard.enabled && hardDomains.length > 0) {
            const currentHour = hourOf(now)
            const known = yield* domainStats.guardWindows(hardDomains, currentHour - guard.windowHours + 1, currentHour)
            for (const domain of hardDomains) {
              const window = known.get(domain)
              windows.set(domain, {
                sends: window?.sends ?? 0,
                hardBounces: window?.hardBounces ?? 0,
                hardBouncesLastHour: window?.recentHardBounces ?? 0
              })
            }
          }

          const storedEvents: Array<StoredBounceEvent> = []
          const history: Array<HistoryEntry> = []
          // counts and texts are summed here: one row per domain counter and per text, not one per record
          const counts = new Map<string, Mutable<DomainCount>>()
          const delivery: Array<DeliveryLogEntry> = []
          const sightings = new Map<string, Mutable<QualificationEntry>>()
          // the same text often comes back within a batch (one server's answer to many recipients): normalised once
          const normalizedTexts = new Map<string, string>()
          const transitionsByMail = new Map<string, Array<AddressTransition>>()
          const hour = hourOf(now)

          for (const item of items) {
            const { record, report, mail } = item
            const address = item.address
            const domain = address === null ? null : domainOf(address)
            const correlation = resolve(item)
            let countedAgainst: CountedAgainst = "none"
            let suspect = false

            if (item.applies && domain !== null && address !== null && trusted(item)) {
              const counter =
                record.kind === "bounce"
                  ? record.type === "ignored"
                    ? null
                    : countsAgainstDomain(record.reason, policy)
                      ? `ours:${record.reason}`
                      : record.type
                  : record.kind === "delay"
                    ? "delayed"
                    : record.kind === "delivered" || record.kind === "complaint"
                      ? record.kind
                      : null
              if (counter !== null) {
                const countKey = `${domain}\u0000${counter}`
                const count = counts.get(countKey)
                if (count === undefined) counts.set(countKey, { domain, hour, counter, n: 1 })
                else count.n += 1
              }
              if (countsOnAddress(record)) {
                countedAgainst = "address"
                if (record.kind === "bounce" && record.type === "hard") {
                  const window = windows.get(domain)
                  if (window !== undefined) {
                    window.hardBounces += 1
                    window.hardBouncesLastHour += 1
                    suspect = outageSuspected(window as DomainWindow, policy)
                  }
                }
                const why = [record.type, record.reason, record.status, `rule ${record.rule}`]
                  .filter((part) => part !== null)
                  .join(" ")
                const event = eventOf(record, suspect, why)
                const stored = states.get(address)!
                if (event !== null) {
                  const applied = applyEvent(stored, event, now)
                  states.set(address, applied.stored)
                  for (const t of applied.transitions) {
                    // fields named, not spread: in the store bench's profile the spreads took twice as long
                    const { at, from, to, cause, errorCount, reason, suspect, who, why } = t
                    const change = { at, from, to, cause, errorCount, reason, suspect, who, why, address }
                    history.push({
                      at,
                      from,
                      to,
                      cause,
                      errorCount,
                      reason,
                      suspect,
                      who,
                      why,
                      address,
                      mailSha256: mail.key.sha256,
                      recordIndex: item.index
                    })
                    const mailKey = ledgerKeyString(mail.key)
                    const list = transitionsByMail.get(mailKey)
                    if (list === undefined) transitionsByMail.set(mailKey, [change])
                    else list.push(change)
                  }
                }
              } else if (counter !== null && counter.startsWith("ours:")) {
                countedAgainst = "domain"
              }
            }

            if (item.applies) {
              const messageKey =
                correlation.sent?.messageId ??
                (correlation.source === "signed" && record.correlation.ids !== null
                  ? `signed:${record.correlation.ids.instance}:${record.correlation.ids.deliveryId}:${record.correlation.ids.recipientId}`
                  : null)
              const state =
                record.kind === "bounce" && record.type !== "ignored"
                  ? "Failed"
                  : record.kind === "delay"
                    ? "Delayed"
                    : record.kind === "complaint"
                      ? "Complained"
                      : record.kind === "delivered"
                        ? "Delivered"
                        : null
              if (messageKey !== null && state !== null) {
                delivery.push({
                  messageKey,
                  deliveryId: correlation.deliveryId,
                  recipient: correlation.sent?.recipient ?? address,
                  state: state === "Delivered" ? "Sent" : state,
                  rank: deliveryRank[state],
                  type: record.kind === "bounce" ? record.type : null,
                  reason: record.reason,
                  text: record.diagnostic,
                  updatedAt: now
                })
              }
            }

            if (record.diagnostic !== null && record.diagnostic.trim() !== "") {
              let text = normalizedTexts.get(record.diagnostic)
              if (text === undefined) {
                text = normalizeDiagnostic(record.diagnostic)
                normalizedTexts.set(record.diagnostic, text)
              }
              const seen = sightings.get(text)
              if (seen !== undefined) {
                seen.seen += 1
                seen.type = record.type
                seen.reason = record.reason
                seen.rule = record.rule
              } else
                sightings.set(text, {
                  textKey: textKeyOf(text),
                  text,
                  sample: record.diagnostic.slice(0, 2000),
                  status: record.status,
                  replyCode: record.replyCode,
                  type: record.type,
                  reason: record.reason,
                  rule: record.rule,
                  seen: 1,
                  firstSeen: now,
                  lastSeen: now,
                  review: record.reason === "undefined" || mail.outcome === "unqualified" ? "to-qualify" : "keep",
                  reviewedBy: null,
                  reviewedAt: null,
                  reviewNote: null
                })
            }

            storedEvents.push({
              key: mail.key,
              recordIndex: item.index,
              receivedAt: now,
              mailKind: report.kind,
              dialect: report.dialect,
              reportMessageId: report.messageId,
              reportFrom: report.from,
              reportSubject: report.subject,
              reportDate: report.date,
              kind: record.kind,
              recipient: record.recipient,
              address,
              domain,
              originalRecipient: record.originalRecipient,
              action: record.action,
              status: record.status,
              replyCode: record.replyCode,
              diagnostic: record.diagnostic,
              diagnosticType: record.diagnosticType,
              remoteMta: record.remoteMta,
              reportingMta: record.reportingMta,
              lastAttemptDate: record.lastAttemptDate,
              willRetryUntil: record.willRetryUntil,
              type: record.type,
              reason: record.reason,
              campaignReason: record.campaignReason,
              rule: record.rule,
              feedbackType: record.feedbackType,
              originalMessageId: record.originalMessageId,
              originalEnvelopeId: record.originalEnvelopeId,
              correlationMethod: record.correlation.method,
              correlationVerified: record.correlation.verified,
              correlationValue: record.correlation.value,
              correlationInstance: record.correlation.ids?.instance ?? null,
              correlationDeliveryId: correlation.deliveryId,
              correlationRecipientId: record.correlation.ids?.recipientId ?? null,
              correlationSource: correlation.source,
              sentMessageId: correlation.sent?.messageId ?? null,
              countedAgainst,
              suspect
            })
          }

          yield* events.insert(storedEvents)
          yield* addressStates.save(
            [...states.values()].filter((s) => s.updatedAt === now),
            history
          )
          yield* deliveryLog.merge(delivery)
          yield* domainStats.add([...counts.values()])
          yield* qualificationLog.record([...sightings.values()])

          const eventsByMail = new Map<string, number>()
          for (const event of storedEvents) {
            const key = ledgerKeyString(event.key)
            eventsByMail.set(key, (eventsByMail.get(key) ?? 0) + 1)
          }
          return { claimedKeys, eventsByMail, transitionsByMail }
        })
      )

      const seen = new Set<string>()
      return mails.map((mail): MailApplied => {
        const key = ledgerKeyString(mail.key)
        const first = !seen.has(key)
        seen.add(key)
        const duplicate = !(first && results.claimedKeys.has(key))
        return {
          key: mail.key,
          outcome: mail.outcome,
          duplicate,
          events: duplicate ? 0 : (results.eventsByMail.get(key) ?? 0),
          transitions: duplicate ? [] : (results.transitionsByMail.get(key) ?? [])
        }
      })
    })

    const applyMail = (mail: MailToApply) => Effect.map(applyMails([mail]), (results) => results[0]!)

    const registerSent = Effect.fn("Store.registerSent")(function* (messages: ReadonlyArray<SentMessageInput>) {
      const now = yield* Clock.currentTimeMillis
      const valid: Array<SentMessage> = []
      for (const message of messages) {
        const recipient = yield* requireAddress(message.recipient)
        valid.push({
          messageId: normalizeMessageId(message.messageId),
          deliveryId: message.deliveryId,
          recipient,
          domain: domainOf(recipient),
          sentAt: message.sentAt ?? now
        })
      }
      yield* transaction(
        Effect.gen(function* () {
          yield* sentMessages.register(valid)
          yield* deliveryLog.merge(
            valid.map((m) => ({
              messageKey: m.messageId,
              deliveryId: m.deliveryId,
              recipient: m.recipient,
              state: "Sent" as const,
              rank: deliveryRank.Sent,
              type: null,
              reason: null,
              text: null,
              updatedAt: now
            }))
          )
          yield* domainStats.add(
            valid.map((m) => ({ domain: m.domain, hour: hourOf(m.sentAt), counter: "sent", n: 1 }))
          )
        })
      )
      return valid.length
    })

    const address = Effect.fn("Store.address")(function* (raw: string) {
      const normalized = yield* requireAddress(raw)
      const now = yield* Clock.currentTimeMillis
      const found = yield* addressStates.get(normalized)
      return found._tag === "Some" ? found.value : AddressStatesRepo.unseen(normalized, now)
    })

    /** Applies one event to each address in one transaction, recording the history. */
    const applyToAddresses = (addresses: ReadonlyArray<NormalizedAddress>, event: QuarantineEvent, now: number) =>
      transaction(
        Effect.gen(function* () {
          const states = yield* addressStates.lock(addresses, now)
          const changed: Array<StoredAddressState> = []
          const history: Array<HistoryEntry> = []
          const transitions: Array<AddressTransition> = []
          for (const [address, stored] of states) {
            const applied = applyEvent(stored, event, now)
            if (applied.transitions.length === 0) continue
            changed.push(applied.stored)
            for (const t of applied.transitions) {
              history.push({ ...t, address, mailSha256: null, recordIndex: null })
              transitions.push({ ...t, address })
            }
          }
          yield* addressStates.save(changed, history)
          return transitions
        })
      )

    const operate = Effect.fn("Store.operate")(function* (action: OperatorAction, raw: string, actor: Actor) {
      const normalized = yield* requireAddress(raw)
      const now = yield* Clock.currentTimeMillis
      return yield* applyToAddresses([normalized], operatorEvent(action, actor), now)
    })

    const bulk = Effect.fn("Store.bulk")(function* (
      action: "release" | "confirm",
      filter: QuarantineFilter,
      actor: Actor
    ) {
      const now = yield* Clock.currentTimeMillis
      const effectiveFilter = action === "confirm" ? { ...filter, suspectOnly: true } : filter
      let total = 0
      while (true) {
        const page = yield* addressStates.quarantined(effectiveFilter, pageSize)
        if (page.length === 0) return total
        const transitions = yield* applyToAddresses(page, operatorEvent(action, actor), now)
        total += transitions.length
        if (transitions.length === 0) return total
      }
    })

    const reviewText = Effect.fn("Store.reviewText")(function* (textKey: string, review: ReviewStatus, actor: Actor) {
      const now = yield* Clock.currentTimeMillis
      return yield* qualificationLog.review(textKey, review, actor, now)
    })

    const lastRun = yield* Ref.make(Option.none<MaintenanceReport>())
    const maintenance = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      let transitions = 0
      while (true) {
        const due = yield* addressStates.dueForExpiry(now, policy, pageSize)
        if (due.length === 0) break
        const changed = yield* applyToAddresses(due, QuarantineEvent.Expire(), now)
        transitions += changed.length
        if (changed.length === 0) break
      }
      const archivePurged = yield* archive.purge(now - settings.archiveRetentionDays * DAY)
      const sentPurged = yield* sentMessages.purge(now - settings.sentRetentionDays * DAY)
      const domainRowsPurged = yield* domainStats.purge(hourOf(now - settings.domainStatsRetentionDays * DAY))
      const report: MaintenanceReport = { at: now, transitions, archivePurged, sentPurged, domainRowsPurged }
      yield* Ref.set(lastRun, Option.some(report))
      yield* Effect.logInfo("store maintenance done").pipe(Effect.annotateLogs({ ...report }))
      return report
    }).pipe(Effect.withSpan("Store.maintenance"))

    const runDaily = maintenance.pipe(
      Effect.catchAll((error) => Effect.logError("store maintenance failed", error)),
      Effect.repeat(Schedule.spaced("24 hours")),
      Effect.zipRight(Effect.never)
    )

    return Store.of({
      settings,
      applyMail,
      applyMails,
      registerSent,
      address,
      operate,
      bulk,
      reviewText,
      maintenance,
      lastMaintenance: Ref.get(lastRun),
      runDaily
    })
  })

/** Every repository over the current `SqlClient`. */
export const layerRepositories = Layer.mergeAll(
  MailLedgerRepo.layer,
  RawArchiveRepo.layer,
  BounceEventsRepo.layer,
  SentMessagesRepo.layer,
  DeliveryLogRepo.layer,
  AddressStatesRepo.layer,
  DomainStatsRepo.layer,
  QualificationLogRepo.layer
)

export type Repositories =
  MailLedger | RawArchive | BounceEvents | SentMessages | DeliveryLog | AddressStates | DomainStats | QualificationLog

/** What a store layer provides: the store, each repository, the leases, and the SQL client under them. */
export type StoreServices = Store | Repositories | AccountLeases | SqlClient.SqlClient

/** The store and its repositories over an `SqlClient`, after running the migrations. */
export const layerFromClient = (
  settings: Partial<StoreSettings> = {}
): Layer.Layer<StoreServices, StoreError, SqlClient.SqlClient> =>
  Layer.effect(Store, make(settings)).pipe(
    Layer.provideMerge(Layer.merge(layerRepositories, LeasesRepo.layer)),
    Layer.provideMerge(Layer.effectDiscard(migrate)),
    Layer.provideMerge(Layer.service(SqlClient.SqlClient))
  )

/** Runs the daily job for as long as the layer lives. */
export const layerDailyJob: Layer.Layer<never, never, Store> = Layer.scopedDiscard(
  Effect.flatMap(Store, (store) => Effect.forkScoped(store.runDaily))
)
