import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type * as tls from "node:tls"
import * as Cause from "effect/Cause"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from "smtp-server"
import type { SigningKey } from "../../domain/codec.js"
import { config as readConfig, type SmtpListenerConfig } from "./config.js"
import { ClientRates, clientKey } from "./rate.js"
import { checkRecipient, normalizeDomain, type RecipientPolicy } from "./recipients.js"
import { SmtpWorkQueue } from "../store/work-queue.js"
import { makeSpool, type SpooledMail, type SpoolError, type SpoolHealth } from "./spool.js"
import { makeStoreSpool, type SpoolSink } from "./store-spool.js"
import { traceHeaders } from "./trace.js"

/** Why the listener could not start (or reload its certificate). */
export type SmtpListenerErrorReason =
  /** the configuration cannot work (rejectBadVerp without keys, ...) */
  | "Config"
  /** the certificate or key cannot be read or do not match */
  | "Tls"
  /** the address cannot be bound (in use, or a port below 1024 without the capability) */
  | "Listen"
  /** the spool cannot be created, or spool "store" has no work queue */
  | "Spool"

export class SmtpListenerError extends Data.TaggedError("SmtpListenerError")<{
  readonly reason: SmtpListenerErrorReason
  readonly message: string
  readonly cause?: unknown
}> {}

/** Counters since the listener started. */
export interface SmtpListenerStats {
  readonly connections: number
  /** connections refused at once: too many, or too fast, from one client */
  readonly refusedConnections: number
  /** mail transactions refused for the client's message rate */
  readonly rateLimited: number
  /** mails acknowledged with 250 (each durable in the spool or the store) */
  readonly accepted: number
  /** files written to new/, or rows to the work table (one per recipient) */
  readonly spooledFiles: number
  /** RCPT TO refused with 550 5.7.1: not one of our domains */
  readonly relayRefused: number
  /** RCPT TO refused with 550 5.1.1: a VERP token that does not verify */
  readonly badVerpRefused: number
  /** mails refused with 552 for their size */
  readonly oversized: number
  /** mails whose client went away during DATA */
  readonly aborted: number
  /** transactions answered 4xx because the spool was unhealthy */
  readonly deferred: number
}

/** A mail that was just made durable, for whoever wants to process it without waiting for the next poll. */
export interface SpooledArrival extends SpooledMail {
  readonly sender: string
  readonly recipients: ReadonlyArray<string>
}

/**
 * rebound's own SMTP listener: the MX of the bounce domains. It takes mail only for those domains, makes each mail
 * durable before it answers 250 (in a Maildir spool, or with spool "store" in the store's work table, which every
 * process on the store reads), and refuses everything else. It listens while its scope lives.
 */
export class SmtpListener extends Context.Tag("rebound/Smtp/SmtpListener")<
  SmtpListener,
  {
    /** where it listens (the real port when the configured port was 0) */
    readonly address: { readonly host: string; readonly port: number }
    /** where accepted mail goes: "maildir" (`spoolDir`, see `spoolMailbox`) or "store" (see `workQueueMailbox`) */
    readonly spool: "maildir" | "store"
    /** the Maildir the processor reads with spool "maildir" */
    readonly spoolDir: string
    readonly stats: Effect.Effect<SmtpListenerStats>
    readonly health: Effect.Effect<SpoolHealth>
    /** every mail as it is acknowledged */
    readonly arrivals: Stream.Stream<SpooledArrival>
    /** reads the certificate and key files again (after a renewal) for new STARTTLS sessions */
    readonly reloadCertificate: Effect.Effect<void, SmtpListenerError>
  }
>() {}

export interface SmtpListenerOptions {
  /** the signing keys, for rejectBadVerp */
  readonly keys?: ReadonlyArray<SigningKey>
  /** how long a spool health probe is trusted (default 1 second) */
  readonly healthInterval?: Duration.DurationInput
  /** the store's work queue, required with spool "store" */
  readonly workQueue?: Context.Tag.Service<SmtpWorkQueue>
}

/** An error for a smtp-server callback: the reply code, and a text that starts with the RFC 3463 status. */
const reply = (code: number, text: string): Error & { responseCode: number } =>
  Object.assign(new Error(text), { responseCode: code })

const readTls = (files: { readonly certFile: string; readonly keyFile: string }) =>
  Effect.try({
    try: () => ({ cert: fs.readFileSync(files.certFile), key: fs.readFileSync(files.keyFile) }),
    catch: (cause) =>
      new SmtpListenerError({
        reason: "Tls",
        message: `cannot read the TLS certificate or key: ${String(cause)}`,
        cause
      })
  })

const protocolOf = (session: SMTPServerSession) => {
  const base = session.openingCommand === "EHLO" ? "ESMTP" : "SMTP"
  return session.secure ? `${base}S` : base
}

/** Starts the listener in the current scope; it stops listening (after `shutdownTimeout`) when the scope closes. */
export const make = Effect.fn("SmtpListener.make")(function* (
  config: SmtpListenerConfig,
  options: SmtpListenerOptions = {}
) {
  const keys = options.keys ?? []
  if (config.rejectBadVerp && keys.length === 0) {
    return yield* new SmtpListenerError({
      reason: "Config",
      message: "smtp.rejectBadVerp needs signing keys: without them no VERP token can verify and all would be refused"
    })
  }
  const hostname = config.hostname ?? os.hostname()
  const policy: RecipientPolicy = {
    domains: new Set(config.domains.map(normalizeDomain)),
    verpLocalPart: config.verpLocalPart,
    rejectBadVerpWith: config.rejectBadVerp ? keys : null
  }
  const spoolKind = config.spool ?? "maildir"
  const healthInterval = options.healthInterval === undefined ? {} : { healthInterval: options.healthInterval }
  let spool: SpoolSink
  if (spoolKind === "store") {
    if (options.workQueue === undefined) {
      return yield* new SmtpListenerError({
        reason: "Spool",
        message: 'smtp.spool is "store", but the listener was started without the store\'s work queue'
      })
    }
    spool = yield* makeStoreSpool({ queue: options.workQueue, ...healthInterval })
  } else {
    const maildir = yield* makeSpool({
      dir: config.spoolDir,
      minFreeSpace: config.limits.minFreeSpace,
      hostname,
      ...healthInterval
    }).pipe(
      Effect.mapError((error) => new SmtpListenerError({ reason: "Spool", message: error.message, cause: error }))
    )
    spool = { ...maildir, where: maildir.dir }
  }
  const certificate = config.tls === undefined ? undefined : yield* readTls(config.tls)

  const clock = yield* Effect.clock
  const debugEnabled = LogLevel.lessThanEqual(yield* FiberRef.get(FiberRef.currentMinimumLogLevel), LogLevel.Debug)
  const run = yield* FiberSet.makeRuntime<never>()
  const arrivals = yield* PubSub.sliding<SpooledArrival>(1024)
  const observe = <A, E>(effect: Effect.Effect<A, E>, onExit: (exit: Exit.Exit<A, E>) => void) =>
    run(effect).addObserver(onExit)
  const log = (effect: Effect.Effect<void>) => void run(effect)

  const stats = {
    connections: 0,
    refusedConnections: 0,
    rateLimited: 0,
    accepted: 0,
    spooledFiles: 0,
    relayRefused: 0,
    badVerpRefused: 0,
    oversized: 0,
    aborted: 0,
    deferred: 0
  }
  const connectionRates = new ClientRates({
    capacity: config.limits.connectionsPerClientPerMinute,
    windowMillis: 60_000
  })
  const messageRates = new ClientRates({ capacity: config.limits.messagesPerClientPerMinute, windowMillis: 60_000 })
  const openByClient = new Map<string, number>()
  const counted = new Set<string>()
  let spoolWasHealthy = true

  const unhealthyReply = (health: Extract<SpoolHealth, { healthy: false }>) =>
    health.reason === "Full"
      ? reply(452, "4.3.1 Insufficient system storage, try again later")
      : reply(451, "4.3.0 Local error in processing, try again later")

  const onConnect: SMTPServerOptions["onConnect"] = (session, callback) => {
    const client = clientKey(session.remoteAddress)
    const open = openByClient.get(client) ?? 0
    if (open >= config.limits.maxConnectionsPerClient) {
      stats.refusedConnections++
      return callback(reply(421, `4.7.0 Too many connections from ${client}, try again later`))
    }
    if (!connectionRates.take(client, clock.unsafeCurrentTimeMillis())) {
      stats.refusedConnections++
      return callback(reply(421, `4.7.0 Too many connections from ${client} per minute, try again later`))
    }
    stats.connections++
    openByClient.set(client, open + 1)
    counted.add(session.id)
    callback()
  }

  const onClose: SMTPServerOptions["onClose"] = (session) => {
    if (!counted.delete(session.id)) return
    const client = clientKey(session.remoteAddress)
    const open = (openByClient.get(client) ?? 1) - 1
    if (open <= 0) openByClient.delete(client)
    else openByClient.set(client, open)
  }

  const onMailFrom: SMTPServerOptions["onMailFrom"] = (address, session, callback) => {
    if (!messageRates.take(clientKey(session.remoteAddress), clock.unsafeCurrentTimeMillis())) {
      stats.rateLimited++
      return callback(reply(450, `4.7.1 Too much mail from ${session.remoteAddress}, try again later`))
    }
    const declared = address.args === false ? undefined : address.args["SIZE"]
    const octets = typeof declared === "string" ? Number(declared) : 0
    const decide = (health: SpoolHealth) => {
      // one line when the spool turns unhealthy and one when it recovers, not one per refused mail
      if (health.healthy !== spoolWasHealthy) {
        spoolWasHealthy = health.healthy
        log(
          health.healthy
            ? Effect.logInfo("smtp: the spool is writable again, taking mail")
            : Effect.logWarning(`smtp: the spool is unhealthy, mail gets 4xx: ${health.message}`)
        )
      }
      if (health.healthy) return callback()
      stats.deferred++
      callback(unhealthyReply(health))
    }
    const known = spool.knownRoomFor(octets, clock.unsafeCurrentTimeMillis())
    if (known !== undefined) return decide(known)
    observe(spool.roomFor(octets), (exit) =>
      decide(
        exit._tag === "Success"
          ? exit.value
          : { healthy: false, reason: "Unwritable", message: `the spool probe failed: ${String(exit.cause)}` }
      )
    )
  }

  const onRcptTo: SMTPServerOptions["onRcptTo"] = (address, session, callback) => {
    const verdict = checkRecipient(address.address, policy)
    switch (verdict._tag) {
      case "Accept":
        return callback()
      case "Relay":
        stats.relayRefused++
        log(
          Effect.logInfo("smtp: relaying refused").pipe(
            Effect.annotateLogs({ client: session.remoteAddress, recipient: address.address })
          )
        )
        return callback(reply(550, `5.7.1 <${address.address}>: Relay access denied`))
      case "BadVerp":
        stats.badVerpRefused++
        log(
          Effect.logInfo("smtp: VERP token refused").pipe(
            Effect.annotateLogs({ client: session.remoteAddress, recipient: address.address, why: verdict.rejection })
          )
        )
        return callback(reply(550, `5.1.1 <${address.address}>: Recipient address rejected: unknown VERP token`))
    }
  }

  let transactions = 0
  const onData: SMTPServerOptions["onData"] = (stream: SMTPServerDataStream, session, callback) => {
    const receivedAt = clock.unsafeCurrentTimeMillis()
    // a queue id as MTAs print them: unique per listener, readable in the 250 reply, Received and the logs
    const id = `${receivedAt.toString(16)}${(++transactions % 0x100000).toString(16).padStart(5, "0")}`.toUpperCase()
    const envelope = session.envelope
    const sender = envelope.mailFrom === false ? "" : envelope.mailFrom.address
    const recipients = envelope.rcptTo.map((recipient) => recipient.address)
    const cipher = session.tlsOptions === false ? null : session.tlsOptions
    const trace = {
      helo: session.hostNameAppearsAs,
      clientHostname: config.reverseLookup ? session.clientHostname : null,
      clientAddress: session.remoteAddress,
      protocol: protocolOf(session),
      tls: cipher === null ? null : { version: cipher.version ?? "TLS", cipher: cipher.name },
      by: hostname,
      id,
      sender,
      receivedAt
    }
    const delivery = spool.deliver({
      id,
      data: stream,
      prefixes: recipients.map((recipient) => traceHeaders(trace, recipient)),
      maxSize: config.maxSize,
      sender,
      recipients,
      receivedAt
    })
    observe(delivery, (exit) => {
      if (exit._tag === "Success") {
        stats.accepted++
        stats.spooledFiles += exit.value.files.length
        arrivals.unsafeOffer({ ...exit.value, sender, recipients })
        if (debugEnabled) {
          log(
            Effect.logDebug("smtp: mail spooled").pipe(
              Effect.annotateLogs({ id, client: session.remoteAddress, size: exit.value.size, recipients })
            )
          )
        }
        return callback(null, `2.0.0 Ok: queued as ${id}`)
      }
      if (Cause.isInterruptedOnly(exit.cause)) {
        return callback(reply(421, "4.3.2 Shutting down, try again later"))
      }
      const error: SpoolError | undefined = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      switch (error?.reason) {
        case "Oversized":
          stats.oversized++
          return callback(reply(552, `5.3.4 Message too big for system (at most ${config.maxSize} octets)`))
        case "Aborted":
          stats.aborted++
          return callback(reply(451, "4.3.0 The data ended early"))
        case "Full":
          stats.deferred++
          log(Effect.logError(`smtp: cannot spool mail ${id}: ${error.message}`))
          return callback(reply(452, "4.3.1 Insufficient system storage, try again later"))
        default:
          stats.deferred++
          log(Effect.logError(`smtp: cannot spool mail ${id}: ${error?.message ?? String(exit.cause)}`))
          return callback(reply(451, "4.3.0 Local error in processing, try again later"))
      }
    })
  }

  const serverOptions: SMTPServerOptions = {
    name: hostname,
    banner: "rebound",
    logger: false,
    size: config.maxSize,
    maxClients: config.limits.maxConnections,
    maxRecipients: config.limits.maxRecipients,
    socketTimeout: Duration.toMillis(config.limits.commandTimeout),
    closeTimeout: Duration.toMillis(config.shutdownTimeout),
    disableReverseLookup: !config.reverseLookup,
    authOptional: true,
    disabledCommands: certificate === undefined ? ["AUTH", "STARTTLS"] : ["AUTH"],
    ...(certificate === undefined ? {} : { key: certificate.key, cert: certificate.cert }),
    onConnect,
    onClose,
    onMailFrom,
    onRcptTo,
    onData
  }
  const server = new SMTPServer(serverOptions)
  server.on("error", (error) => log(Effect.logDebug(`smtp: connection error: ${error.message}`)))

  const bound = yield* Effect.acquireRelease(
    Effect.async<{ readonly host: string; readonly port: number }, SmtpListenerError>((resume) => {
      const onError = (cause: NodeJS.ErrnoException) =>
        resume(
          Effect.fail(
            new SmtpListenerError({
              reason: "Listen",
              message:
                cause.code === "EACCES"
                  ? `cannot listen on ${config.host}:${config.port}: a port below 1024 needs root or the ` +
                    `cap_net_bind_service capability (docs/smtp.md)`
                  : `cannot listen on ${config.host}:${config.port}: ${cause.message}`,
              cause
            })
          )
        )
      const onListening = () => {
        server.server.off("error", onError)
        const address = server.server.address()
        resume(
          Effect.succeed(
            typeof address === "object" && address !== null
              ? { host: address.address, port: address.port }
              : { host: config.host, port: config.port }
          )
        )
      }
      server.server.once("error", onError)
      if (!config.socketActivation) return void server.listen(config.port, config.host, onListening)
      // sd_listen_fds(3): the passed sockets start at fd 3; LISTEN_PID, when set, names the process they are for
      const passed = Number(process.env["LISTEN_FDS"] ?? 0)
      const forPid = process.env["LISTEN_PID"]
      if (passed < 1 || (forPid !== undefined && Number(forPid) !== process.pid)) {
        server.server.off("error", onError)
        return resume(
          Effect.fail(
            new SmtpListenerError({
              reason: "Listen",
              message: "smtp.socketActivation is on, but no socket was passed (LISTEN_FDS is not set for this process)"
            })
          )
        )
      }
      server.listen({ fd: 3 }, onListening)
    }),
    () =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )
  const where = `${bound.host}:${bound.port}${config.socketActivation ? " (the socket systemd passed)" : ""}`
  yield* Effect.logInfo(`smtp: listening on ${where} for ${config.domains.join(", ")}`).pipe(
    Effect.annotateLogs({
      spool: spool.where,
      starttls: certificate !== undefined,
      rejectBadVerp: config.rejectBadVerp
    })
  )

  return SmtpListener.of({
    address: bound,
    spool: spoolKind,
    spoolDir: path.resolve(config.spoolDir),
    stats: Effect.sync(() => ({ ...stats })),
    health: spool.health,
    arrivals: Stream.fromPubSub(arrivals),
    reloadCertificate:
      config.tls === undefined
        ? Effect.void
        : Effect.flatMap(readTls(config.tls), (files) =>
            Effect.try({
              try: () => server.updateSecureContext(files as tls.TlsOptions),
              catch: (cause) =>
                new SmtpListenerError({ reason: "Tls", message: `cannot use the new certificate: ${String(cause)}` })
            })
          )
  })
})

/** The listener as a layer: it listens while the layer lives. */
export const layer = (
  config: SmtpListenerConfig,
  options: SmtpListenerOptions = {}
): Layer.Layer<SmtpListener, SmtpListenerError> => Layer.scoped(SmtpListener, make(config, options))

/** The listener with spool "store" (or any spool), taking the store's work queue from the context. */
export const layerWithQueue = (
  config: SmtpListenerConfig,
  options: Omit<SmtpListenerOptions, "workQueue"> = {}
): Layer.Layer<SmtpListener, SmtpListenerError, SmtpWorkQueue> =>
  Layer.scoped(
    SmtpListener,
    Effect.flatMap(SmtpWorkQueue, (workQueue) => make(config, { ...options, workQueue }))
  )

/** The listener configured from `Config` under `prefix` ("smtp": smtp.port, smtp.domains, ...). */
export const layerConfig = (
  options: SmtpListenerOptions & { readonly prefix?: string } = {}
): Layer.Layer<SmtpListener, SmtpListenerError | ConfigError.ConfigError> =>
  Layer.scoped(
    SmtpListener,
    Effect.flatMap(readConfig(options.prefix ?? "smtp"), (config) => make(config, options))
  )
