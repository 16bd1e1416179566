import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs/promises"
import * as net from "node:net"
import type * as tls from "node:tls"
import { MailboxError } from "./mailbox.js"
import {
  apopDigest,
  decodeChallenge,
  encodeCommand,
  encodeContinuation,
  errorFromReply,
  greetingTimestamp,
  multilineStart,
  noCapabilities,
  oauthBearerErrorAck,
  parseCapabilities,
  parseScanListing,
  parseStat,
  parseUniqueIdListing,
  type Pop3Capabilities,
  type Pop3Command,
  saslOauthBearer,
  saslPlain,
  saslText,
  saslXoauth2,
  type StatusLine
} from "./pop3-codec.js"
import { type MessageReply, messageReply, Pop3Connection } from "./pop3-connection.js"
import { type PasswordAuth, type Pop3Auth, type Pop3Options, portOf, type TokenAuth } from "./pop3-options.js"
import type { TokenProvider } from "./token-provider.js"

/** An authenticated POP3 session in the TRANSACTION state (RFC 1939 section 5). */
export interface Pop3Client {
  readonly connection: Pop3Connection
  readonly greeting: string
  readonly capabilities: Pop3Capabilities
  /** how the client authenticated: "USER", "APOP", "SASL PLAIN", "SASL XOAUTH2", ... */
  readonly authentication: string
}

/** A listing line of LIST joined with UIDL. */
export interface Pop3Listing {
  readonly number: number
  readonly size: number
  readonly uid: string
}

const protocolError = (message: string) => new MailboxError({ reason: "Protocol", message })

const logCommand = (line: string) => Effect.logDebug(`POP3 C: ${line}`)

/** The typed error for a reply that is not "+OK": -ERR, or a continuation where none belongs. */
const replyError = (
  connection: Pop3Connection,
  command: Pop3Command | "greeting",
  status: Exclude<StatusLine, { readonly _tag: "Ok" }>,
  authentication = false
): MailboxError =>
  status._tag === "Err"
    ? errorFromReply(command, status, authentication)
    : connection.break(protocolError(`unexpected continuation "+ " in reply to ${command}`))

/** The reply to a single-line command: the "+OK" text, or the typed error. */
const expectOk = (
  connection: Pop3Connection,
  command: Pop3Command | "greeting",
  status: StatusLine,
  authentication = false
): Effect.Effect<string, MailboxError> =>
  status._tag === "Ok"
    ? Effect.succeed(status.text)
    : Effect.fail(replyError(connection, command, status, authentication))

/** Sends a command and reads its single-line reply. `shown` replaces the line in logs (for secrets). */
export const command = (
  connection: Pop3Connection,
  keyword: Pop3Command,
  args: ReadonlyArray<string | number> = [],
  options: { readonly authentication?: boolean; readonly shown?: string } = {}
): Effect.Effect<string, MailboxError> =>
  Effect.gen(function* () {
    const line = encodeCommand(keyword, ...args)
    yield* logCommand(options.shown ?? line.trimEnd())
    yield* connection.write(line)
    const status = yield* connection.readStatus(`the reply to ${keyword}`)
    return yield* expectOk(connection, keyword, status, options.authentication ?? false)
  })

/** A multi-line listing command (CAPA, LIST, UIDL) whose command line was already sent. */
const readListingReply = (connection: Pop3Connection, keyword: Pop3Command, limit = Infinity) =>
  Effect.gen(function* () {
    const status = yield* connection.readStatus(`the reply to ${keyword}`)
    if (status._tag !== "Ok") return Either.left(replyError(connection, keyword, status))
    return Either.right(yield* connection.readListing(`the ${keyword} listing`, limit))
  })

const capabilitiesOf = (connection: Pop3Connection) =>
  Effect.gen(function* () {
    yield* logCommand("CAPA")
    yield* connection.write(encodeCommand("CAPA"))
    const reply = yield* readListingReply(connection, "CAPA")
    // RFC 2449 section 5: a server without CAPA answers -ERR; it is an RFC 1939 server.
    return Either.isRight(reply) ? parseCapabilities(reply.right) : noCapabilities
  })

const tlsOptionsOf = (options: Pop3Options) =>
  Effect.gen(function* () {
    const ca =
      options.caFile === undefined
        ? undefined
        : yield* Effect.tryPromise({
            try: () => fs.readFile(options.caFile!),
            catch: (error) =>
              new MailboxError({ reason: "Config", message: `cannot read caFile ${options.caFile}`, cause: error })
          })
    if (options.insecure) {
      yield* Effect.logWarning(
        `POP3 ${options.host}: TLS certificate verification is disabled (insecure); the connection can be intercepted`
      )
    }
    const servername = options.servername ?? (net.isIP(options.host) === 0 ? options.host : undefined)
    const result: tls.ConnectionOptions = {
      rejectUnauthorized: !options.insecure,
      ...(ca === undefined ? {} : { ca }),
      ...(servername === undefined ? {} : { servername })
    }
    return result
  })

/**
 * Runs a SASL exchange (RFC 5034). The initial response goes on the AUTH line unless that line would pass 255
 * octets (section 4), then after the server's empty challenge. `answer` replies to further challenges.
 */
const saslExchange = (
  connection: Pop3Connection,
  mechanism: string,
  initialResponse: string,
  answer: (challenge: string, round: number) => string
) =>
  Effect.gen(function* () {
    const withInitial = `AUTH ${mechanism} ${initialResponse}\r\n`
    if (withInitial.length <= 255) {
      yield* logCommand(`AUTH ${mechanism} ********`)
      yield* connection.write(withInitial)
    } else {
      yield* logCommand(`AUTH ${mechanism}`)
      yield* connection.write(encodeCommand("AUTH", mechanism))
      const first = yield* connection.readStatus("the reply to AUTH")
      if (first._tag !== "Continue") return yield* expectOk(connection, "AUTH", first, true)
      yield* connection.write(encodeContinuation(initialResponse))
    }
    let failure: string | undefined
    for (let round = 0; round < 4; round++) {
      const status = yield* connection.readStatus("the reply to AUTH")
      if (status._tag === "Ok") return
      if (status._tag === "Err") {
        const error = errorFromReply("AUTH", status, true)
        return yield* failure === undefined
          ? error
          : new MailboxError({ reason: error.reason, message: `${error.message} (${failure})` })
      }
      const challenge = decodeChallenge(status.text)
      if (challenge !== undefined && challenge.startsWith("{")) failure = challenge.replace(/\s+/g, " ").slice(0, 200)
      yield* connection.write(encodeContinuation(answer(status.text, round)))
    }
    // RFC 5034 section 4: "*" cancels an exchange that does not end.
    yield* connection.write(encodeContinuation("*"))
    const last = yield* connection.readStatus("the reply to AUTH")
    yield* expectOk(connection, "AUTH", last, true)
    return yield* new MailboxError({ reason: "Auth", message: `SASL ${mechanism} did not complete` })
  })

const authenticateWithToken = (
  connection: Pop3Connection,
  options: Pop3Options,
  auth: TokenAuth,
  tokens: TokenProvider | undefined
) =>
  Effect.gen(function* () {
    if (tokens === undefined) {
      return yield* new MailboxError({ reason: "Config", message: `${auth.mechanism} needs a token provider` })
    }
    const token = Redacted.value(yield* tokens.token)
    const xoauth2 = auth.mechanism === "xoauth2"
    const mechanism = xoauth2 ? "XOAUTH2" : "OAUTHBEARER"
    const initial = xoauth2
      ? saslXoauth2(auth.username, token)
      : saslOauthBearer(auth.username, options.host, portOf(options), token)
    // On failure the server sends an error challenge; XOAUTH2 answers it empty, RFC 7628 section 3.2.3 with %x01.
    yield* saslExchange(connection, mechanism, initial, () => (xoauth2 ? "" : oauthBearerErrorAck)).pipe(
      Effect.tapError((error) => (error.reason === "Auth" ? tokens.invalidate : Effect.void))
    )
    return `SASL ${mechanism}`
  })

const authenticateWithPassword = (
  connection: Pop3Connection,
  options: Pop3Options,
  auth: PasswordAuth,
  capabilities: Pop3Capabilities,
  greeting: string
) =>
  Effect.gen(function* () {
    const password = Redacted.value(auth.password)
    const mechanism =
      auth.mechanism === "auto" ? (capabilities.sasl.includes("PLAIN") ? "plain" : "user") : auth.mechanism
    if (!connection.secure && mechanism !== "apop") {
      yield* Effect.logWarning(`POP3 ${options.host}: the password is sent without TLS (tls: none)`)
    }
    switch (mechanism) {
      case "user": {
        yield* command(connection, "USER", [auth.username], { authentication: true })
        yield* command(connection, "PASS", [password], { authentication: true, shown: "PASS ********" })
        return "USER"
      }
      case "apop": {
        const timestamp = greetingTimestamp(greeting)
        if (timestamp === undefined) {
          return yield* new MailboxError({
            reason: "Auth",
            message: `${options.host} does not offer APOP: its greeting has no <timestamp>`
          })
        }
        yield* command(connection, "APOP", [auth.username, apopDigest(timestamp, password)], {
          authentication: true,
          shown: `APOP ${auth.username} ********`
        })
        return "APOP"
      }
      case "plain": {
        const response = saslPlain(auth.username, password, auth.authorizationId ?? "")
        yield* saslExchange(connection, "PLAIN", response, () => "*")
        return "SASL PLAIN"
      }
      case "login": {
        yield* logCommand("AUTH LOGIN")
        yield* connection.write(encodeCommand("AUTH", "LOGIN"))
        // The challenges are "Username:" then "Password:", answered in that order.
        for (const answer of [saslText(auth.username), saslText(password)]) {
          const status = yield* connection.readStatus("the reply to AUTH LOGIN")
          if (status._tag !== "Continue") {
            yield* expectOk(connection, "AUTH", status, true)
            return "SASL LOGIN"
          }
          yield* connection.write(encodeContinuation(answer))
        }
        const final = yield* connection.readStatus("the reply to AUTH LOGIN")
        yield* expectOk(connection, "AUTH", final, true)
        return "SASL LOGIN"
      }
    }
  })

const isTokenAuth = (auth: Pop3Auth): auth is TokenAuth => "token" in auth

/** A connection up to authentication: greeted, and under TLS when asked. */
export interface Pop3Greeted {
  readonly connection: Pop3Connection
  readonly greeting: string
  readonly capabilities: Pop3Capabilities
}

/**
 * Connects, reads the greeting and upgrades with STLS when asked (RFC 2595, asking CAPA again after it). Nothing in
 * it needs the mailbox, so it can be done ahead of a session (see Pop3Mailbox). The scope closing destroys the
 * connection.
 */
export const greet = Effect.fn("Pop3Client.greet")(function* (options: Pop3Options) {
  const port = portOf(options)
  const tlsOptions = yield* tlsOptionsOf(options)
  const connection = yield* Pop3Connection.open({
    host: options.host,
    port,
    implicitTls: options.tls === "implicit",
    tls: tlsOptions,
    connectTimeout: options.connectTimeout,
    commandTimeout: options.commandTimeout,
    maxLineLength: options.maxLineLength
  })
  const greetingStatus = yield* connection.readStatus("the greeting")
  const greeting = yield* expectOk(connection, "greeting", greetingStatus).pipe(
    Effect.mapError((error) =>
      error.reason === "ServerError" ? new MailboxError({ reason: "Connect", message: error.message }) : error
    )
  )
  let capabilities = yield* capabilitiesOf(connection)
  if (options.tls === "starttls") {
    if (capabilities !== noCapabilities && !capabilities.stls) {
      return yield* new MailboxError({
        reason: "Tls",
        message: `${options.host}:${port} does not offer STLS; refusing to continue without TLS`
      })
    }
    yield* command(connection, "STLS").pipe(
      Effect.mapError((error) =>
        error.reason === "ServerError" ? new MailboxError({ reason: "Tls", message: error.message }) : error
      )
    )
    yield* connection.startTls
    capabilities = yield* capabilitiesOf(connection)
  }
  const greeted: Pop3Greeted = { connection, greeting, capabilities }
  return greeted
})

/** Authenticates on a greeted connection. */
export const login = Effect.fn("Pop3Client.login")(function* (
  greeted: Pop3Greeted,
  options: Pop3Options,
  tokens: TokenProvider | undefined
) {
  const { connection, greeting } = greeted
  let capabilities = greeted.capabilities
  const auth = options.auth
  const authentication = isTokenAuth(auth)
    ? yield* authenticateWithToken(connection, options, auth, tokens)
    : yield* authenticateWithPassword(connection, options, auth, capabilities, greeting)
  // RFC 2449 section 6.5 / 6.7: LOGIN-DELAY and EXPIRE marked USER have per-user values after login.
  if (capabilities.lines.some((line) => /^(LOGIN-DELAY|EXPIRE)\s+\S+\s+USER\b/i.test(line))) {
    capabilities = yield* capabilitiesOf(connection)
  }
  const client: Pop3Client = { connection, greeting, capabilities, authentication }
  return client
})

/**
 * Connects, greets (STLS included) and authenticates. The scope closing destroys the connection without QUIT, which
 * deletes nothing.
 */
export const connect = (options: Pop3Options, tokens: TokenProvider | undefined) =>
  Effect.flatMap(greet(options), (greeted) => login(greeted, options, tokens))

/** STAT: count and total size. */
export const stat = (client: Pop3Client) =>
  Effect.flatMap(command(client.connection, "STAT"), (text) => {
    const parsed = parseStat(text)
    return Either.isRight(parsed) ? Effect.succeed(parsed.right) : Effect.fail(protocolError(parsed.left))
  })

/**
 * Messages asked for per write when listing one by one. Each reply is one line, read as it comes, so the window
 * that bounds RETR (whose replies are whole mails) is not needed here: the commands for 1,024 mails are about 25 KB,
 * which the socket takes at once, and a session's listing then costs one round trip instead of one per 128 mails
 * (which a server on another host makes felt: 10 ms each at a 10 ms round trip).
 */
const listingWrite = 1024

/**
 * "LIST n" and "UIDL n" for messages 1 to `count` (all exist at the start of a session, RFC 1939 section 5),
 * pipelined `listingWrite` mails at a time; undefined when the server refuses one (the caller then lists in full).
 */
const listingOf = (client: Pop3Client, count: number) =>
  Effect.gen(function* () {
    const connection = client.connection
    yield* logCommand(`LIST n, UIDL n for messages 1 to ${count}`)
    const entries: Array<Pop3Listing> = []
    for (let from = 1; from <= count; from += listingWrite) {
      const to = Math.min(count, from + listingWrite - 1)
      let commands = ""
      for (let number = from; number <= to; number++) {
        commands += encodeCommand("LIST", number) + encodeCommand("UIDL", number)
      }
      yield* connection.write(commands)
      let refused = false
      for (let number = from; number <= to; number++) {
        const list = yield* connection.readStatus("the reply to LIST")
        const uidl = yield* connection.readStatus("the reply to UIDL")
        if (list._tag !== "Ok" || uidl._tag !== "Ok") {
          refused = true
          continue
        }
        const scan = parseScanListing(list.text)
        const unique = parseUniqueIdListing(uidl.text)
        if (Either.isLeft(scan)) return yield* connection.break(protocolError(scan.left))
        if (Either.isLeft(unique)) return yield* connection.break(protocolError(unique.left))
        if (scan.right.number !== number || unique.right.number !== number) {
          return yield* connection.break(
            protocolError(`the reply to LIST ${number} / UIDL ${number} names another mail`)
          )
        }
        entries.push({ number, size: scan.right.size, uid: unique.right.uid })
      }
      if (refused) return undefined
    }
    return entries
  })

/**
 * LIST and UIDL joined by message number (both sent at once when pipelining). A server without UIDL gets ids
 * made of number and size, which are only stable within the session. With a `limit`, the first `limit` mails: both
 * listings go in ascending message number (RFC 1939), so their first lines name the same mails.
 */
export const listing = (
  client: Pop3Client,
  pipelining: boolean,
  limit = Infinity,
  options: {
    /** the mailbox's STAT count, when known: with more than twice `limit` mails, the first ones are asked for */
    readonly count?: number
  } = {}
): Effect.Effect<Array<Pop3Listing>, MailboxError> =>
  Effect.gen(function* () {
    const connection = client.connection
    // A backlog: ask for the first mails one by one ("LIST n", "UIDL n", RFC 1939) rather than have the server
    // write, and us read, a line per mail in the whole mailbox at every session
    if (pipelining && client.capabilities.uidl && options.count !== undefined && options.count > 2 * limit) {
      const first = yield* listingOf(client, limit)
      if (first !== undefined) return first
    }
    if (pipelining) {
      yield* logCommand("LIST, UIDL")
      yield* connection.write(encodeCommand("LIST") + encodeCommand("UIDL"))
    } else {
      yield* logCommand("LIST")
      yield* connection.write(encodeCommand("LIST"))
    }
    const list = yield* readListingReply(connection, "LIST", limit)
    if (!pipelining) yield* connection.write(encodeCommand("UIDL"))
    const uidl = yield* readListingReply(connection, "UIDL", limit)
    if (Either.isLeft(list)) return yield* list.left
    const uids = new Map<number, string>()
    if (Either.isRight(uidl)) {
      for (const line of uidl.right) {
        const parsed = parseUniqueIdListing(line)
        if (Either.isLeft(parsed)) return yield* connection.break(protocolError(parsed.left))
        uids.set(parsed.right.number, parsed.right.uid)
      }
    } else {
      yield* Effect.logWarning(
        `POP3 ${connection.options.host}: no UIDL (${uidl.left.message}); ids are only stable within a session`
      )
    }
    const entries: Array<Pop3Listing> = []
    for (const line of list.right) {
      const parsed = parseScanListing(line)
      if (Either.isLeft(parsed)) return yield* connection.break(protocolError(parsed.left))
      const { number, size } = parsed.right
      entries.push({ number, size, uid: uids.get(number) ?? `${number}.${size}` })
    }
    // a server whose two listings do not start with the same mails gets a full listing rather than unstable ids
    if (limit !== Infinity && Either.isRight(uidl) && entries.some((entry) => !uids.has(entry.number))) {
      return yield* listing(client, pipelining)
    }
    return entries
  })

/**
 * What a complete RETR / TOP reply means for that one message: its bytes, or its error (-ERR, or more octets than
 * the cap, which were read and dropped so the session stays in step). A reply that breaks the protocol also breaks
 * the connection; callers tell the two apart with `connection.usable`.
 */
export const messageResult = (
  connection: Pop3Connection,
  keyword: "RETR" | "TOP",
  reply: MessageReply
): Either.Either<Uint8Array, MailboxError> => {
  const status = reply.status!
  if (status._tag !== "Ok") return Either.left(replyError(connection, keyword, status))
  if (reply.kept < 0) {
    return Either.left(
      new MailboxError({
        reason: "TooLarge",
        message: `${keyword} sent ${reply.total} octets, more than the ${reply.cap} allowed; the mail stays in the mailbox`
      })
    )
  }
  return Either.right(reply.pieces.length === 1 ? reply.pieces[0]! : Buffer.concat(reply.pieces, reply.kept))
}

/**
 * Reads the reply to a RETR or TOP already sent. The outer error means the session is lost; the inner one is about
 * this message only.
 */
export const readMessageReply = (
  client: Pop3Client,
  keyword: "RETR" | "TOP",
  cap: number
): Effect.Effect<Either.Either<Uint8Array, MailboxError>, MailboxError> =>
  Effect.flatMap(client.connection.readReply(messageReply(cap), `the reply to ${keyword}`), (reply) => {
    const result = messageResult(client.connection, keyword, reply)
    return client.connection.usable || Either.isRight(result) ? Effect.succeed(result) : Effect.fail(result.left)
  })

/** RETR (or TOP) of one message into memory. */
export const retrieve = (client: Pop3Client, number: number, cap: number) =>
  Effect.zipRight(client.connection.write(encodeCommand("RETR", number)), readMessageReply(client, "RETR", cap))

/** TOP: the header and the first `lines` lines of the body (RFC 1939 section 7). */
export const top = (client: Pop3Client, number: number, lines: number, cap: number) =>
  Effect.zipRight(client.connection.write(encodeCommand("TOP", number, lines)), readMessageReply(client, "TOP", cap))

/**
 * RETR of one message as a stream of unstuffed pieces in constant memory. An -ERR fails the stream and leaves the
 * session usable. A stream stopped before the terminator reads and drops the rest, so the session stays in step;
 * when it is interrupted instead, the connection is broken.
 */
export const retrieveStream = (client: Pop3Client, number: number): Stream.Stream<Uint8Array, MailboxError> =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const connection = client.connection
      yield* connection.write(encodeCommand("RETR", number))
      const status = yield* connection.readStatus("the reply to RETR")
      yield* expectOk(connection, "RETR", status)
      let state = multilineStart
      let done = false
      yield* Effect.addFinalizer((exit) => {
        if (done) return Effect.void
        if (Exit.isInterrupted(exit)) return Effect.sync(() => connection.destroy())
        return connection.skipBody("the rest of an abandoned RETR", state).pipe(
          Effect.asVoid,
          Effect.catchAll(() => Effect.sync(() => connection.destroy()))
        )
      })
      return Stream.repeatEffectChunkOption(
        Effect.suspend(() =>
          done
            ? Effect.fail(Option.none())
            : connection.readBodyStep("the RETR body", state).pipe(
                Effect.map((step) => {
                  state = step.state
                  done = step.done
                  return Chunk.unsafeFromArray(step.output)
                }),
                Effect.mapError(Option.some)
              )
        )
      )
    })
  )

/**
 * Sends DELE for every number, keeping up to `window` in flight, and checks every reply. After each wait it takes
 * every reply already received, then tops the window up in one write. A refused DELE stops the sending and fails
 * the call once the replies in flight are read.
 */
export const deleteMessages = (client: Pop3Client, numbers: ReadonlyArray<number>, window: number) =>
  Effect.gen(function* () {
    const connection = client.connection
    const what = "the reply to DELE"
    let sent = 0
    let received = 0
    let failure: MailboxError | undefined
    const check = (status: StatusLine) => {
      received++
      if (status._tag !== "Ok") failure ??= replyError(connection, "DELE", status)
    }
    while (received < sent || (failure === undefined && sent < numbers.length)) {
      if (failure === undefined && sent < numbers.length && sent - received < window) {
        const batch = numbers.slice(sent, received + window)
        sent += batch.length
        yield* connection.write(batch.map((number) => encodeCommand("DELE", number)).join(""))
      }
      check(yield* connection.readStatus(what))
      while (received < sent) {
        const status = connection.takeStatus(what)
        if (status === undefined) break
        if (status instanceof MailboxError) return yield* status
        check(status)
      }
    }
    if (failure !== undefined) return yield* failure
  })

/** QUIT: the server applies the deletions (the UPDATE state) and answers; then the connection is closed. */
export const quit = (client: Pop3Client) =>
  Effect.gen(function* () {
    yield* command(client.connection, "QUIT").pipe(
      Effect.mapError((error) =>
        error.reason === "ServerError"
          ? new MailboxError({ reason: "SysTemp", message: `${error.message} (some deletions may not be applied)` })
          : error
      )
    )
    client.connection.end()
  })
