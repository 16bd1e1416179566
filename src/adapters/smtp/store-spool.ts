/**
 * The listener's spool in the store (`smtp.spool` "store"): each accepted mail becomes rows of the SMTP work table,
 * one per recipient copy, inserted in one transaction; 250 is answered only after that transaction committed. Every
 * process on the same PostgreSQL can then apply the mail (see `workQueueMailbox`), so the listener may run in as many
 * processes as there are MX records.
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { SmtpWorkQueue } from "../store/work-queue.js"
import { SpoolError, type SpooledMail, type SpoolHealth, type SpoolInput, type SpoolProbe } from "./spool.js"

/** What the listener knew about the mail, for the rows' envelope columns. */
export interface SpoolEnvelope {
  readonly sender: string
  /** one per entry of `prefixes`, in the same order */
  readonly recipients: ReadonlyArray<string>
  readonly receivedAt: number
}

/** Where the listener puts accepted mail: the Maildir spool, or the store's work table. */
export interface SpoolSink extends SpoolProbe {
  /** for logs: the Maildir's path, or "the store" */
  readonly where: string
  /** makes the mail durable; when this succeeds, the listener may answer 250 */
  readonly deliver: (input: SpoolInput & SpoolEnvelope) => Effect.Effect<SpooledMail, SpoolError>
}

export interface StoreSpoolOptions {
  readonly queue: Context.Tag.Service<SmtpWorkQueue>
  /** how long a health probe (one round trip to the store) is trusted (default 1 second) */
  readonly healthInterval?: Duration.DurationInput
}

class TooLarge {
  constructor(readonly size: number) {}
}

/** Reads the data to its end (an oversized mail too: the client only listens for a reply after the final dot). */
const receive = async (data: AsyncIterable<Uint8Array>, maxSize: number): Promise<Buffer> => {
  const chunks: Array<Uint8Array> = []
  let size = 0
  for await (const chunk of data) {
    size += chunk.length
    if (size <= maxSize) chunks.push(chunk)
  }
  if (size > maxSize) throw new TooLarge(size)
  return Buffer.concat(chunks, size)
}

/** The store as the listener's spool. The store has no free-space figure: a full database fails the insert (451). */
export const makeStoreSpool = (options: StoreSpoolOptions): Effect.Effect<SpoolSink> =>
  Effect.sync(() => {
    const { queue } = options
    const healthMillis = Duration.toMillis(Duration.decode(options.healthInterval ?? Duration.seconds(1)))
    const healthy: SpoolHealth = { healthy: true, freeBytes: Number.POSITIVE_INFINITY }
    let last: { readonly at: number; readonly health: SpoolHealth } | undefined
    const recent = (now: number) => (last !== undefined && now - last.at < healthMillis ? last.health : undefined)
    const unavailable = (message: string): SpoolHealth => ({
      healthy: false,
      reason: "Unwritable",
      message: `the store is unavailable: ${message}`
    })

    const health = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const known = recent(now)
      if (known !== undefined) return known
      const result = yield* queue.ping.pipe(
        Effect.as(healthy),
        Effect.catchAll((error) => Effect.succeed(unavailable(error.message)))
      )
      last = { at: now, health: result }
      return result
    })

    const receiveData = (input: SpoolInput) =>
      Effect.tryPromise({
        try: () => receive(input.data, input.maxSize),
        catch: (cause) =>
          cause instanceof TooLarge
            ? new SpoolError({
                reason: "Oversized",
                message: `the mail has ${cause.size} octets, more than the limit of ${input.maxSize}`
              })
            : new SpoolError({ reason: "Aborted", message: `the data ended early: ${String(cause)}`, cause })
      })

    const enqueue = (input: SpoolInput & SpoolEnvelope, data: Buffer) => {
      const copies = input.prefixes.map((prefix, index) => {
        const head = Buffer.from(prefix, "utf8")
        return {
          queueId: input.id,
          sender: input.sender,
          recipient: input.recipients[index] ?? input.recipients[0] ?? "",
          receivedAt: input.receivedAt,
          bytes: Buffer.concat([head, data], head.length + data.length)
        }
      })
      return queue.enqueue(copies).pipe(
        Effect.map((ids): SpooledMail => ({ id: input.id, files: ids.map(String), size: data.length })),
        Effect.tapError((error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => void (last = { at: now, health: unavailable(error.message) }))
          )
        ),
        Effect.mapError(
          (error) =>
            new SpoolError({ reason: "Unwritable", message: `cannot queue the mail: ${error.message}`, cause: error })
        )
      )
    }

    // only reading the data may be interrupted: once the insert has started, it runs to its end and its outcome is
    // answered, since a commit answered with 421 would make the client send the mail again
    const deliver = (input: SpoolInput & SpoolEnvelope) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(receiveData(input)), (data) => enqueue(input, data))
      )

    return {
      where: "the store (SMTP work table)",
      health,
      roomFor: () => health,
      knownRoomFor: (_octets, now) => recent(now),
      deliver
    }
  })
