import { randomBytes } from "node:crypto"
import * as os from "node:os"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { defaultLimits, type MailboxLimits, sizeCheck } from "../mailbox/limits.js"
import {
  Mailbox,
  type MailboxEntry,
  MailboxError,
  type MailboxSession,
  type RetrieveResult
} from "../mailbox/mailbox.js"
import type { StoreError } from "../store/errors.js"
import { SmtpWorkQueue, type SmtpWorkItem } from "../store/work-queue.js"

export interface WorkQueueMailboxOptions {
  /**
   * How long a session's claim on the rows it lists holds. It must outlast a session (maxSecondsPerSession and the
   * commit): a claim that runs out lets another process take the same rows (the ledger still applies each mail once).
   * A process that dies leaves its rows to the others after this time.
   */
  readonly lease: Duration.DurationInput
  /** this process's name in claims (default: host name, pid and a random suffix) */
  readonly holder?: string
  readonly limits?: Partial<MailboxLimits>
}

/** A name for this process in claims: unique even when two processes on two hosts get the same pid. */
export const defaultHolder = (): string => `${os.hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`

const storeError = (doing: string) => (error: StoreError) =>
  new MailboxError({ reason: "Io", message: `${doing}: ${error.message}`, cause: error })

const uidOf = (id: number) => String(id)

/**
 * The Mailbox port over the store's SMTP work queue, for an account of type "smtp" with spool "store". `list` claims
 * up to `maxMailsPerSession` rows for this process (other processes' sessions get other rows), `retrieve` reads
 * their bytes, and `commit` deletes the rows marked as applied; the uid is the row id. A session that ends without
 * commit gives its rows back at once; on commit, rows it never tried to retrieve are given back too, while rows left
 * on purpose (too large, another instance's) stay claimed until the lease ends, so they do not hold up newer mail.
 */
export const make = Effect.fn("WorkQueueMailbox.make")(function* (options: WorkQueueMailboxOptions) {
  const queue = yield* SmtpWorkQueue
  const limits: MailboxLimits = { ...defaultLimits, ...options.limits }
  const holder = options.holder ?? defaultHolder()
  const leaseMillis = Duration.toMillis(Duration.decode(options.lease))

  const open = Effect.gen(function* () {
    let state: "open" | "committed" = "open"
    const claimed = new Map<string, SmtpWorkItem>()
    const attempted = new Set<number>()
    const marked = new Set<number>()

    const closedError = new MailboxError({ reason: "Closed", message: "the SMTP work queue session is committed" })
    const whileOpen = Effect.suspend(() => (state === "open" ? Effect.void : Effect.fail(closedError)))
    const itemOf = (entry: MailboxEntry) =>
      Effect.suspend(() => {
        const item = claimed.get(entry.uid)
        return item === undefined
          ? Effect.fail(new MailboxError({ reason: "NotFound", message: `mail ${entry.uid} was not listed` }))
          : Effect.succeed(item)
      })

    yield* Effect.addFinalizer(() =>
      state === "open" && claimed.size > 0
        ? queue
            .release(
              [...claimed.values()].map((item) => item.id),
              holder
            )
            .pipe(Effect.timeout(Duration.seconds(10)), Effect.ignore)
        : Effect.void
    )

    const notFound = (entry: MailboxEntry) =>
      new MailboxError({ reason: "NotFound", message: `mail ${entry.uid} is no longer in the SMTP work queue` })

    /** The bytes of some entries, reading at most 16 rows per round trip. */
    const readMany = (entries: ReadonlyArray<MailboxEntry>) =>
      Effect.gen(function* () {
        const items = yield* Effect.forEach(entries, itemOf)
        for (const item of items) attempted.add(item.id)
        return yield* queue.read(items.map((item) => item.id)).pipe(Effect.mapError(storeError("reading queued mail")))
      })

    const retrieve = (entry: MailboxEntry) =>
      Effect.gen(function* () {
        yield* whileOpen
        const tooLarge = sizeCheck(entry, limits)
        if (tooLarge !== undefined) return yield* tooLarge
        const bytes = (yield* readMany([entry])).get(Number(entry.uid))
        if (bytes === undefined) return yield* notFound(entry)
        return bytes
      })

    const session: MailboxSession = {
      capabilities: {
        kind: "smtp-queue",
        secure: true,
        pipelining: true,
        authentication: "none",
        raw: [`the store's SMTP work queue, claims held by ${holder} for ${Duration.format(options.lease)}`]
      },
      stat: Effect.gen(function* () {
        yield* whileOpen
        const counts = yield* queue.counts.pipe(Effect.mapError(storeError("counting queued mail")))
        return { count: counts.queued, size: counts.octets }
      }),
      list: Effect.gen(function* () {
        yield* whileOpen
        const items = yield* queue
          .claim({ limit: limits.maxMailsPerSession, holder, leaseMillis })
          .pipe(Effect.mapError(storeError("claiming queued mail")))
        for (const item of items) claimed.set(uidOf(item.id), item)
        return items.map((item, index): MailboxEntry => ({ uid: uidOf(item.id), size: item.size, number: index + 1 }))
      }),
      retrieve,
      retrieveStream: (entry) => Stream.fromEffect(retrieve(entry)),
      retrieveMany: (entries) =>
        Stream.fromIterable(entries).pipe(
          Stream.grouped(16),
          Stream.mapEffect((chunk) =>
            Effect.gen(function* () {
              yield* whileOpen
              const wanted = [...chunk]
              const fitting = wanted.filter((entry) => sizeCheck(entry, limits) === undefined)
              const found = yield* readMany(fitting)
              return wanted.map((entry): RetrieveResult => {
                const tooLarge = sizeCheck(entry, limits)
                if (tooLarge !== undefined) return { _tag: "Skipped", entry, error: tooLarge }
                const bytes = found.get(Number(entry.uid))
                return bytes === undefined
                  ? { _tag: "Skipped", entry, error: notFound(entry) }
                  : { _tag: "Retrieved", entry, bytes }
              })
            })
          ),
          Stream.flattenIterables
        ),
      markDeleted: (entry) =>
        Effect.gen(function* () {
          yield* whileOpen
          marked.add((yield* itemOf(entry)).id)
        }),
      commit: Effect.gen(function* () {
        yield* whileOpen
        yield* queue.complete([...marked]).pipe(Effect.mapError(storeError("deleting applied mail")))
        const untouched = [...claimed.values()]
          .map((item) => item.id)
          .filter((id) => !marked.has(id) && !attempted.has(id))
        state = "committed"
        if (untouched.length > 0) {
          yield* queue.release(untouched, holder).pipe(Effect.mapError(storeError("giving back unread mail")))
        }
      })
    }
    return session
  })

  return Mailbox.of({ open })
})

/** The SMTP work queue as the Mailbox port (the queue comes from the store: `WorkQueue.layer`). */
export const layer = (options: WorkQueueMailboxOptions): Layer.Layer<Mailbox, never, SmtpWorkQueue> =>
  Layer.effect(Mailbox, make(options))
