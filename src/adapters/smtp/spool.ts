/**
 * The listener's spool is a Maildir (cr.yp.to/proto/maildir.html): a mail is written to tmp/, fsynced, renamed into
 * new/, and new/ is fsynced, before the listener answers 250. The processor reads new/ with MaildirMailbox like any
 * other Maildir account. Node's fs/promises is used directly: the data arrives as a Node stream, and fsync of a
 * directory has no counterpart in @effect/platform's FileSystem.
 */
import { randomBytes } from "node:crypto"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** Why a mail was not spooled. */
export type SpoolErrorReason =
  /** the spool cannot be written (missing, not a directory, read-only, permissions, I/O error) */
  | "Unwritable"
  /** no space left, or less than minFreeSpace */
  | "Full"
  /** the mail is larger than the size limit; it was read to its end and dropped */
  | "Oversized"
  /** the client went away before the end of the data */
  | "Aborted"

export class SpoolError extends Data.TaggedError("SpoolError")<{
  readonly reason: SpoolErrorReason
  readonly message: string
  readonly cause?: unknown
}> {}

/** The state of the spool as the last probe saw it. */
export type SpoolHealth =
  | { readonly healthy: true; readonly freeBytes: number }
  | { readonly healthy: false; readonly reason: "Unwritable" | "Full"; readonly message: string }

/** One mail as it was made durable: a file in new/ per recipient. */
export interface SpooledMail {
  readonly id: string
  /** the file names in new/, one per copy */
  readonly files: ReadonlyArray<string>
  /** the octets of the message as received (without the trace fields) */
  readonly size: number
}

export interface SpoolOptions {
  /** the Maildir; new/, cur/ and tmp/ are created when missing */
  readonly dir: string
  /** octets that must stay free on the file system */
  readonly minFreeSpace: number
  /** how long a health probe is trusted (default 1 second) */
  readonly healthInterval?: Duration.DurationInput
  /** the host name in file names (default: os.hostname()) */
  readonly hostname?: string
}

/** What to write for one mail: the data, and the header block in front of each copy. */
export interface SpoolInput {
  readonly id: string
  readonly data: AsyncIterable<Uint8Array>
  /** one header block per copy (per recipient); at least one */
  readonly prefixes: ReadonlyArray<string>
  readonly maxSize: number
}

export interface Spool {
  readonly dir: string
  /** the last probe's verdict, probing again when it is older than the health interval */
  readonly health: Effect.Effect<SpoolHealth>
  /** a healthy spool with room for `octets` more (the SIZE parameter of MAIL FROM), or why not */
  readonly roomFor: (octets: number) => Effect.Effect<SpoolHealth>
  /** writes the mail durably; when this succeeds, the files are in new/ and new/ is synced */
  readonly deliver: (input: SpoolInput) => Effect.Effect<SpooledMail, SpoolError>
}

const codeOf = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code

const fullCodes = new Set(["ENOSPC", "EDQUOT"])

const reasonOf = (error: unknown): "Unwritable" | "Full" => (fullCodes.has(codeOf(error) ?? "") ? "Full" : "Unwritable")

class SourceFailed {
  constructor(readonly cause: unknown) {}
}

class TooLarge {
  constructor(readonly size: number) {}
}

const writeAll = async (handle: fsp.FileHandle, bytes: Uint8Array) => {
  let offset = 0
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset)
    offset += bytesWritten
  }
}

/** Streams `data` after `prefix` into a new file; returns the size of the data. */
const receive = async (file: string, prefix: Uint8Array, data: AsyncIterable<Uint8Array>, maxSize: number) => {
  const handle = await fsp.open(file, "wx", 0o640)
  let size = 0
  try {
    await writeAll(handle, prefix)
    const iterator = data[Symbol.asyncIterator]()
    for (;;) {
      let next: IteratorResult<Uint8Array>
      try {
        next = await iterator.next()
      } catch (cause) {
        throw new SourceFailed(cause)
      }
      if (next.done) break
      size += next.value.length
      // Read an oversized mail to its end (the client only listens for a reply after the final dot), but keep none.
      if (size <= maxSize) await writeAll(handle, next.value)
    }
    if (size > maxSize) throw new TooLarge(size)
    await handle.datasync()
  } finally {
    await handle.close()
  }
  return size
}

/** Writes `prefix` and the data part of `source` (from `offset`) into a new file. */
const copyWithPrefix = async (source: string, offset: number, file: string, prefix: Uint8Array) => {
  const handle = await fsp.open(file, "wx", 0o640)
  try {
    await writeAll(handle, prefix)
    const input = await fsp.open(source, "r")
    try {
      for await (const chunk of input.createReadStream({ start: offset, autoClose: false })) {
        await writeAll(handle, chunk as Buffer)
      }
    } finally {
      await input.close()
    }
    await handle.datasync()
  } finally {
    await handle.close()
  }
}

const syncDirectory = async (dir: string) => {
  const handle = await fsp.open(dir, "r")
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * fsync of new/ with group commit: callers that arrive while a sync runs share the next one, which starts when the
 * running one ends and covers every rename done before it started.
 */
const makeDirectorySync = (dir: string) => {
  let running: Promise<void> | undefined
  let queued: Promise<void> | undefined
  const start = (): Promise<void> => {
    const sync = syncDirectory(dir).finally(() => {
      if (running === sync) running = undefined
    })
    running = sync
    return sync
  }
  return (): Promise<void> => {
    if (running === undefined) return start()
    if (queued === undefined) {
      queued = running
        .catch(() => undefined)
        .then(() => {
          queued = undefined
          return start()
        })
    }
    return queued
  }
}

/** Maildir unique names may not hold "/" or ":" (the Maildir specification's escapes). */
const maildirHost = (name: string) => name.replace(/\//g, "\\057").replace(/:/g, "\\072")

/** Opens the spool: creates the Maildir folders, then serves deliveries and health probes. */
export const makeSpool = Effect.fn("SmtpSpool.make")(function* (options: SpoolOptions) {
  const dir = path.resolve(options.dir)
  const tmp = path.join(dir, "tmp")
  const fresh = path.join(dir, "new")
  const host = maildirHost(options.hostname ?? os.hostname())
  const healthMillis = Duration.toMillis(Duration.decode(options.healthInterval ?? Duration.seconds(1)))
  const syncNew = makeDirectorySync(fresh)

  yield* Effect.tryPromise({
    try: async () => {
      for (const folder of ["new", "cur", "tmp"]) await fsp.mkdir(path.join(dir, folder), { recursive: true })
    },
    catch: (cause) =>
      new SpoolError({ reason: reasonOf(cause), message: `cannot create the spool ${dir}: ${String(cause)}`, cause })
  })

  // The Maildir specification: a file left in tmp/ for 36 hours is the remains of a crash before 250.
  const started = yield* Clock.currentTimeMillis
  yield* Effect.promise(async () => {
    for (const name of await fsp.readdir(tmp).catch(() => [] as Array<string>)) {
      const file = path.join(tmp, name)
      const info = await fsp.stat(file).catch(() => undefined)
      if (info?.isFile() && started - info.mtimeMs > 36 * 3600_000) await fsp.unlink(file).catch(() => undefined)
    }
  })

  let sequence = 0
  const uniqueName = (now: number) => {
    const seconds = Math.floor(now / 1000)
    const micros = (now % 1000) * 1000
    return `${seconds}.M${micros}P${process.pid}Q${++sequence}R${randomBytes(4).toString("hex")}.${host}`
  }

  const probe = async (): Promise<SpoolHealth> => {
    try {
      const stats = await fsp.statfs(dir)
      const freeBytes = Number(stats.bavail) * Number(stats.bsize)
      if (freeBytes < options.minFreeSpace) {
        return {
          healthy: false,
          reason: "Full",
          message: `${freeBytes} octets free on the spool's file system, less than minFreeSpace ${options.minFreeSpace}`
        }
      }
      const info = await fsp.stat(fresh)
      if (!info.isDirectory()) return { healthy: false, reason: "Unwritable", message: `${fresh} is not a directory` }
      const file = path.join(tmp, `.probe.${process.pid}.${++sequence}`)
      await fsp.writeFile(file, "", { flag: "wx" })
      await fsp.unlink(file)
      return { healthy: true, freeBytes }
    } catch (cause) {
      return { healthy: false, reason: reasonOf(cause), message: `the spool ${dir} is not writable: ${String(cause)}` }
    }
  }

  let last: { readonly at: number; readonly health: SpoolHealth } | undefined
  const health = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    if (last !== undefined && now - last.at < healthMillis) return last.health
    const result = yield* Effect.promise(probe)
    last = { at: now, health: result }
    return result
  })

  const markUnhealthy = (reason: "Unwritable" | "Full", message: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        last = { at: now, health: { healthy: false, reason, message } }
      })
    )

  const roomFor = (octets: number) =>
    Effect.map(health, (current): SpoolHealth =>
      !current.healthy || current.freeBytes - octets >= options.minFreeSpace
        ? current
        : {
            healthy: false,
            reason: "Full",
            message: `no room for ${octets} octets: ${current.freeBytes} free, minFreeSpace ${options.minFreeSpace}`
          }
    )

  const deliver = (input: SpoolInput) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const names = input.prefixes.map(() => uniqueName(now))
      const prefixes = input.prefixes.map((prefix) => Buffer.from(prefix, "utf8"))
      const temporary = names.map((name) => path.join(tmp, name))
      const delivered: Array<string> = []
      const result = yield* Effect.tryPromise({
        try: async () => {
          const size = await receive(temporary[0]!, prefixes[0]!, input.data, input.maxSize)
          for (let i = 1; i < names.length; i++) {
            await copyWithPrefix(temporary[0]!, prefixes[0]!.length, temporary[i]!, prefixes[i]!)
          }
          for (let i = 0; i < names.length; i++) {
            const final = `${names[i]},S=${prefixes[i]!.length + size}`
            await fsp.rename(temporary[i]!, path.join(fresh, final))
            delivered.push(final)
          }
          await syncNew()
          return { id: input.id, files: delivered, size }
        },
        catch: (cause) => cause
      }).pipe(
        Effect.onInterrupt(() =>
          Effect.promise(async () => {
            for (const file of temporary) await fsp.unlink(file).catch(() => undefined)
          })
        ),
        Effect.tapError(() =>
          Effect.promise(async () => {
            for (const file of temporary) await fsp.unlink(file).catch(() => undefined)
            // A mail is acknowledged whole or not at all: the client retries, so copies already in new/ go.
            for (const name of delivered) await fsp.unlink(path.join(fresh, name)).catch(() => undefined)
          })
        ),
        Effect.catchAll((cause) => {
          if (cause instanceof TooLarge) {
            return new SpoolError({
              reason: "Oversized",
              message: `the mail has ${cause.size} octets, more than the limit of ${input.maxSize}`
            })
          }
          if (cause instanceof SourceFailed) {
            return new SpoolError({
              reason: "Aborted",
              message: `the data ended early: ${String(cause.cause)}`,
              cause: cause.cause
            })
          }
          const reason = reasonOf(cause)
          const message = `cannot write to the spool ${dir}: ${String(cause)}`
          return Effect.zipRight(markUnhealthy(reason, message), new SpoolError({ reason, message, cause }))
        })
      )
      return result
    }).pipe(Effect.withSpan("SmtpSpool.deliver", { attributes: { id: input.id } }))

  const spool: Spool = { dir, health, roomFor, deliver }
  return spool
})
