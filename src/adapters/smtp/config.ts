import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** What each key means; shared by the Schema (JSON Schema for editors) and the `Config` reader. */
const descriptions = {
  host: "the address to listen on",
  socketActivation:
    "listen on the socket systemd passes (LISTEN_FDS, fd 3; a .socket unit with ListenStream=25) instead of host:port",
  port: "the port to listen on; 25 for an MX (see docs/smtp.md to bind it without root), 0 for any free port",
  hostname: "our name in the greeting and Received fields (default: the host name)",
  domains: "the bounce domains we are the MX of; mail for any other domain is refused (550 5.7.1)",
  spool:
    'where accepted mail is made durable before 250: "maildir" (spoolDir, read by this process) or "store" (the ' +
    "store's work table, read by every process on the same store; docs/smtp.md). Default: store on PostgreSQL, " +
    "maildir otherwise",
  spoolDir: "the Maildir that accepted mail is written to before it is acknowledged (spool maildir)",
  tls: "certificate and key for STARTTLS (RFC 3207); without them STARTTLS is not offered",
  certFile: "the PEM certificate chain, leaf first",
  keyFile: "the PEM private key",
  maxSize: "the largest mail in octets, announced with SIZE (RFC 1870); larger mail gets 552 5.3.4",
  limits: "connection, rate, recipient and time limits",
  maxConnections: "connections at once; more get 421",
  maxConnectionsPerClient: "connections at once from one IP address; more get 421 4.7.0",
  connectionsPerClientPerMinute: "new connections per minute from one IP address (token bucket); more get 421 4.7.0",
  messagesPerClientPerMinute: "mail transactions (MAIL FROM) per minute from one IP address; more get 450 4.7.1",
  maxRecipients: "recipients per mail; more get 452 4.5.3 (RFC 5321 4.5.3.1.10)",
  commandTimeout:
    "seconds a client may stay silent while we wait for a command or DATA bytes (RFC 5321 4.5.3.2: 5 minutes)",
  minFreeSpace: "octets that must stay free on the spool's file system; below it, mail gets 452 4.3.1",
  rejectBadVerp: "refuse (550 5.1.1) mail to a VERP address whose token does not verify with the signing keys",
  verpLocalPart: "the local part before '+' in VERP addresses",
  reverseLookup: "look up the client's reverse DNS name for the Received field (a DNS query per connection)",
  shutdownTimeout:
    "seconds the listener waits for sessions to end when it stops; then they are cut (unacknowledged mail is retried)"
} as const

type Key = keyof typeof descriptions

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>, key: Key) =>
  Schema.optionalWith(schema.annotations({ description: descriptions[key] }), { default: value })

const PositiveInt = Schema.Int.pipe(Schema.positive())
const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())

/** A duration written as a number of seconds (as in rebound.config.json). */
const Seconds = Schema.transform(Schema.Number.pipe(Schema.positive()), Schema.DurationFromSelf, {
  strict: true,
  decode: (seconds) => Duration.seconds(seconds),
  encode: (duration) => Duration.toSeconds(duration)
})

/** A DNS domain name (RFC 1035 section 2.3.1 labels), e.g. `bounce.example.com`. */
export const DomainName = Schema.String.pipe(
  Schema.pattern(
    /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i,
    {
      message: () => "must be a domain name such as bounce.example.com"
    }
  )
)

/** The certificate for STARTTLS (RFC 3207), as PEM files. */
export const SmtpTls = Schema.Struct({
  certFile: Schema.String.annotations({ description: descriptions.certFile }),
  keyFile: Schema.String.annotations({ description: descriptions.keyFile })
})
export type SmtpTls = typeof SmtpTls.Type

/** Where the listener makes accepted mail durable: a local Maildir, or the store's SMTP work table. */
export const SmtpSpoolKind = Schema.Literal("maildir", "store")
export type SmtpSpoolKind = typeof SmtpSpoolKind.Type

/** Limits that keep a public MX usable under abuse. */
export const SmtpLimits = Schema.Struct({
  maxConnections: withDefault(PositiveInt, () => 100, "maxConnections"),
  maxConnectionsPerClient: withDefault(PositiveInt, () => 20, "maxConnectionsPerClient"),
  connectionsPerClientPerMinute: withDefault(PositiveInt, () => 120, "connectionsPerClientPerMinute"),
  messagesPerClientPerMinute: withDefault(PositiveInt, () => 600, "messagesPerClientPerMinute"),
  maxRecipients: withDefault(PositiveInt, () => 100, "maxRecipients"),
  commandTimeout: withDefault(Seconds, () => Duration.minutes(5), "commandTimeout"),
  minFreeSpace: withDefault(NonNegativeInt, () => 100 * 1024 * 1024, "minFreeSpace")
})
export type SmtpLimits = typeof SmtpLimits.Type

/** The SMTP listener: rebound as the MX of its bounce domains, spooling into a Maildir. */
export const SmtpListenerConfig = Schema.Struct({
  host: withDefault(Schema.String, () => "0.0.0.0", "host"),
  port: withDefault(Schema.Int.pipe(Schema.between(0, 65535)), () => 25, "port"),
  socketActivation: withDefault(Schema.Boolean, () => false, "socketActivation"),
  hostname: Schema.optional(Schema.String.annotations({ description: descriptions.hostname })),
  domains: Schema.NonEmptyArray(DomainName).annotations({ description: descriptions.domains }),
  spool: Schema.optional(SmtpSpoolKind.annotations({ description: descriptions.spool })),
  spoolDir: withDefault(Schema.String, () => "./data/spool", "spoolDir"),
  tls: Schema.optional(SmtpTls.annotations({ description: descriptions.tls })),
  maxSize: withDefault(PositiveInt, () => 25 * 1024 * 1024, "maxSize"),
  limits: withDefault(SmtpLimits, () => SmtpLimits.make({}), "limits"),
  rejectBadVerp: withDefault(Schema.Boolean, () => false, "rejectBadVerp"),
  verpLocalPart: withDefault(Schema.String.pipe(Schema.pattern(/^[^@+\s]+$/)), () => "bounce", "verpLocalPart"),
  reverseLookup: withDefault(Schema.Boolean, () => false, "reverseLookup"),
  shutdownTimeout: withDefault(Seconds, () => Duration.seconds(10), "shutdownTimeout")
})
export type SmtpListenerConfig = typeof SmtpListenerConfig.Type
export type SmtpListenerConfigInput = typeof SmtpListenerConfig.Encoded

/** Validates a listener configuration given as JSON input, filling in the defaults. */
export const decodeSmtpListenerConfig = Schema.decodeUnknown(SmtpListenerConfig, { errors: "all" })

const encodedDefaults = Schema.encodeSync(SmtpListenerConfig)(SmtpListenerConfig.make({ domains: ["bounce.invalid"] }))

const read = <A>(config: Config.Config<A>, key: Key, fallback: NoInfer<A>) =>
  config.pipe(Config.withDefault(fallback), Config.withDescription(descriptions[key]))

const optional = <A>(config: Config.Config<A>, key: Key) =>
  Config.map(Config.option(config.pipe(Config.withDescription(descriptions[key]))), Option.getOrUndefined)

/**
 * The listener's configuration read with Effect's `Config` under `prefix` (default "smtp"), with the names of
 * rebound.config.json: `smtp.port`, `smtp.domains`, `smtp.limits.maxConnections`, ... (with
 * `ConfigProvider.fromEnv().pipe(ConfigProvider.constantCase)`: SMTP_PORT, SMTP_DOMAINS comma separated,
 * SMTP_LIMITS_MAX_CONNECTIONS, ...). Durations are seconds.
 */
export const config = (prefix = "smtp"): Config.Config<SmtpListenerConfig> => {
  const limits = encodedDefaults.limits!
  const input = Config.all({
    host: read(Config.string("host"), "host", encodedDefaults.host!),
    port: read(Config.integer("port"), "port", encodedDefaults.port!),
    socketActivation: read(Config.boolean("socketActivation"), "socketActivation", encodedDefaults.socketActivation!),
    hostname: optional(Config.string("hostname"), "hostname"),
    domains: Config.array(Config.string(), "domains").pipe(Config.withDescription(descriptions.domains)),
    spool: optional(Config.literal("maildir", "store")("spool"), "spool"),
    spoolDir: read(Config.string("spoolDir"), "spoolDir", encodedDefaults.spoolDir!),
    tls: optional(
      Config.nested(
        Config.all({
          certFile: Config.string("certFile").pipe(Config.withDescription(descriptions.certFile)),
          keyFile: Config.string("keyFile").pipe(Config.withDescription(descriptions.keyFile))
        }),
        "tls"
      ),
      "tls"
    ),
    maxSize: read(Config.integer("maxSize"), "maxSize", encodedDefaults.maxSize!),
    limits: Config.nested(
      Config.all({
        maxConnections: read(Config.integer("maxConnections"), "maxConnections", limits.maxConnections!),
        maxConnectionsPerClient: read(
          Config.integer("maxConnectionsPerClient"),
          "maxConnectionsPerClient",
          limits.maxConnectionsPerClient!
        ),
        connectionsPerClientPerMinute: read(
          Config.integer("connectionsPerClientPerMinute"),
          "connectionsPerClientPerMinute",
          limits.connectionsPerClientPerMinute!
        ),
        messagesPerClientPerMinute: read(
          Config.integer("messagesPerClientPerMinute"),
          "messagesPerClientPerMinute",
          limits.messagesPerClientPerMinute!
        ),
        maxRecipients: read(Config.integer("maxRecipients"), "maxRecipients", limits.maxRecipients!),
        commandTimeout: read(Config.number("commandTimeout"), "commandTimeout", limits.commandTimeout!),
        minFreeSpace: read(Config.integer("minFreeSpace"), "minFreeSpace", limits.minFreeSpace!)
      }),
      "limits"
    ),
    rejectBadVerp: read(Config.boolean("rejectBadVerp"), "rejectBadVerp", encodedDefaults.rejectBadVerp!),
    verpLocalPart: read(Config.string("verpLocalPart"), "verpLocalPart", encodedDefaults.verpLocalPart!),
    reverseLookup: read(Config.boolean("reverseLookup"), "reverseLookup", encodedDefaults.reverseLookup!),
    shutdownTimeout: read(Config.number("shutdownTimeout"), "shutdownTimeout", encodedDefaults.shutdownTimeout!)
  })
  return Config.nested(
    Config.mapOrFail(input, (value) =>
      ParseResult.decodeUnknownEither(SmtpListenerConfig, { errors: "all" })(value).pipe(
        Either.mapLeft((error) =>
          ConfigError.InvalidData(
            [],
            ParseResult.ArrayFormatter.formatIssueSync(error)
              .map((issue) => `${[prefix, ...issue.path].join(".")}: ${issue.message}`)
              .join("; ")
          )
        )
      )
    ),
    prefix
  )
}
