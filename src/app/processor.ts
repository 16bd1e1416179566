import {
  Cause,
  Chunk,
  Clock,
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Random,
  Ref,
  Stream
} from "effect"
import { Forwarder } from "../adapters/forward/forwarder.js"
import type { Mailbox, MailboxEntry, MailboxError } from "../adapters/mailbox/mailbox.js"
import { parseMail } from "../adapters/mime/parse.js"
import { MailLedger } from "../adapters/store/mail-ledger.js"
import type { MailOutcome } from "../adapters/store/model.js"
import { type MailToApply, ledgerKeyOf, Store } from "../adapters/store/store.js"
import type { StoreError } from "../adapters/store/errors.js"
import { type DecodeOptions, decodeBounce } from "../domain/decode.js"
import type { TokenVerifier } from "../domain/codec.js"
import type { BounceReport } from "../domain/report.js"
import type { Account, UnappliedPolicy } from "./config.js"
import * as Metrics from "./metrics.js"
import { Leasing } from "./leasing.js"
import { initialAccountStatus, ProcessorStatus } from "./status.js"
import { StopSignal } from "./stop.js"
import { takeUntilEffectChunked } from "./streams.js"

/** One configured account and its mailbox. */
export interface AccountHandle {
  readonly account: Account
  readonly mailbox: Context.Tag.Service<Mailbox>
}

/** Where the pipeline can be made to crash, for the tests that prove a crash loses and doubles nothing. */
export type Crashpoint = "after-retrieve" | "after-decode" | "after-apply" | "after-mark" | "before-commit"

/** A crash injected at a step of the pipeline (tests only). */
export class InjectedCrash extends Data.TaggedError("InjectedCrash")<{ readonly at: Crashpoint }> {}

/**
 * Fault injection for tests: called at each step; the default does nothing. "after-retrieve" comes with each chunk of
 * mails the mailbox gives, before it is decoded; "after-decode" with each decoded batch, before the store. Ledger entry
 * and effects are written in one transaction ("after-apply"), so there is no step between them to crash at.
 */
export class Crashpoints extends Context.Reference<Crashpoints>()("rebound/App/Crashpoints", {
  defaultValue: () => ({
    reached: (_at: Crashpoint, _account: string): Effect.Effect<void, InjectedCrash> => Effect.void
  })
}) {}

/**
 * Whether a session may go on: checked between mails and between sessions. `run` sets it to "this process still
 * holds the account's lease"; when it turns false the session applies and commits its current batch and stops.
 */
export class SessionGuard extends Context.Reference<SessionGuard>()("rebound/App/SessionGuard", {
  defaultValue: () => ({ keep: Effect.succeed(true) as Effect.Effect<boolean> })
}) {}

/**
 * Whether a session, a drain or a poll loop may go on: the session guard says so and no stop has been requested
 * (`StopSignal`). The check itself, made once where it is used many times.
 */
const goOnCheck: Effect.Effect<Effect.Effect<boolean>> = Effect.zipWith(SessionGuard, StopSignal, (guard, stop) =>
  Effect.zipWith(guard.keep, stop.requested, (keep, stopped) => keep && !stopped)
)

/** Who decides what the processor does with mails. */
export interface ProcessorSettings {
  /** this instance's name: verified tokens of other instances are left in the mailbox */
  readonly instance: string
  readonly decode: DecodeOptions
  /** mails applied per store transaction */
  readonly batchSize: number
}

/** What one session did. */
export interface SessionResult {
  readonly account: string
  readonly listed: number
  /** mails the ledger already held from an earlier session that did not commit */
  readonly alreadyDurable: number
  readonly retrieved: number
  readonly outcomes: Readonly<Partial<Record<MailOutcome, number>>>
  /** mails counted a second time (the ledger held their key): always 0 unless a mail came back */
  readonly duplicates: number
  readonly deleted: number
  /** mails left in the mailbox on purpose: another instance's, too large, or not retrieved */
  readonly left: number
  /** whether the session stopped at its mail or time limit with mails still to read */
  readonly limited: boolean
}

export interface Progress {
  readonly account: string
  /** mails to read: in a session, its share; in a drain, those read so far plus those still waiting */
  readonly total: number
  readonly done: number
  /** mails waiting in the mailbox when the session began (its share included), as far as the mailbox can count */
  readonly remaining: number
}

/**
 * A session that opens while the previous one of its account still applies its last mails and commits
 * (Mailbox.overlappingSessions).
 */
interface Overlap {
  /** the uids the previous session listed: it applies or leaves, and deletes, them itself */
  readonly skip: ReadonlySet<string>
  /** the end of the previous session, which a mailbox that refuses the overlapping login waits for */
  readonly previousEnded: Effect.Effect<void>
}

/** What a session tells the drain once it has received its last mail. */
interface Received {
  readonly listed: ReadonlySet<string>
  /** whether it stopped at its limits with mails still waiting, having read or deleted some: a next session follows */
  readonly more: boolean
}

/** Waits for the event loop's next turn: fibers ready to run, and their writes, go first. */
const nextMacrotask = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

/** Why an overlapping login was refused: the server locks the maildrop (RFC 2449 [IN-USE], or a bare -ERR). */
const lockedOut = (error: MailboxError) => error.reason === "InUse" || error.reason === "Auth"

const emptyResult = (account: string): SessionResult => ({
  account,
  listed: 0,
  alreadyDurable: 0,
  retrieved: 0,
  outcomes: {},
  duplicates: 0,
  deleted: 0,
  left: 0,
  limited: false
})

/**
 * What became of a decoded mail: applied, or why not. A mail is another instance's when a record correlates to a
 * token of another instance: verified with our keys, or (with `verifier`) signed with a key we do not hold.
 */
export const outcomeOf = (report: BounceReport, instance: string, verifier?: TokenVerifier): MailOutcome => {
  if (report.kind === "not-bounce") return "not-a-bounce"
  const foreign = (correlation: BounceReport["records"][number]["correlation"]) => {
    if (correlation.verified) return correlation.ids?.instance !== instance
    if (correlation.value === null || verifier?.foreignInstance === undefined) return false
    const claimed = verifier.foreignInstance(correlation.value)
    return claimed !== null && claimed !== instance
  }
  if (report.records.some((record) => foreign(record.correlation))) return "foreign-instance"
  if (report.records.length === 0 || report.records.every((record) => record.reason === "undefined")) {
    return "unqualified"
  }
  return "applied"
}

/** Decodes one mail for the store; a decoder defect is recorded as a failed mail, never thrown. */
export const prepareMail = (
  account: string,
  entry: MailboxEntry,
  bytes: Uint8Array,
  settings: ProcessorSettings,
  keep: { readonly unapplied: boolean; readonly applied: boolean }
): MailToApply => {
  const key = ledgerKeyOf(account, entry.uid, bytes)
  try {
    const report = decodeBounce(parseMail(bytes), settings.decode)
    const outcome = outcomeOf(report, settings.instance, settings.decode.verifier)
    // bytes that will not be archived or forwarded are let go at once: held until the batch is applied, they would
    // outlive the young generation and wait in the old one for a full collection (about 18 MB at the peak of
    // 10,000 mails)
    const kept = outcome === "applied" ? keep.applied : keep.unapplied
    return { key, outcome, report, bytes: kept ? bytes : undefined, size: bytes.byteLength }
  } catch (error) {
    return { key, outcome: "failed", report: null, bytes, detail: `decoder failure: ${String(error)}` }
  }
}

/** Whether a mail with this outcome goes to the operator under the account's policy. */
export const shouldForward = (policy: UnappliedPolicy, outcome: MailOutcome): boolean =>
  policy.action === "forward" &&
  policy.forwardTo !== undefined &&
  outcome !== "applied" &&
  outcome !== "foreign-instance" &&
  (policy.forwardWhich === "all" || outcome === "unqualified")

const add = (outcomes: Partial<Record<MailOutcome, number>>, outcome: MailOutcome) => ({
  ...outcomes,
  [outcome]: (outcomes[outcome] ?? 0) + 1
})

/**
 * The bounce processor: empties one mailbox session at a time into the store. A mail is marked for deletion only
 * after its ledger entry, its effects and (when it was not applied) its bytes are committed; a crash anywhere
 * leaves it in the mailbox, and the ledger recognises it on the next pass, so nothing is lost or counted twice.
 */
export class Processor extends Context.Tag("rebound/App/Processor")<
  Processor,
  {
    readonly settings: ProcessorSettings
    /** One session: list, skip what is durable, retrieve, decode, apply, mark, commit. */
    readonly session: (
      handle: AccountHandle,
      onProgress?: (progress: Progress) => Effect.Effect<void>
    ) => Effect.Effect<SessionResult, MailboxError | StoreError | InjectedCrash>
    /** Sessions until the mailbox holds nothing new (or only what stays on purpose). */
    readonly drain: (
      handle: AccountHandle,
      onProgress?: (progress: Progress) => Effect.Effect<void>
    ) => Effect.Effect<ReadonlyArray<SessionResult>, MailboxError | StoreError | InjectedCrash>
    /**
     * Polls an account on its schedule, with backoff on errors; never fails. Returns once a stop is requested
     * (`StopSignal`) and the session in hand has applied and committed what it held.
     */
    readonly run: (handle: AccountHandle, pollEvery: Duration.Duration) => Effect.Effect<void>
  }
>() {}

export const make = (settings: ProcessorSettings) =>
  Effect.gen(function* () {
    const store = yield* Store
    const ledger = yield* MailLedger
    const status = yield* ProcessorStatus
    const forwarder = yield* Forwarder
    // RFC 2449 LOGIN-DELAY as each account's server last announced it, in seconds
    const loginDelays = yield* Ref.make(new Map<string, number>())
    const leasing = yield* Effect.serviceOption(Leasing)

    // accounts whose server refused a session that overlapped the previous one: theirs follow one another
    const locking = new Set<string>()
    // when each account's last session logged in (Clock millis), for LOGIN-DELAY
    const lastLogins = new Map<string, number>()

    const untilStopped = (wait: Effect.Effect<void>) =>
      Effect.flatMap(StopSignal, (stop) =>
        Effect.flatMap(stop.requested, (stopped) => (stopped ? Effect.void : Effect.raceFirst(wait, stop.await)))
      )

    /** RFC 2449 LOGIN-DELAY: a server that announced one refuses a login sooner than that after the previous one. */
    const awaitLoginDelay = (name: string) =>
      Effect.gen(function* () {
        const delay = (yield* Ref.get(loginDelays)).get(name)
        const last = lastLogins.get(name)
        if (delay === undefined || delay <= 0 || last === undefined) return
        const wait = last + delay * 1000 - (yield* Clock.currentTimeMillis)
        if (wait <= 0) return
        yield* Effect.logInfo(
          `the server asks for ${delay} s between logins (LOGIN-DELAY): the next session opens in ${Duration.format(Duration.millis(wait))}`
        ).pipe(Effect.annotateLogs({ account: name }))
        yield* untilStopped(Effect.sleep(Duration.millis(wait)))
      })

    const session = Effect.fn("Processor.session")(function* (
      handle: AccountHandle,
      onProgress?: (progress: Progress) => Effect.Effect<void>,
      countMailbox = true,
      overlap?: Overlap,
      onReceived?: (received: Received) => Effect.Effect<void>
    ) {
      const { account } = handle
      const name = account.name
      const crashpoints = yield* Crashpoints
      const mayGoOn = yield* goOnCheck
      const unapplied = account.unapplied
      // applied mails are archived only with archiveAll; the others unless the policy deletes them
      const keepBytes = {
        unapplied: unapplied.action !== "delete" || store.settings.archiveAll,
        applied: store.settings.archiveAll
      }
      return yield* Effect.scoped(
        Effect.gen(function* () {
          const mailbox =
            overlap === undefined
              ? yield* handle.mailbox.open
              : yield* handle.mailbox.open.pipe(
                  Effect.catchAll((error) =>
                    Effect.gen(function* () {
                      if (lockedOut(error)) locking.add(name)
                      yield* Effect.logInfo(
                        `the next session could not log in while the previous one commits (${error.message}); ` +
                          (lockedOut(error)
                            ? "it waits for it, and this account's sessions follow one another from now on"
                            : "it waits for it")
                      ).pipe(Effect.annotateLogs({ account: name }))
                      yield* overlap.previousEnded
                      return yield* handle.mailbox.open
                    })
                  )
                )
          lastLogins.set(name, yield* Clock.currentTimeMillis)
          const announced = mailbox.capabilities.loginDelaySeconds
          if (announced !== undefined) yield* Ref.update(loginDelays, (map) => new Map(map).set(name, announced))
          const marked = yield* Ref.make(0)
          // SIGTERM interrupts: what was applied and marked is committed, so the next run starts clean; a failure
          // (a crash) commits nothing, and the ledger recognises the applied mails on the next pass
          yield* Effect.addFinalizer((exit) =>
            Exit.isInterrupted(exit)
              ? Effect.flatMap(Ref.get(marked), (count) =>
                  count > 0 ? mailbox.commit.pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore) : Effect.void
                )
              : Effect.void
          )
          const skip = overlap?.skip ?? new Set<string>()
          const entries =
            skip.size === 0
              ? yield* mailbox.list
              : mailbox.listSkipping !== undefined
                ? yield* mailbox.listSkipping(skip)
                : (yield* mailbox.list).filter((entry) => !skip.has(entry.uid))
          const durable = yield* ledger.seen(
            name,
            entries.map((entry) => entry.uid)
          )
          let result: SessionResult = { ...emptyResult(name), listed: entries.length }
          // mails an earlier session applied but did not delete: delete them now, unless they stay on purpose
          for (const entry of entries) {
            const outcome = durable.get(entry.uid)
            if (outcome === undefined) continue
            result = { ...result, alreadyDurable: result.alreadyDurable + 1 }
            if (outcome === "foreign-instance") {
              result = { ...result, left: result.left + 1 }
              continue
            }
            yield* mailbox.markDeleted(entry)
            yield* Ref.update(marked, (n) => n + 1)
            result = { ...result, deleted: result.deleted + 1 }
          }
          const fresh = entries.filter((entry) => !durable.has(entry.uid))
          const todo = fresh.slice(0, account.maxMailsPerSession)
          const deadline = (yield* Clock.currentTimeMillis) + account.maxSecondsPerSession * 1000
          // a POP3 session lists at most maxMailsPerSession mails: the mailbox's count says how many wait in all
          const inMailbox =
            onProgress === undefined || !countMailbox || entries.length < account.maxMailsPerSession
              ? fresh.length
              : yield* mailbox.stat.pipe(
                  Effect.map((stat) => stat.count - durable.size - skip.size),
                  Effect.orElseSucceed(() => fresh.length)
                )
          const remaining = Math.max(todo.length, inMailbox)
          const report = (done: number) =>
            onProgress === undefined ? Effect.void : onProgress({ account: name, total: todo.length, done, remaining })
          yield* report(0)
          let done = 0
          let timedOut = false
          let received = 0
          // a mailbox lists at most maxMailsPerSession entries (app.ts passes the cap to it): a full listing may
          // hide more mails behind it
          const stoppedShort = () =>
            entries.length >= account.maxMailsPerSession || fresh.length > todo.length || timedOut
          const retrieval = takeUntilEffectChunked(mailbox.retrieveMany(todo), () =>
            Effect.zipWith(Clock.currentTimeMillis, mayGoOn, (now, keep) => {
              timedOut = now >= deadline
              return timedOut || !keep
            })
          )
          // a mailbox that overlaps sessions is told, through the drain, when the last mail is in (or the session
          // stops reading): the next session opens then, while this one applies its last batch and commits
          let told = false
          const announce = Effect.suspend(() => {
            if (onReceived === undefined || told) return Effect.void
            told = true
            return onReceived({
              listed: new Set(entries.map((entry) => entry.uid)),
              more: stoppedShort() && (received > 0 || result.deleted > 0)
            })
          })
          let seen = 0
          const announcing = onReceived === undefined ? retrieval : Stream.concat(retrieval, Stream.execute(announce))
          yield* announcing.pipe(
            // decode each chunk as it arrives, between pulls: every pull tops the server's RETR window up again,
            // so the server reads and sends the next mails while these are decoded, not after the whole batch
            Stream.mapChunksEffect((chunk) =>
              Effect.gen(function* () {
                yield* crashpoints.reached("after-retrieve", name)
                const clock = yield* Effect.clock
                const decoded: Array<{ readonly entry: MailboxEntry; readonly mail: MailToApply } | null> = []
                if (onReceived !== undefined) {
                  for (const item of chunk) if (item._tag === "Retrieved") received++
                  seen += chunk.length
                  if (seen === todo.length) {
                    yield* announce
                    // the apply that follows runs SQLite on this thread: let the next session send its login first,
                    // so that the server checks it while this session applies, not after
                    yield* nextMacrotask
                  }
                }
                for (const item of chunk) {
                  if (item._tag === "Skipped") {
                    yield* Effect.logWarning(`left in the mailbox: ${item.error.message}`).pipe(
                      Effect.annotateLogs({ account: name, uid: item.entry.uid })
                    )
                    result = { ...result, left: result.left + 1 }
                    decoded.push(null)
                    continue
                  }
                  const decodeStart = clock.unsafeCurrentTimeMillis()
                  const mail = prepareMail(name, item.entry, item.bytes, settings, keepBytes)
                  yield* Metrics.observeDecode(clock.unsafeCurrentTimeMillis() - decodeStart)
                  decoded.push({ entry: item.entry, mail })
                }
                return Chunk.unsafeFromArray(decoded)
              })
            ),
            Stream.grouped(settings.batchSize),
            Stream.runForEach((chunk) =>
              Effect.gen(function* () {
                const batch: Array<{ readonly entry: MailboxEntry; readonly mail: MailToApply }> = []
                for (const item of chunk) if (item !== null) batch.push(item)
                result = { ...result, retrieved: result.retrieved + batch.length }
                yield* crashpoints.reached("after-decode", name)
                // forward before the ledger entry: a forward that fails leaves the mail for the next session
                const forwarded: typeof batch = []
                for (const item of batch) {
                  if (!shouldForward(unapplied, item.mail.outcome)) {
                    forwarded.push(item)
                    continue
                  }
                  const sent = yield* forwarder
                    .forward({
                      relay: { host: unapplied.smtpHost, port: unapplied.smtpPort },
                      to: unapplied.forwardTo!,
                      bytes: item.mail.bytes ?? new Uint8Array()
                    })
                    .pipe(
                      Effect.as(true),
                      Effect.catchAll((error) =>
                        // a relay that refuses the mail for good would refuse it at every session: the mail is
                        // archived (a forward policy keeps the bytes) and applied as unforwarded instead
                        error.reason === "Refused"
                          ? Effect.as(
                              Effect.logWarning(`not forwarded, archived instead: ${error.message}`).pipe(
                                Effect.annotateLogs({ account: name, uid: item.entry.uid })
                              ),
                              true
                            )
                          : Effect.as(
                              Effect.logWarning(`left in the mailbox: ${error.message}`).pipe(
                                Effect.annotateLogs({ account: name, uid: item.entry.uid })
                              ),
                              false
                            )
                      )
                    )
                  if (sent) forwarded.push(item)
                }
                result = { ...result, left: result.left + batch.length - forwarded.length }
                batch.splice(0, batch.length, ...forwarded)
                const applied = yield* store.applyMails(batch.map((item) => item.mail))
                yield* crashpoints.reached("after-apply", name)
                for (const [index, outcome] of applied.entries()) {
                  const { entry, mail } = batch[index]!
                  if (!outcome.duplicate && mail.report !== null && outcome.outcome === "applied") {
                    yield* Metrics.countReport(mail.report)
                  }
                  result = {
                    ...result,
                    outcomes: add(result.outcomes, outcome.outcome),
                    duplicates: result.duplicates + (outcome.duplicate ? 1 : 0)
                  }
                  if (outcome.outcome === "foreign-instance") {
                    result = { ...result, left: result.left + 1 }
                    continue
                  }
                  yield* mailbox.markDeleted(entry)
                  yield* Ref.update(marked, (n) => n + 1)
                  result = { ...result, deleted: result.deleted + 1 }
                }
                yield* crashpoints.reached("after-mark", name)
                done += chunk.length
                yield* report(done)
                yield* status.update(name, (current) => ({
                  ...current,
                  fetched: current.fetched + batch.length,
                  applied: current.applied + applied.filter((a) => a.outcome === "applied").length,
                  notApplied: current.notApplied + applied.filter((a) => a.outcome !== "applied").length,
                  failed: current.failed + applied.filter((a) => a.outcome === "failed").length
                }))
              })
            )
          )
          yield* crashpoints.reached("before-commit", name)
          yield* mailbox.commit
          yield* Ref.set(marked, 0)
          const limited = stoppedShort()
          yield* status.update(name, (current) => ({
            ...current,
            mailsWaiting: fresh.length - done + result.left
          }))
          return { ...result, limited }
        })
      )
    })

    const drain = Effect.fn("Processor.drain")(function* (
      handle: AccountHandle,
      onProgress?: (progress: Progress) => Effect.Effect<void>
    ) {
      const results: Array<SessionResult> = []
      const mayGoOn = yield* goOnCheck
      const name = handle.account.name
      // progress over the whole drain: what each session read, plus what the latest one says is waiting
      const doneBy: Array<number> = []
      const shareOf: Array<number> = []
      let last: Progress | undefined
      const progressOf = (index: number) =>
        onProgress === undefined
          ? undefined
          : (progress: Progress) => {
              doneBy[index] = progress.done
              shareOf[index] = progress.total
              let before = 0
              for (let i = 0; i < index; i++) before += Math.max(doneBy[i] ?? 0, shareOf[i] ?? 0)
              const done = doneBy.reduce((sum, n) => sum + n, 0)
              // the first session counted the mailbox; later ones know only their share, unless more mail came in
              const total = Math.max(last?.total ?? 0, before + Math.max(progress.total, progress.remaining), done)
              last = { ...progress, total, done }
              return onProgress(last)
            }
      // mails the count included but no session read (another instance's, too large): the drain is over all the same
      const finish = Effect.suspend(() =>
        onProgress === undefined || last === undefined || last.done === last.total
          ? Effect.void
          : onProgress({ ...last, total: last.done, remaining: 0 })
      )
      // a session that only deleted mails an earlier, crashed session had applied made progress all the same
      const goesOn = (result: SessionResult) => result.limited && (result.retrieved > 0 || result.deleted > 0)
      // leaving the drain (a failed session) interrupts a session still running: it commits what it applied
      return yield* Effect.scoped(
        Effect.gen(function* () {
          // the session still ending while the next one runs, and the mails it listed
          let previous: Fiber.RuntimeFiber<SessionResult, MailboxError | StoreError | InjectedCrash> | undefined
          let skip: ReadonlySet<string> = new Set()
          const previousEnds = Effect.suspend(() => {
            if (previous === undefined) return Effect.void
            const ending = previous
            previous = undefined
            return Effect.map(Fiber.join(ending), (result) => void results.push(result))
          })
          for (let index = 0; ; index++) {
            const loginDelay = (yield* Ref.get(loginDelays)).get(name) ?? 0
            if (handle.mailbox.overlappingSessions !== true || locking.has(name) || loginDelay > 0) {
              yield* previousEnds
              if (index > 0) {
                yield* awaitLoginDelay(name)
                if (!(yield* mayGoOn)) break
              }
              const result = yield* session(handle, progressOf(index), index === 0)
              results.push(result)
              if (!goesOn(result) || !(yield* mayGoOn)) break
              continue
            }
            const overlap: Overlap | undefined =
              previous === undefined ? undefined : { skip, previousEnded: Effect.asVoid(Fiber.await(previous)) }
            const received = yield* Deferred.make<Received | undefined>()
            const current = yield* session(handle, progressOf(index), index === 0, overlap, (announced) =>
              Deferred.succeed(received, announced)
            ).pipe(Effect.ensuring(Deferred.succeed(received, undefined)), Effect.forkScoped)
            const announced = yield* Deferred.await(received)
            // at most two sessions at once: the one before this one ends before the next one opens
            yield* previousEnds
            if (announced === undefined || !announced.more || !(yield* mayGoOn)) {
              results.push(yield* Fiber.join(current))
              break
            }
            previous = current
            skip = announced.listed
          }
          yield* finish
          return results
        })
      )
    })

    const run = (handle: AccountHandle, pollEvery: Duration.Duration): Effect.Effect<void> => {
      const name = handle.account.name
      // a requested stop ends the waits at once (untilStopped), and sessions take no further mail (goOnCheck)
      const poll = Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        yield* status.update(name, (current) => ({ ...current, state: "polling", lastPollAt: now }))
        const results = yield* drain(handle)
        const finished = yield* Clock.currentTimeMillis
        yield* status.update(name, (current) => ({
          ...current,
          state: "idle",
          lastSuccessAt: finished,
          lastError: null,
          consecutiveFailures: 0
        }))
        const total = results.reduce((sum, result) => sum + result.retrieved, 0)
        if (total > 0) {
          yield* Effect.logInfo(`processed ${total} mails`).pipe(Effect.annotateLogs({ account: name }))
        }
      })
      const loop = (failures: number): Effect.Effect<void> =>
        Effect.flatten(goOnCheck).pipe(Effect.flatMap((keep) => (keep ? next(failures) : Effect.void)))
      const next = (failures: number): Effect.Effect<void> =>
        poll.pipe(
          Effect.matchCauseEffect({
            onSuccess: () =>
              Effect.zipRight(Metrics.countPoll(name, false), Ref.get(loginDelays)).pipe(
                Effect.flatMap((delays) =>
                  Effect.as(
                    untilStopped(Effect.sleep(Duration.max(pollEvery, Duration.seconds(delays.get(name) ?? 0)))),
                    0
                  )
                )
              ),
            onFailure: (cause) =>
              Effect.gen(function* () {
                yield* Metrics.countPoll(name, true)
                const failed = failures + 1
                const error = Option.getOrUndefined(Cause.failureOption(cause))
                const message = error === undefined ? Cause.pretty(cause) : error.message
                const announced = (yield* Ref.get(loginDelays)).get(name)
                const loginDelay =
                  error?._tag === "MailboxError" && error.reason === "LoginDelay"
                    ? Duration.seconds(announced ?? 300)
                    : Duration.zero
                const delay = Duration.max(yield* backoff(failed, pollEvery), loginDelay)
                const state = failed >= failingAfter ? ("failing" as const) : ("backoff" as const)
                yield* status.update(name, (current) => ({
                  ...current,
                  state,
                  lastError: message,
                  consecutiveFailures: failed
                }))
                const log = failed === failingAfter ? Effect.logError : Effect.logWarning
                yield* log(`poll failed (${failed} in a row), next try in ${Duration.format(delay)}: ${message}`).pipe(
                  Effect.annotateLogs({ account: name })
                )
                yield* untilStopped(Effect.sleep(delay))
                return failed
              })
          }),
          Effect.flatMap(loop)
        )
      const register = status.register(initialAccountStatus(name, handle.account.type))
      // the SMTP spool is shared through the store's work table, not leased
      if (Option.isNone(leasing) || handle.account.type === "smtp") {
        return Effect.zipRight(register, loop(0))
      }
      // several processes on one store: poll only while this process holds the account's lease
      const leases = leasing.value
      const turn = Effect.scoped(
        Effect.gen(function* () {
          const lease = yield* leases.account(name)
          if (Option.isNone(lease)) return
          yield* Effect.logInfo("account lease taken").pipe(Effect.annotateLogs({ account: name }))
          yield* loop(0).pipe(Effect.provideService(SessionGuard, { keep: lease.value.keep }))
          yield* Effect.logInfo("account lease given up").pipe(Effect.annotateLogs({ account: name }))
        })
      ).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning(`account lease: ${error.message}`).pipe(Effect.annotateLogs({ account: name }))
        )
      )
      const turns: Effect.Effect<void> = Effect.flatMap(StopSignal, (stop) =>
        Effect.flatMap(stop.requested, (stopped) =>
          stopped
            ? Effect.void
            : Effect.zipRight(turn, Effect.zipRight(untilStopped(Effect.sleep(leases.retryEvery)), turns))
        )
      )
      return Effect.zipRight(register, turns)
    }

    return Processor.of({ settings, session, drain, run })
  })

/** Polls failing this many times in a row mark the account as failing (and log an error once). */
export const failingAfter = 5

/** Exponential backoff with full jitter between half and the whole step, from the poll interval up to 15 min. */
export const backoff = (failures: number, pollEvery: Duration.Duration) =>
  Effect.map(Random.next, (random) => {
    const base = Math.max(Duration.toMillis(pollEvery), 1000)
    const step = Math.min(base * 2 ** Math.min(failures - 1, 16), 15 * 60 * 1000)
    return Duration.millis(Math.round(step * (0.5 + random / 2)))
  })

export const layer = (settings: ProcessorSettings) => Layer.effect(Processor, make(settings))
