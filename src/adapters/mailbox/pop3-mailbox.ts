import type * as HttpClient from "@effect/platform/HttpClient"
import type * as ConfigError from "effect/ConfigError"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { sizeCheck } from "./limits.js"
import {
  Mailbox,
  type MailboxCapabilities,
  type MailboxEntry,
  MailboxError,
  type MailboxSession,
  type RetrieveResult
} from "./mailbox.js"
import * as Pop3Client from "./pop3-client.js"
import { encodeCommand, parseStatusLine } from "./pop3-codec.js"
import { type MessageReply, messageReply, type Pop3Connection } from "./pop3-connection.js"
import { config, Pop3Options, type Pop3OptionsInput } from "./pop3-options.js"
import * as TokenProvider from "./token-provider.js"

/** How long a connection made ahead for the next session waits for it before it is closed. */
const aheadIdle = Duration.seconds(30)

const closedError = (why: string) => new MailboxError({ reason: "Closed", message: `the POP3 session ${why}` })

/** Whether a mail's first line reads as a reply's "+OK" or "-ERR" line, by the rules the client reads replies with. */
const beginsWithStatusLine = (bytes: Uint8Array) => {
  // the indicator and what follows it are within the first few octets: a longer line is cut, not searched or copied
  const first = bytes.subarray(0, 16)
  const lineFeed = first.indexOf(0x0a)
  const head = Buffer.from(first.buffer, first.byteOffset, lineFeed < 0 ? first.length : lineFeed)
  const status = parseStatusLine(head.toString("latin1").replace(/\r$/, ""))
  return Either.isRight(status) && status.right._tag !== "Continue"
}

/**
 * A server that answered a pipelined RETR with its status line and no body would have the next reply taken as this
 * mail, and every later mail stored under the unique id before its own: the mail of one id applied, another id's
 * deleted. Such a body begins with that next status line and differs in size from what LIST said. So a reply that
 * does both, while later RETRs are in flight, breaks the connection: the mails before it are kept, nothing is
 * deleted. A mail that really begins with "+OK" and has its LIST size passes; on a server whose LIST sizes are not
 * exact, `pipelining: "off"` reads it (with one RETR in flight, a missing body is a timeout, never a shift).
 */
const breakIfOutOfStep = (
  connection: Pop3Connection,
  number: number,
  entry: MailboxEntry,
  bytes: Uint8Array
): MailboxError | undefined =>
  beginsWithStatusLine(bytes)
    ? connection.break(
        new MailboxError({
          reason: "Protocol",
          message:
            `the reply to RETR ${number} (${entry.uid}) begins with a POP3 status line and holds ${bytes.byteLength} ` +
            `octets where LIST said ${entry.size}: the replies are out of step (a reply without its body?); the ` +
            `session stops before this mail and deletes nothing (a mail that does begin so is read with pipelining off)`
        })
      )
    : undefined

/**
 * The Mailbox port over POP3. Deletions are kept locally and sent as DELE at commit, followed by QUIT; a session
 * that ends any other way drops the connection without QUIT, so the server deletes nothing (RFC 1939 section 6),
 * even one announcing EXPIRE 0.
 */
const build = Effect.fn("Pop3Mailbox.make")(function* (input: Pop3OptionsInput) {
  const options = yield* Effect.try({
    try: () => Pop3Options.make(input),
    catch: (error) => new MailboxError({ reason: "Config", message: `invalid POP3 options: ${String(error)}` })
  })
  const tokens = "token" in options.auth ? yield* TokenProvider.make(options.auth.token) : undefined
  // LIST sizes of some servers (qmail) count LF line ends while RETR sends CRLF: allow twice the limit in transit.
  const transferCap = options.ignoreSize ? Number.POSITIVE_INFINITY : 2 * options.maxMailSize + 64 * 1024

  // The next session's connection, greeted (and under TLS) while the current session still runs: a session that
  // finds more mails than it takes is followed at once by another, and the server's greeting and TLS handshake (a
  // new login process on Dovecot: 25 of the 40 ms a login costs there) then overlap the end of this one. The
  // authentication waits for the processor to open the next session: when this one has received its last mail if
  // sessions overlap (overlapSessions), after its QUIT otherwise.
  let ahead:
    | {
        readonly fiber: Fiber.RuntimeFiber<Pop3Client.Pop3Greeted, MailboxError>
        readonly scope: Scope.CloseableScope
        readonly timer: ReturnType<typeof setTimeout>
      }
    | undefined
  // the runtime of the mailbox, not of the session that greets ahead: a fiber forked from the session would carry
  // the session's context (its scope, and through it everything the session returned) into the next session, and
  // so on, one session after the other
  const runtime = yield* Effect.runtime<never>()
  const greetAhead = Effect.gen(function* () {
    if (ahead !== undefined) return
    const scope = yield* Scope.make()
    const fiber = Runtime.runFork(runtime)(
      Scope.extend(
        Effect.tap(Pop3Client.greet(options), (greeted) => Effect.sync(() => greeted.connection.keepAlive(false))),
        scope
      )
    )
    // not taken by a session in time (the server would drop it before long): closed. A plain timer that does not
    // keep the process alive either: `rebound once` exits when its work is done, not 30 s later.
    const timer = setTimeout(() => {
      if (ahead?.fiber !== fiber) return
      ahead = undefined
      Effect.runFork(Scope.close(scope, Exit.void))
    }, Duration.toMillis(aheadIdle)).unref()
    ahead = { fiber, scope, timer }
  })
  /** A greeted connection made ahead, moved into the session's scope; none when it failed or was lost meanwhile. */
  const takeAhead = Effect.gen(function* () {
    if (ahead === undefined) return undefined
    const { fiber, scope, timer } = ahead
    ahead = undefined
    clearTimeout(timer)
    // awaited, not joined: nothing of that fiber's state passes into this session
    const exit = yield* Fiber.await(fiber)
    if (Exit.isFailure(exit) || !exit.value.connection.usable) {
      yield* Scope.close(scope, Exit.void)
      return undefined
    }
    exit.value.connection.keepAlive(true)
    yield* Effect.addFinalizer((sessionExit) => Scope.close(scope, sessionExit))
    return exit.value
  })

  const open = Effect.gen(function* () {
    const greeted = (yield* takeAhead) ?? (yield* Pop3Client.greet(options))
    const client = yield* Pop3Client.login(greeted, options, tokens)
    const connection = client.connection
    const pipelining = options.pipelining === "auto" && client.capabilities.pipelining
    const window = pipelining ? options.pipelineDepth : 1
    const lock = yield* Effect.makeSemaphore(1)
    let state: "open" | "committed" = "open"
    let listed: Map<string, number> | undefined
    const marked = new Map<number, MailboxEntry>()

    const usable = Effect.suspend(() =>
      state !== "open"
        ? Effect.fail(closedError("is committed"))
        : connection.usable
          ? Effect.void
          : Effect.fail(closedError("lost its connection"))
    )
    const serial = <A, E>(effect: Effect.Effect<A, E>) => lock.withPermits(1)(Effect.zipRight(usable, effect))

    // STAT does not change within a session (DELE goes out at commit), so the session asks it once
    let counted: { readonly count: number; readonly size: number } | undefined
    const stat = Effect.suspend(() =>
      counted !== undefined
        ? Effect.succeed(counted)
        : Effect.tap(Pop3Client.stat(client), (reply) => {
            counted = reply
          })
    )

    // `skipped` more entries are listed when the caller leaves that many out (listSkipping)
    const listing = (skipped: number) =>
      Effect.gen(function* () {
        const limit = options.maxMailsPerSession + skipped
        // the count decides whether a backlog's first mails are asked for one by one (Pop3Client.listing)
        const count = pipelining && client.capabilities.uidl && limit !== Infinity ? (yield* stat).count : undefined
        const entries = yield* Pop3Client.listing(client, pipelining, limit, count === undefined ? {} : { count })
        // more than one session's share (with the previous session's mails when they are not expunged yet)
        if (count !== undefined && count > options.maxMailsPerSession) yield* greetAhead
        listed = new Map(entries.map((entry) => [entry.uid, entry.number]))
        return entries
      })

    // At most maxMailsPerSession entries that are not in `skip`, in mailbox order.
    const listPast = (skip: ReadonlySet<string>) =>
      serial(listing(skip.size)).pipe(
        Effect.map((entries) => {
          const kept: Array<MailboxEntry> = []
          for (const { number, size, uid } of entries) {
            if (kept.length === options.maxMailsPerSession) break
            if (!skip.has(uid)) kept.push({ uid, size, number })
          }
          return kept
        })
      )

    // The message number of an entry in this session; entries of another session are checked by uid.
    const numberOf = (entry: MailboxEntry) =>
      Effect.gen(function* () {
        if (listed === undefined) yield* listing(0)
        const number = listed!.get(entry.uid)
        if (number === undefined || (entry.number !== undefined && entry.number !== number)) {
          return yield* new MailboxError({ reason: "NotFound", message: `mail ${entry.uid} is not in this session` })
        }
        return number
      })

    const capabilities: MailboxCapabilities = {
      kind: "pop3",
      secure: connection.secure,
      pipelining,
      authentication: client.authentication,
      raw: client.capabilities.lines,
      ...(client.capabilities.loginDelaySeconds === undefined
        ? {}
        : { loginDelaySeconds: client.capabilities.loginDelaySeconds }),
      ...(client.capabilities.expire === undefined ? {} : { expire: client.capabilities.expire })
    }
    yield* Effect.logDebug(
      `POP3 ${options.host}: logged in with ${client.authentication}, ${connection.secure ? "TLS" : "no TLS"}, ` +
        `${pipelining ? "pipelining" : "no pipelining"}`
    )

    const retrieve = (entry: MailboxEntry) =>
      serial(
        Effect.gen(function* () {
          const tooLarge = sizeCheck(entry, options)
          if (tooLarge !== undefined) return yield* tooLarge
          const reply = yield* Pop3Client.retrieve(client, yield* numberOf(entry), transferCap)
          return yield* reply
        })
      ).pipe(Effect.withSpan("Pop3Mailbox.retrieve", { attributes: { uid: entry.uid } }))

    const retrieveStream = (entry: MailboxEntry) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* Effect.acquireRelease(lock.take(1), () => lock.release(1))
          yield* usable
          const tooLarge = sizeCheck(entry, options)
          if (tooLarge !== undefined) return yield* tooLarge
          return Pop3Client.retrieveStream(client, yield* numberOf(entry))
        })
      )

    const retrieveMany = (entries: Iterable<MailboxEntry>) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* Effect.acquireRelease(lock.take(1), () => lock.release(1))
          yield* usable
          const plan: Array<{ readonly entry: MailboxEntry; readonly number: number | MailboxError }> = []
          for (const entry of entries) {
            const number =
              sizeCheck(entry, options) ??
              (yield* numberOf(entry).pipe(Effect.catchAll((error) => Effect.succeed(error))))
            plan.push({ entry, number })
          }
          let sent = 0
          let received = 0
          let outstanding = 0
          let current: MessageReply | undefined
          // set when a reply shows the session out of step: the mails before it are given, then the stream fails
          let outOfStep: MailboxError | undefined
          // Tops the window up to `window` RETR in flight. It runs once per pull, after the replies already received
          // were taken: one write per network read, which also acknowledges the server's data at once (waiting for
          // half the window to drain left the server's small writes behind Nagle and our delayed ACK, 40 ms each).
          const refill = (): MailboxError | undefined => {
            let commands = ""
            while (sent < plan.length && outstanding < window) {
              const { number } = plan[sent++]!
              if (typeof number === "number") {
                commands += encodeCommand("RETR", number)
                outstanding++
              }
            }
            return commands === "" ? undefined : connection.writeNow(commands)
          }
          yield* Effect.addFinalizer((exit) => {
            if (outstanding === 0) return Effect.void
            if (Exit.isInterrupted(exit)) return Effect.sync(() => connection.destroy())
            // Read the replies already asked for, so the session stays in step.
            const pending = [current ?? messageReply(0)]
            for (let i = 1; i < outstanding; i++) pending.push(messageReply(0))
            return Effect.forEach(pending, (reply) => connection.readReply(reply, "the reply to RETR"), {
              discard: true
            }).pipe(Effect.catchAll(() => Effect.sync(() => connection.destroy())))
          })
          // Each pull gives every reply already complete in the buffer (one network read often holds several
          // mails), and waits only when none is.
          const pull: Effect.Effect<Chunk.Chunk<RetrieveResult>, Option.Option<MailboxError>> = Effect.suspend(() => {
            if (outOfStep !== undefined) return Effect.fail(Option.some(outOfStep))
            const results: Array<RetrieveResult> = []
            while (received < plan.length && results.length < 256) {
              if (outstanding === 0) {
                const failure = refill()
                if (failure !== undefined) return Effect.fail(Option.some(failure))
              }
              const { entry, number } = plan[received]!
              if (typeof number !== "number") {
                results.push({ _tag: "Skipped", entry, error: number })
                received++
                continue
              }
              current ??= messageReply(transferCap)
              const done = connection.advanceReply(current, "the reply to RETR")
              if (done instanceof MailboxError) return Effect.fail(Option.some(done))
              if (!done) break
              const result = Pop3Client.messageResult(connection, "RETR", current)
              current = undefined
              if (Either.isRight(result) && outstanding > 1 && result.right.byteLength !== entry.size) {
                outOfStep = breakIfOutOfStep(connection, number, entry, result.right)
                if (outOfStep !== undefined) break
              }
              outstanding--
              received++
              if (Either.isLeft(result) && !connection.usable) return Effect.fail(Option.some(result.left))
              results.push(
                Either.isRight(result)
                  ? { _tag: "Retrieved", entry, bytes: result.right }
                  : { _tag: "Skipped", entry, error: result.left }
              )
            }
            if (outOfStep !== undefined) {
              return results.length > 0
                ? Effect.succeed(Chunk.unsafeFromArray(results))
                : Effect.fail(Option.some(outOfStep))
            }
            const failure = refill()
            if (failure !== undefined) return Effect.fail(Option.some(failure))
            if (results.length > 0) return Effect.succeed(Chunk.unsafeFromArray(results))
            if (received >= plan.length) return Effect.fail(Option.none())
            return Effect.zipRight(Effect.mapError(connection.waitForData("the reply to RETR"), Option.some), pull)
          })
          return Stream.repeatEffectChunkOption(pull)
        })
      )

    const session: MailboxSession = {
      capabilities,
      stat: serial(stat),
      list: listPast(new Set()).pipe(Effect.withSpan("Pop3Mailbox.list")),
      listSkipping: (skip) =>
        listPast(skip).pipe(Effect.withSpan("Pop3Mailbox.listSkipping", { attributes: { skip: skip.size } })),
      retrieve,
      retrieveStream,
      retrieveMany,
      markDeleted: (entry) =>
        Effect.gen(function* () {
          if (state !== "open") return yield* closedError("is committed")
          const number = listed?.get(entry.uid)
          if (number === undefined) {
            return yield* new MailboxError({ reason: "NotFound", message: `mail ${entry.uid} is not in this session` })
          }
          marked.set(number, entry)
        }),
      commit: serial(
        Effect.gen(function* () {
          const numbers = [...marked.keys()].sort((a, b) => a - b)
          // A refused DELE aborts: the connection is dropped without QUIT, so nothing at all is deleted.
          yield* Pop3Client.deleteMessages(client, numbers, window).pipe(
            Effect.tapError(() => Effect.sync(() => connection.destroy()))
          )
          yield* Pop3Client.quit(client)
          state = "committed"
        })
      ).pipe(Effect.withSpan("Pop3Mailbox.commit", { attributes: { deletions: marked.size } }))
    }
    return session
  }).pipe(Effect.withSpan("Pop3Mailbox.open", { attributes: { host: options.host } }))

  /** Closes the connection made ahead, if any: when the mailbox itself is released. */
  const release = Effect.suspend(() => {
    if (ahead === undefined) return Effect.void
    const { fiber, scope, timer } = ahead
    ahead = undefined
    clearTimeout(timer)
    return Effect.zipRight(Fiber.interrupt(fiber), Scope.close(scope, Exit.void))
  })

  return { mailbox: Mailbox.of({ open, overlappingSessions: options.overlapSessions }), release }
})

/**
 * A POP3 mailbox. A connection it made ahead for a next session that never came is closed after 30 s (it does not keep
 * the process alive meanwhile); `scoped` closes it with its scope.
 */
export const make = (input: Pop3OptionsInput) => Effect.map(build(input), ({ mailbox }) => mailbox)

/** A POP3 mailbox that closes the connection it made ahead, if any, when its scope closes. */
export const scoped = (input: Pop3OptionsInput) =>
  Effect.flatMap(build(input), ({ mailbox, release }) =>
    Effect.as(
      Effect.addFinalizer(() => release),
      mailbox
    )
  )

/** A POP3 mailbox as the Mailbox port. HttpClient is used only by the OAuth2 token flows. */
export const layer = (options: Pop3OptionsInput): Layer.Layer<Mailbox, MailboxError, HttpClient.HttpClient> =>
  Layer.scoped(Mailbox, scoped(options))

/** A POP3 mailbox configured under `prefix` (POP3_HOST, POP3_USER, POP3_PASSWORD, ...; see `config`). */
export const layerConfig = (
  prefix = "POP3"
): Layer.Layer<Mailbox, MailboxError | ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.scoped(Mailbox, Effect.flatMap(config(prefix), scoped))
