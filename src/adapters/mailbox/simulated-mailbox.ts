import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { defaultLimits, type MailboxLimits, sizeCheck } from "./limits.js"
import {
  Mailbox,
  type MailboxEntry,
  MailboxError,
  type MailboxSession,
  type MailboxStat,
  type RetrieveResult
} from "./mailbox.js"
import { errorFromReply, parseStatusLine, type Pop3Command } from "./pop3-codec.js"

/** The steps of a simulated POP3 session that faults can target. */
export type SimulatedCommand = "CONNECT" | "AUTH" | "STAT" | "LIST" | "UIDL" | "RETR" | "DELE" | "QUIT"

/** A fault the simulated server produces once, at the `occurrence`-th matching step after injection (default 1). */
export type SimulatedFault =
  /** the connection drops when the client issues `command` */
  | { readonly _tag: "DropAtCommand"; readonly command: SimulatedCommand; readonly occurrence?: number }
  /** the server answers `command` with `reply`, e.g. "-ERR [SYS/TEMP] disk full" */
  | {
      readonly _tag: "ErrorAtCommand"
      readonly command: SimulatedCommand
      readonly reply: string
      readonly occurrence?: number
    }
  /** the connection drops after this many octets of mail data in the next session that gets that far */
  | { readonly _tag: "DropAfterBytes"; readonly bytes: number }

/** A mail held by the simulated server. */
export interface SimulatedMessage {
  readonly uid: string
  readonly bytes: Uint8Array
}

/** Counters of what sessions did, for assertions. */
export interface SimulatedSessionStats {
  readonly opened: number
  readonly committed: number
  readonly aborted: number
  readonly dropped: number
  /** the most sessions open at once */
  readonly mostOpen: number
  /** logins refused for coming sooner than the LOGIN-DELAY after the previous one */
  readonly refusedLogins: number
}

export interface SimulatedMailboxOptions {
  readonly messages?: Iterable<string | Uint8Array | SimulatedMessage>
  /** time each command takes, on Effect's Clock (so TestClock drives it) */
  readonly latency?: Duration.DurationInput
  /** whether retrieveMany and commit pay one latency per window of commands instead of one per command */
  readonly pipelining?: boolean
  readonly pipelineWindow?: number
  /** size of the chunks retrieveStream emits */
  readonly chunkSize?: number
  readonly faults?: ReadonlyArray<SimulatedFault>
  readonly limits?: Partial<MailboxLimits>
  /**
   * several sessions at once, each on the maildrop as it was at its login, as Dovecot allows (default: an exclusive
   * lock, as RFC 1939 describes, and a second session is refused with [IN-USE])
   */
  readonly sharedMaildrop?: boolean
  /** what the mailbox tells the processor: whether sessions may overlap (Mailbox.overlappingSessions) */
  readonly overlappingSessions?: boolean
  /**
   * RFC 2449 LOGIN-DELAY: announced in the capabilities, and a login sooner than this many seconds (Effect's Clock)
   * after the previous one is refused with [LOGIN-DELAY]
   */
  readonly loginDelaySeconds?: number
}

/** Test access to a simulated mailbox: fill it, inspect it, inject faults. */
export class SimulatedMailboxHandle extends Context.Tag("rebound/Mailbox/SimulatedMailboxHandle")<
  SimulatedMailboxHandle,
  {
    /** adds a mail (visible to sessions opened afterwards, as in POP3) and returns its uid */
    readonly deliver: (mail: string | Uint8Array, uid?: string) => Effect.Effect<string>
    readonly messages: Effect.Effect<ReadonlyArray<SimulatedMessage>>
    readonly inject: (fault: SimulatedFault) => Effect.Effect<void>
    readonly clearFaults: Effect.Effect<void>
    /** another client holds the maildrop lock: opening fails with "InUse" until released */
    readonly holdLock: Effect.Effect<void>
    readonly releaseLock: Effect.Effect<void>
    readonly setLatency: (latency: Duration.DurationInput) => Effect.Effect<void>
    /** the commands sessions sent, in order, e.g. "RETR 2", "DELE 2", "QUIT" */
    readonly commandLog: Effect.Effect<ReadonlyArray<string>>
    readonly stats: Effect.Effect<SimulatedSessionStats>
  }
>() {}

interface ArmedFault {
  readonly fault: SimulatedFault
  remaining: number
}

const toBytes = (mail: string | Uint8Array): Uint8Array =>
  typeof mail === "string" ? new Uint8Array(Buffer.from(mail, "utf8")) : mail

const closed = (message: string) => new MailboxError({ reason: "Closed", message })

/**
 * Builds a simulated mailbox: POP3 semantics in memory (a maildrop fixed at login, an exclusive lock unless
 * `sharedMaildrop`, deletions applied only on a clean QUIT), deterministic, with injected faults and latency on
 * Effect's Clock.
 */
export const make = (options: SimulatedMailboxOptions = {}) =>
  Effect.sync(() => {
    const limits: MailboxLimits = { ...defaultLimits, ...options.limits }
    const pipelining = options.pipelining ?? true
    const window = Math.max(1, options.pipelineWindow ?? 16)
    const chunkSize = Math.max(1, options.chunkSize ?? 16 * 1024)
    let latency = Duration.decode(options.latency ?? Duration.zero)
    let nextUid = 1
    let lockHeldElsewhere = false
    let activeSession: number | undefined
    let openSessions = 0
    let sessionCounter = 0
    const stored: Array<SimulatedMessage> = []
    const faults: Array<ArmedFault> = []
    const log: Array<string> = []
    const stats = { opened: 0, committed: 0, aborted: 0, dropped: 0, mostOpen: 0, refusedLogins: 0 }
    let lastLoginAt: number | undefined

    const add = (mail: string | Uint8Array, uid?: string): string => {
      const id = uid ?? `sim-${String(nextUid++).padStart(8, "0")}`
      stored.push({ uid: id, bytes: toBytes(mail) })
      return id
    }
    for (const message of options.messages ?? []) {
      if (typeof message === "string" || message instanceof Uint8Array) add(message)
      else add(message.bytes, message.uid)
    }
    const arm = (fault: SimulatedFault) =>
      faults.push({ fault, remaining: fault._tag === "DropAfterBytes" ? 1 : Math.max(1, fault.occurrence ?? 1) })
    for (const fault of options.faults ?? []) arm(fault)

    const wait = (paid: boolean) =>
      paid && Duration.greaterThan(latency, Duration.zero) ? Effect.sleep(latency) : Effect.void

    const open = Effect.gen(function* () {
      const id = ++sessionCounter
      let state: "open" | "committed" | "gone" = "open"
      let bytesSent = 0
      // whether this session is among the open ones (it got past the lock)
      let counted = false
      let maildrop: ReadonlyArray<SimulatedMessage> = []
      const deleted = new Set<number>()

      // the session ends without a commit: it no longer holds the lock or counts as open
      const end = () => {
        state = "gone"
        if (activeSession === id) activeSession = undefined
        if (counted) openSessions--
      }
      const drop = (command: string) => {
        if (state === "open") {
          end()
          stats.dropped++
        }
        return closed(`the server dropped the connection at ${command}`)
      }

      // One command round trip: latency, the log, then any fault armed for it.
      const issue = (command: SimulatedCommand, argument?: string | number, paid = true) =>
        Effect.gen(function* () {
          yield* wait(paid)
          if (state !== "open") return yield* closed(`the session is ${state === "gone" ? "lost" : "committed"}`)
          log.push(argument === undefined ? command : `${command} ${argument}`)
          const index = faults.findIndex(
            (armed) => armed.fault._tag !== "DropAfterBytes" && armed.fault.command === command
          )
          if (index < 0) return
          const armed = faults[index]!
          if (--armed.remaining > 0) return
          faults.splice(index, 1)
          const fault = armed.fault
          if (fault._tag === "DropAtCommand") {
            const error = drop(command)
            return yield* command === "CONNECT"
              ? new MailboxError({ reason: "Connect", message: error.message })
              : error
          }
          if (fault._tag === "ErrorAtCommand") {
            const parsed = parseStatusLine(fault.reply)
            if (Either.isLeft(parsed) || parsed.right._tag !== "Err") {
              drop(command)
              return yield* new MailboxError({ reason: "Protocol", message: `unexpected reply to ${command}` })
            }
            const pop3Command: Pop3Command = command === "CONNECT" || command === "AUTH" ? "PASS" : command
            const error = errorFromReply(pop3Command, parsed.right, command === "AUTH")
            if (command === "CONNECT" || command === "AUTH" || command === "QUIT") drop(command)
            return yield* error
          }
        })

      const message = (entry: MailboxEntry) =>
        Effect.gen(function* () {
          const number = entry.number ?? maildrop.findIndex((m) => m.uid === entry.uid) + 1
          const found = maildrop[number - 1]
          if (found === undefined || found.uid !== entry.uid || deleted.has(number)) {
            return yield* new MailboxError({ reason: "NotFound", message: `no message ${entry.uid} in this session` })
          }
          return { number, found }
        })

      // Octets the connection may still carry before an armed DropAfterBytes fires.
      const byteAllowance = (): number => {
        const armed = faults.find((f) => f.fault._tag === "DropAfterBytes")
        return armed === undefined || armed.fault._tag !== "DropAfterBytes" ? Infinity : armed.fault.bytes - bytesSent
      }
      const fireDropAfterBytes = () => {
        const index = faults.findIndex((f) => f.fault._tag === "DropAfterBytes")
        if (index >= 0) faults.splice(index, 1)
        return drop("RETR (after the byte limit)")
      }

      const retrieveOne = (entry: MailboxEntry, paid: boolean) =>
        Effect.gen(function* () {
          const tooLarge = sizeCheck(entry, limits)
          if (tooLarge !== undefined) return yield* tooLarge
          const { found, number } = yield* message(entry)
          yield* issue("RETR", number, paid)
          if (found.bytes.length > byteAllowance()) return yield* fireDropAfterBytes()
          bytesSent += found.bytes.length
          return found.bytes
        })

      yield* issue("CONNECT")
      if (lockHeldElsewhere || (activeSession !== undefined && options.sharedMaildrop !== true)) {
        state = "gone"
        return yield* new MailboxError({
          reason: "InUse",
          message: "PASS refused by the server: -ERR [IN-USE] the maildrop is locked by another session"
        })
      }
      activeSession = id
      stats.opened++
      counted = true
      stats.mostOpen = Math.max(stats.mostOpen, ++openSessions)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (state === "open") {
            end()
            stats.aborted++
          } else if (activeSession === id) activeSession = undefined
        })
      )
      yield* issue("AUTH")
      const loginAt = yield* Clock.currentTimeMillis
      const loginDelay = options.loginDelaySeconds
      if (loginDelay !== undefined && lastLoginAt !== undefined && loginAt - lastLoginAt < loginDelay * 1000) {
        stats.refusedLogins++
        end()
        return yield* new MailboxError({
          reason: "LoginDelay",
          message: `PASS refused by the server: -ERR [LOGIN-DELAY] wait ${loginDelay} s between logins`
        })
      }
      lastLoginAt = loginAt
      maildrop = [...stored]

      const listing = (skip: ReadonlySet<string>) =>
        Effect.gen(function* () {
          yield* issue("LIST")
          yield* issue("UIDL")
          return maildrop
            .map((m, index) => ({ uid: m.uid, size: m.bytes.length, number: index + 1 }))
            .filter((entry) => !deleted.has(entry.number) && !skip.has(entry.uid))
            .slice(0, limits.maxMailsPerSession)
        })

      const session: MailboxSession = {
        capabilities: {
          kind: "simulated",
          secure: true,
          pipelining,
          authentication: "none",
          ...(options.loginDelaySeconds === undefined ? {} : { loginDelaySeconds: options.loginDelaySeconds }),
          raw: [
            "simulated mailbox",
            ...(pipelining ? ["PIPELINING"] : []),
            ...(options.loginDelaySeconds === undefined ? [] : [`LOGIN-DELAY ${options.loginDelaySeconds}`])
          ]
        },
        stat: Effect.gen(function* () {
          yield* issue("STAT")
          const live = maildrop.filter((_, index) => !deleted.has(index + 1))
          return { count: live.length, size: live.reduce((sum, m) => sum + m.bytes.length, 0) } satisfies MailboxStat
        }),
        list: listing(new Set()),
        listSkipping: listing,
        retrieve: (entry) => retrieveOne(entry, true),
        retrieveStream: (entry) =>
          Stream.unwrap(
            Effect.gen(function* () {
              const tooLarge = sizeCheck(entry, limits)
              if (tooLarge !== undefined) return yield* tooLarge
              const { found, number } = yield* message(entry)
              yield* issue("RETR", number)
              const allowance = byteAllowance()
              const sent = found.bytes.subarray(0, Math.min(found.bytes.length, allowance))
              const chunks: Array<Uint8Array> = []
              for (let offset = 0; offset < sent.length; offset += chunkSize) {
                chunks.push(sent.subarray(offset, offset + chunkSize))
              }
              const body = Stream.fromChunk(Chunk.unsafeFromArray(chunks)).pipe(
                Stream.tap((chunk) => Effect.sync(() => (bytesSent += chunk.length)))
              )
              return found.bytes.length > allowance ? Stream.concat(body, Stream.fail(fireDropAfterBytes())) : body
            })
          ),
        retrieveMany: (entries) =>
          Stream.fromIterable(entries).pipe(
            Stream.zipWithIndex,
            Stream.mapEffect(([entry, index]) =>
              retrieveOne(entry, !pipelining || index % window === 0).pipe(
                Effect.map((bytes): RetrieveResult => ({ _tag: "Retrieved", entry, bytes })),
                Effect.catchIf(
                  () => state === "open",
                  (error) => Effect.succeed<RetrieveResult>({ _tag: "Skipped", entry, error })
                )
              )
            )
          ),
        markDeleted: (entry) =>
          Effect.gen(function* () {
            if (state !== "open") return yield* closed("the session is no longer open")
            const { number } = yield* message(entry)
            deleted.add(number)
          }),
        commit: Effect.gen(function* () {
          let index = 0
          for (const number of deleted) {
            yield* issue("DELE", number, !pipelining || index++ % window === 0)
          }
          yield* issue("QUIT")
          const uids = new Set([...deleted].map((number) => maildrop[number - 1]!.uid))
          for (let i = stored.length - 1; i >= 0; i--) if (uids.has(stored[i]!.uid)) stored.splice(i, 1)
          state = "committed"
          stats.committed++
          openSessions--
          if (activeSession === id) activeSession = undefined
        })
      }
      return session
    })

    const handle: Context.Tag.Service<SimulatedMailboxHandle> = {
      deliver: (mail, uid) => Effect.sync(() => add(mail, uid)),
      messages: Effect.sync(() => [...stored]),
      inject: (fault) => Effect.sync(() => void arm(fault)),
      clearFaults: Effect.sync(() => void faults.splice(0, faults.length)),
      holdLock: Effect.sync(() => void (lockHeldElsewhere = true)),
      releaseLock: Effect.sync(() => void (lockHeldElsewhere = false)),
      setLatency: (value) => Effect.sync(() => void (latency = Duration.decode(value))),
      commandLog: Effect.sync(() => [...log]),
      stats: Effect.sync(() => ({ ...stats }))
    }
    return {
      mailbox: Mailbox.of({ open, overlappingSessions: options.overlappingSessions ?? false }),
      handle: SimulatedMailboxHandle.of(handle)
    }
  })

/** A simulated mailbox as the Mailbox port, with its handle for tests. */
export const layer = (options: SimulatedMailboxOptions = {}): Layer.Layer<Mailbox | SimulatedMailboxHandle> =>
  Layer.effectContext(
    Effect.map(make(options), ({ handle, mailbox }) =>
      Context.make(Mailbox, mailbox).pipe(Context.add(SimulatedMailboxHandle, handle))
    )
  )
