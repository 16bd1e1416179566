/**
 * The listener's spool is a Maildir (cr.yp.to/proto/maildir.html): a mail is written to tmp/, fsynced, renamed into
 * new/, and new/ is fsynced, before the listener answers 250. The processor reads new/ with MaildirMailbox like any
 * other Maildir account. Node's fs is used directly: the data arrives as a Node stream, and fsync of a directory has
 * no counterpart in @effect/platform's FileSystem.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
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

/** How a place that takes accepted mail answers whether it can take more (the Maildir spool, the store). */
export interface SpoolProbe {
  /** the last probe's verdict, probing again when it is older than the health interval */
  readonly health: Effect.Effect<SpoolHealth>
  /** a healthy spool with room for `octets` more (the SIZE parameter of MAIL FROM), or why not */
  readonly roomFor: (octets: number) => Effect.Effect<SpoolHealth>
  /** `roomFor` without I/O: the verdict of a probe still trusted at `now`, or undefined when one is due */
  readonly knownRoomFor: (octets: number, now: number) => SpoolHealth | undefined
}

export interface Spool extends SpoolProbe {
  readonly dir: string
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

// File descriptors through the callback API: fs/promises wraps each in a FileHandle object, which costs more CPU
// per mail than the writes themselves at a few hundred mails per second.
const openFile = promisify(fs.open)
const closeFile = promisify(fs.close)
const fdatasync = promisify(fs.fdatasync)
const fsync = promisify(fs.fsync)
// the promisified fs.write and fs.writev resolve to { bytesWritten, ... } (their util.promisify.custom)
const writeBytes = promisify(fs.write) as (
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number
) => Promise<{ readonly bytesWritten: number }>
const writeVector = promisify(fs.writev) as (
  fd: number,
  buffers: ReadonlyArray<Uint8Array>
) => Promise<{ readonly bytesWritten: number }>

const writeAll = async (fd: number, bytes: Uint8Array) => {
  let offset = 0
  while (offset < bytes.length) offset += (await writeBytes(fd, bytes, offset, bytes.length - offset)).bytesWritten
}

const writevAll = async (fd: number, buffers: ReadonlyArray<Uint8Array>) => {
  const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0)
  const { bytesWritten } = await writeVector(fd, buffers)
  if (bytesWritten < total) await writeAll(fd, Buffer.concat(buffers).subarray(bytesWritten))
}

/** Data kept in memory before the file is written: most bounces fit, and then cost one open, one writev. */
const bufferLimit = 256 * 1024
const bufferChunks = 256

/** Writes `prefix` and `data` into a new file and syncs it; returns the size of the data. */
const receive = async (file: string, prefix: Uint8Array, data: AsyncIterable<Uint8Array>, maxSize: number) => {
  let fd: number | undefined
  let pending: Array<Uint8Array> = [prefix]
  let pendingSize = prefix.length
  const flush = async () => {
    fd ??= await openFile(file, "wx", 0o640)
    await writevAll(fd, pending)
    pending = []
    pendingSize = 0
  }
  let size = 0
  try {
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
      if (size > maxSize) continue
      pending.push(next.value)
      pendingSize += next.value.length
      if (pendingSize >= bufferLimit || pending.length >= bufferChunks) await flush()
    }
    if (size > maxSize) throw new TooLarge(size)
    await flush()
    await fdatasync(fd!)
  } finally {
    if (fd !== undefined) await closeFile(fd)
  }
  return size
}

/** Writes `prefix` and the data part of `source` (from `offset`) into a new file. */
const copyWithPrefix = async (source: string, offset: number, file: string, prefix: Uint8Array) => {
  const fd = await openFile(file, "wx", 0o640)
  try {
    await writeAll(fd, prefix)
    for await (const chunk of fs.createReadStream(source, { start: offset })) await writeAll(fd, chunk as Buffer)
    await fdatasync(fd)
  } finally {
    await closeFile(fd)
  }
}

const syncDirectory = async (dir: string) => {
  const fd = await openFile(dir, "r")
  try {
    await fsync(fd)
  } finally {
    await closeFile(fd)
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
  // One directory fsync per mail, in parallel: ext4 joins concurrent fsyncs into one journal commit, and a
  // serialised group commit here measured slower with 20 parallel clients
  const syncNew = () => syncDirectory(fresh)

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
  // Maildir unique names: time, pid, a per-process counter, and randomness drawn once per process
  const random = randomBytes(4).toString("hex")
  const uniqueName = (now: number) => {
    const seconds = Math.floor(now / 1000)
    const micros = (now % 1000) * 1000
    return `${seconds}.M${micros}P${process.pid}Q${++sequence}R${random}.${host}`
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
  const recent = (now: number) => (last !== undefined && now - last.at < healthMillis ? last.health : undefined)
  const health = Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const known = recent(now)
    if (known !== undefined) return known
    const result = yield* Effect.promise(probe)
    last = { at: now, health: result }
    return result
  })

  const withRoom = (current: SpoolHealth, octets: number): SpoolHealth =>
    !current.healthy || current.freeBytes - octets >= options.minFreeSpace
      ? current
      : {
          healthy: false,
          reason: "Full",
          message: `no room for ${octets} octets: ${current.freeBytes} free, minFreeSpace ${options.minFreeSpace}`
        }

  const roomFor = (octets: number) => Effect.map(health, (current) => withRoom(current, octets))

  const knownRoomFor = (octets: number, now: number) => {
    const known = recent(now)
    return known === undefined ? undefined : withRoom(known, octets)
  }

  const failure = (cause: unknown, maxSize: number, now: number): SpoolError => {
    if (cause instanceof TooLarge) {
      return new SpoolError({
        reason: "Oversized",
        message: `the mail has ${cause.size} octets, more than the limit of ${maxSize}`
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
    last = { at: now, health: { healthy: false, reason, message } }
    return new SpoolError({ reason, message, cause })
  }

  /** The whole delivery in one promise: at a few hundred mails per second, each Effect step per mail shows. */
  const write = async (input: SpoolInput, now: number): Promise<SpooledMail> => {
    const names = input.prefixes.map(() => uniqueName(now))
    const prefixes = input.prefixes.map((prefix) => Buffer.from(prefix, "utf8"))
    const temporary = names.map((name) => path.join(tmp, name))
    const delivered: Array<string> = []
    try {
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
    } catch (cause) {
      for (const file of temporary) await fsp.unlink(file).catch(() => undefined)
      // A mail is acknowledged whole or not at all: the client retries, so copies already in new/ go.
      for (const name of delivered) await fsp.unlink(path.join(fresh, name)).catch(() => undefined)
      throw failure(cause, input.maxSize, now)
    }
  }

  const deliver = (input: SpoolInput) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.tryPromise({ try: () => write(input, now), catch: (error) => error as SpoolError })
    )

  const spool: Spool = { dir, health, roomFor, knownRoomFor, deliver }
  return spool
})
