import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { Context, Duration, Effect, Layer, Logger, LogLevel } from "effect"
import { Forwarder } from "../adapters/forward/forwarder.js"
import { Mailbox, MailboxError } from "../adapters/mailbox/mailbox.js"
import * as MaildirMailbox from "../adapters/mailbox/maildir-mailbox.js"
import * as Pop3Mailbox from "../adapters/mailbox/pop3-mailbox.js"
import * as MemoryStore from "../adapters/store/memory.js"
import * as SqliteStore from "../adapters/store/sqlite.js"
import * as WorkQueue from "../adapters/store/work-queue.js"
import type * as SmtpListener from "../adapters/smtp/listener.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { StoreSettings } from "../adapters/store/store.js"
import { makeTokenVerifier } from "../domain/codec.js"
import { type Account, type AppConfig, loadConfig } from "./config.js"
import * as Leasing from "./leasing.js"
import { holderId } from "./leasing.js"
import { type AccountHandle, type ProcessorSettings } from "./processor.js"
import * as Processor from "./processor.js"
import { ProcessorStatus } from "./status.js"

/** The store settings a configuration asks for. */
export const storeSettings = (config: AppConfig): Partial<StoreSettings> => ({
  policy: config.quarantine,
  localPartCase: config.localPartCase,
  archiveAll: config.archive.all,
  archiveRetentionDays: config.archive.retentionDays,
  // with signing keys, only verified or registered bounces may change an address (README, "Trust")
  trustUnverified: config.signing.keys.length === 0
})

/**
 * What only some configurations use is loaded when first used: `rebound once` on SQLite then starts without the
 * PostgreSQL driver, the SMTP server and the work queue (the bundle keeps each in its own chunk).
 */
const lazy = {
  postgres: Effect.promise(() => import("../adapters/store/postgres.js")),
  smtpListener: Effect.promise(() => import("../adapters/smtp/listener.js")),
  workQueueMailbox: Effect.promise(() => import("../adapters/smtp/work-queue-mailbox.js"))
}

/** The store layer a configuration names: SQLite (default), PostgreSQL or memory. */
export const storeLayer = (config: AppConfig) => {
  const settings = storeSettings(config)
  switch (config.store.type) {
    case "sqlite":
      return SqliteStore.layer({ filename: config.store.path, settings })
    case "postgres": {
      const { maxConnections, url } = config.store
      return Layer.unwrapEffect(
        Effect.map(lazy.postgres, (PostgresStore) => PostgresStore.layer({ url, maxConnections, settings }))
      )
    }
    case "memory":
      return MemoryStore.layer(settings)
  }
}

/** Where the spool of rebound's SMTP listener is, for "smtp" accounts. */
export const smtpSpool = (config: AppConfig): string => config.smtp?.spoolDir ?? "./data/spool"

/**
 * Where the SMTP listener puts accepted mail: smtp.spool when set; otherwise the store's work table on PostgreSQL
 * (every process takes mail and any can apply it) and the Maildir spool on SQLite and memory (one process).
 */
export const smtpSpoolKind = (config: AppConfig): "maildir" | "store" =>
  config.smtp?.spool ?? (config.store.type === "postgres" ? "store" : "maildir")

/** How long an smtp account's session holds the mails it claimed from the work queue. */
export const smtpLease = (account: Extract<Account, { type: "smtp" }>): Duration.Duration =>
  Duration.seconds(account.leaseSeconds ?? account.maxSecondsPerSession + 60)

/** The store's SQL client: the one already built (`rebound run`, `once`), or the configured store opened for it. */
const sqlClientLayer = (config: AppConfig) =>
  Layer.unwrapEffect(
    Effect.map(Effect.serviceOption(SqlClient.SqlClient), (client) =>
      client._tag === "Some" ? Layer.succeed(SqlClient.SqlClient, client.value) : storeLayer(config)
    )
  )

/** The SMTP listener a configuration asks for, with its spool resolved (the work queue needs the store's client). */
export const smtpListenerLayer = (
  smtp: NonNullable<AppConfig["smtp"]>,
  config: AppConfig,
  options: Omit<SmtpListener.SmtpListenerOptions, "workQueue"> = {}
) => {
  const resolved = { ...smtp, spool: smtpSpoolKind(config) }
  return Layer.unwrapEffect(
    Effect.map(lazy.smtpListener, (SmtpListener) =>
      resolved.spool === "store"
        ? SmtpListener.layerWithQueue(resolved, options).pipe(
            Layer.provide(WorkQueue.layer),
            Layer.provide(sqlClientLayer(config))
          )
        : SmtpListener.layer(resolved, options)
    )
  )
}

/** The mailbox of one account, as a layer. */
export const mailboxLayer = (account: Account, config: AppConfig) => {
  switch (account.type) {
    case "pop3":
      return Pop3Mailbox.layer({
        host: account.host,
        ...(account.port === undefined ? {} : { port: account.port }),
        tls: account.tls,
        auth: account.auth,
        ...(account.caFile === undefined ? {} : { caFile: account.caFile }),
        insecure: account.insecure,
        ...(account.servername === undefined ? {} : { servername: account.servername }),
        connectTimeout: account.connectTimeout,
        commandTimeout: account.commandTimeout,
        pipelining: account.pipelining,
        overlapSessions: account.overlapSessions,
        maxMailSize: account.maxMailSize,
        ignoreSize: account.ignoreSize,
        maxMailsPerSession: account.maxMailsPerSession
      }).pipe(Layer.provide(FetchHttpClient.layer))
    case "maildir":
      return MaildirMailbox.layer({
        path: account.path,
        limits: {
          maxMailSize: account.maxMailSize,
          ignoreSize: account.ignoreSize,
          maxMailsPerSession: account.maxMailsPerSession
        }
      })
    case "smtp":
      return smtpSpoolKind(config) === "store"
        ? Layer.unwrapEffect(
            Effect.map(lazy.workQueueMailbox, (WorkQueueMailbox) =>
              WorkQueueMailbox.layer({
                lease: smtpLease(account),
                limits: { maxMailsPerSession: account.maxMailsPerSession }
              })
            )
          ).pipe(
            Layer.provide(WorkQueue.layer),
            Layer.provide(sqlClientLayer(config)),
            Layer.mapError(
              (error) =>
                new MailboxError({
                  reason: "Io",
                  message: `cannot open the SMTP work queue: ${error.message}`,
                  cause: error
                })
            )
          )
        : MaildirMailbox.layer({
            path: smtpSpool(config),
            limits: { maxMailsPerSession: account.maxMailsPerSession }
          })
  }
}

/** Opens each configured account's mailbox for as long as the scope lives. */
export const accountHandles = (config: AppConfig, only?: string) =>
  Effect.forEach(
    config.accounts.filter((account) => only === undefined || account.name === only),
    (account) =>
      Effect.map(Layer.build(mailboxLayer(account, config)), (context): AccountHandle => ({
        account,
        mailbox: Context.get(context, Mailbox)
      }))
  )

/** How the processor decodes and applies, from the configuration. */
export const processorSettings = (config: AppConfig): ProcessorSettings => ({
  instance: config.instance,
  decode: {
    rules: config.rules,
    verifier: makeTokenVerifier(config.signing.keys, {
      verpLocalPart: config.signing.verpLocalPart,
      ...(config.signing.domain === undefined ? {} : { domain: config.signing.domain })
    }),
    ...(config.signing.stampHeader === undefined ? {} : { stampHeader: config.signing.stampHeader })
  },
  batchSize: 200
})

/**
 * This process's leases: `member` for `rebound run` (it shares the accounts with the other live processes),
 * a visitor for `rebound once` (it takes a free account, and skips one another process holds).
 */
export const leasingLayer = (config: AppConfig, member: boolean) =>
  Leasing.layer({
    holder: holderId(config.instance),
    ttl: Duration.seconds(config.leases.ttlSeconds),
    accounts: config.accounts.filter((account) => account.type !== "smtp").length,
    member
  })

/** What the processor works with: the store, the status board and the forwarder. */
const processorServices = (config: AppConfig) =>
  Layer.mergeAll(storeLayer(config), ProcessorStatus.layer, Forwarder.layer)

/** The processor, the status board and the store, from a configuration. */
export const coreLayer = (config: AppConfig) =>
  Processor.layer(processorSettings(config)).pipe(Layer.provideMerge(processorServices(config)))

/** `coreLayer` with this process's leases, for the commands that empty accounts (run: member, once: visitor). */
export const leasedCoreLayer = (config: AppConfig, member: boolean) =>
  Processor.layer(processorSettings(config)).pipe(
    Layer.provideMerge(leasingLayer(config, member)),
    Layer.provideMerge(processorServices(config))
  )

/**
 * The processor, the status board, the store and the forwarder, built from a configuration file (or
 * REBOUND_CONFIG, ./rebound.config.json, the embedded defaults) with the REBOUND_* environment over it.
 */
export const layerConfig = (file?: string) =>
  Layer.unwrapEffect(Effect.map(loadConfig(file), ({ config }) => coreLayer(config)))

/** The logger of the command line before a configuration is read: logfmt on standard error. */
export const startupLogger = Logger.withConsoleError(Logger.logfmtLogger)

const levels = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
} as const

/**
 * Structured logs on standard error: logfmt on a terminal, JSON lines otherwise (or as configured). `level`, when
 * given, replaces the configured minimum level (the command line's --log-level).
 */
export const loggerLayer = (config: AppConfig, level?: LogLevel.LogLevel) => {
  const format = config.log.format === "auto" ? (process.stderr.isTTY ? "logfmt" : "json") : config.log.format
  const logger =
    format === "json" ? Logger.jsonLogger : format === "pretty" ? Logger.prettyLoggerDefault : Logger.logfmtLogger
  const configured = Logger.withConsoleError(logger)
  return Layer.merge(
    // logs go to standard error: standard output is for command output (classify, reports)
    Layer.merge(
      Logger.replace(Logger.defaultLogger, configured),
      // main.ts installs startupLogger until the configuration is read: the configured logger takes its place
      Logger.replace(startupLogger, configured)
    ),
    Logger.minimumLogLevel(level ?? levels[config.log.level])
  )
}
