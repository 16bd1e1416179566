import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { limitsConfig, MailboxLimits } from "./limits.js"

/** How the connection is protected: TLS from the first byte (port 995), STLS upgrade (RFC 2595), or none. */
export const TlsMode = Schema.Literal("implicit", "starttls", "none")
export type TlsMode = typeof TlsMode.Type

/** A value that goes into a command line: no CR, LF or NUL, no surrounding blanks. */
const CommandArgument = Schema.String.pipe(
  Schema.pattern(/^[^\r\n\0]+$/),
  Schema.filter((value) => value.trim() === value || "must not start or end with a blank")
)

/** Where an OAuth2 access token comes from. */
export const TokenSource = Schema.Union(
  /** a token obtained elsewhere (it expires; for tests and short jobs) */
  Schema.TaggedStruct("StaticToken", { token: Schema.Redacted(Schema.String) }),
  /** RFC 6749 section 6: a long-lived refresh token exchanged at the token endpoint (delegated access) */
  Schema.TaggedStruct("RefreshToken", {
    tokenUrl: Schema.String,
    clientId: Schema.String,
    clientSecret: Schema.optional(Schema.Redacted(Schema.String)),
    refreshToken: Schema.Redacted(Schema.String),
    scope: Schema.optional(Schema.String)
  }),
  /** RFC 6749 section 4.4: the application's own credentials (Microsoft 365 app-only access) */
  Schema.TaggedStruct("ClientCredentials", {
    tokenUrl: Schema.String,
    clientId: Schema.String,
    clientSecret: Schema.Redacted(Schema.String),
    scope: Schema.String
  })
)
export type TokenSource = typeof TokenSource.Type

/**
 * Password authentication: "auto" picks SASL PLAIN when the server offers it and USER/PASS otherwise; "user"
 * (RFC 1939 USER/PASS), "apop" (RFC 1939 APOP), "plain" and "login" (RFC 5034 SASL).
 */
export const PasswordAuth = Schema.Struct({
  mechanism: Schema.Literal("auto", "user", "apop", "plain", "login"),
  username: CommandArgument,
  password: Schema.Redacted(Schema.String),
  /** the SASL PLAIN authorization identity (log in as username, act as authorizationId) */
  authorizationId: Schema.optional(CommandArgument)
})
export type PasswordAuth = typeof PasswordAuth.Type

/** OAuth2 bearer authentication: "xoauth2" (Google, Microsoft) or "oauthbearer" (RFC 7628). */
export const TokenAuth = Schema.Struct({
  mechanism: Schema.Literal("xoauth2", "oauthbearer"),
  username: CommandArgument,
  token: TokenSource
})
export type TokenAuth = typeof TokenAuth.Type

export const Pop3Auth = Schema.Union(PasswordAuth, TokenAuth)
export type Pop3Auth = typeof Pop3Auth.Type

const Port = Schema.Int.pipe(Schema.between(1, 65535))

/**
 * Commands in flight by default when pipelining. A server that has answered every command it was sent sits idle until
 * the client reads and asks again; the window must hold more replies than the socket buffers between the two (about
 * 1.5 MB on Linux loopback) so that the server always has the next command. Against Dovecot, 6 KB mails drained at
 * 8,700 mails/s with 32, 10,600 with 128 and 12,200-12,500 with 256 or 512 (docs/mailbox.md). Memory does not grow
 * with it: the client stops reading the socket above 1 MB buffered, and TCP then holds the server back.
 */
export const defaultPipelineDepth = 256

/** Everything needed to read one POP3 mailbox. */
export const Pop3Options = Schema.Struct({
  host: CommandArgument,
  /** defaults to 995 for implicit TLS and 110 otherwise */
  port: Schema.optional(Port),
  tls: Schema.optionalWith(TlsMode, { default: () => "implicit" as const }),
  auth: Pop3Auth,
  /** PEM file of the CAs to trust instead of the system's */
  caFile: Schema.optional(Schema.String),
  /** accept any certificate (logged as a warning at every session) */
  insecure: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** the TLS server name to verify, when it differs from host */
  servername: Schema.optional(Schema.String),
  connectTimeout: Schema.optionalWith(Schema.DurationFromSelf, { default: () => Duration.seconds(30) }),
  /** the longest wait for any server reply, or between two chunks of one */
  commandTimeout: Schema.optionalWith(Schema.DurationFromSelf, { default: () => Duration.seconds(60) }),
  /** "auto" pipelines when the server announces PIPELINING (RFC 2449); "off" never does */
  pipelining: Schema.optionalWith(Schema.Literal("auto", "off"), { default: () => "auto" as const }),
  /** commands in flight at most when pipelining */
  pipelineDepth: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 1024)), { default: () => defaultPipelineDepth }),
  /**
   * whether the next session may log in while the previous one still commits (see Mailbox.overlappingSessions;
   * off by default: docs/operations.md, "Capacity"); a server that locks the maildrop refuses it once, and sessions
   * then follow one another
   */
  overlapSessions: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** the longest status or listing line accepted from the server */
  maxLineLength: Schema.optionalWith(Schema.Int.pipe(Schema.between(512, 16 * 1024 * 1024)), {
    default: () => 64 * 1024
  }),
  ...MailboxLimits.fields
})
export type Pop3Options = typeof Pop3Options.Type
/** The options as a caller writes them: everything with a default may be left out. */
export type Pop3OptionsInput = Parameters<typeof Pop3Options.make>[0]

/** The port to connect to. */
export const portOf = (options: Pop3Options): number => options.port ?? (options.tls === "implicit" ? 995 : 110)

const mechanisms = ["auto", "user", "apop", "plain", "login", "xoauth2", "oauthbearer"] as const

const authConfig: Config.Config<Pop3Auth> = Config.all({
  mechanism: Config.literal(...mechanisms)("AUTH").pipe(
    Config.withDefault("auto" as const),
    Config.withDescription("auto, user, apop, plain, login (password) or xoauth2, oauthbearer (OAuth2 token).")
  ),
  username: Config.string("USER").pipe(Config.withDescription("The mailbox user name.")),
  password: Config.option(Config.redacted("PASSWORD")).pipe(
    Config.withDescription("The password, for the password mechanisms.")
  ),
  authorizationId: Config.option(Config.string("AUTHZID")).pipe(
    Config.withDescription("SASL PLAIN authorization identity (act as this user).")
  ),
  token: Config.option(Config.redacted("OAUTH_TOKEN")).pipe(
    Config.withDescription("A static OAuth2 access token (expires; prefer the refresh or client-credentials flow).")
  ),
  tokenUrl: Config.option(Config.string("OAUTH_TOKEN_URL")).pipe(
    Config.withDescription(
      "The OAuth2 token endpoint, e.g. https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token."
    )
  ),
  clientId: Config.option(Config.string("OAUTH_CLIENT_ID")).pipe(Config.withDescription("The OAuth2 client id.")),
  clientSecret: Config.option(Config.redacted("OAUTH_CLIENT_SECRET")).pipe(
    Config.withDescription("The OAuth2 client secret.")
  ),
  refreshToken: Config.option(Config.redacted("OAUTH_REFRESH_TOKEN")).pipe(
    Config.withDescription("An OAuth2 refresh token (delegated flow); without it the client-credentials flow is used.")
  ),
  scope: Config.option(Config.string("OAUTH_SCOPE")).pipe(
    Config.withDescription("The OAuth2 scope, e.g. https://outlook.office365.com/.default.")
  )
}).pipe(
  Config.mapOrFail((c): Either.Either<Pop3Auth, ConfigError.ConfigError> => {
    const missing = (key: string, why: string) => Either.left(ConfigError.MissingData([key], why))
    if (c.mechanism === "xoauth2" || c.mechanism === "oauthbearer") {
      const base = { mechanism: c.mechanism, username: c.username }
      if (Option.isSome(c.token)) return Either.right({ ...base, token: { _tag: "StaticToken", token: c.token.value } })
      if (Option.isNone(c.tokenUrl) || Option.isNone(c.clientId)) {
        return missing("OAUTH_TOKEN_URL", "OAuth2 needs OAUTH_TOKEN, or OAUTH_TOKEN_URL and OAUTH_CLIENT_ID")
      }
      if (Option.isSome(c.refreshToken)) {
        return Either.right({
          ...base,
          token: {
            _tag: "RefreshToken",
            tokenUrl: c.tokenUrl.value,
            clientId: c.clientId.value,
            refreshToken: c.refreshToken.value,
            ...(Option.isSome(c.clientSecret) ? { clientSecret: c.clientSecret.value } : {}),
            ...(Option.isSome(c.scope) ? { scope: c.scope.value } : {})
          }
        })
      }
      if (Option.isNone(c.clientSecret) || Option.isNone(c.scope)) {
        return missing("OAUTH_CLIENT_SECRET", "the client-credentials flow needs OAUTH_CLIENT_SECRET and OAUTH_SCOPE")
      }
      return Either.right({
        ...base,
        token: {
          _tag: "ClientCredentials",
          tokenUrl: c.tokenUrl.value,
          clientId: c.clientId.value,
          clientSecret: c.clientSecret.value,
          scope: c.scope.value
        }
      })
    }
    if (Option.isNone(c.password)) return missing("PASSWORD", `the ${c.mechanism} mechanism needs a password`)
    return Either.right({
      mechanism: c.mechanism,
      username: c.username,
      password: c.password.value,
      ...(Option.isSome(c.authorizationId) ? { authorizationId: c.authorizationId.value } : {})
    })
  })
)

/**
 * The POP3 options read from config under `prefix` (default "POP3"): HOST, PORT, TLS, AUTH, USER, PASSWORD,
 * OAUTH_*, CA_FILE, INSECURE, SERVERNAME, CONNECT_TIMEOUT, COMMAND_TIMEOUT, PIPELINING, PIPELINE_DEPTH,
 * MAX_MAIL_SIZE, IGNORE_SIZE, MAX_MAILS_PER_SESSION.
 */
export const config = (prefix = "POP3"): Config.Config<Pop3Options> =>
  Config.nested(
    Config.all({
      host: Config.string("HOST").pipe(Config.withDescription("The POP3 server's host name or address.")),
      port: Config.option(Config.integer("PORT")).pipe(
        Config.withDescription("The POP3 port (default 995 with TLS=implicit, 110 otherwise).")
      ),
      tls: Config.literal(
        "implicit",
        "starttls",
        "none"
      )("TLS").pipe(
        Config.withDefault("implicit" as const),
        Config.withDescription("implicit (TLS from the start, port 995), starttls (STLS on port 110) or none.")
      ),
      auth: authConfig,
      caFile: Config.option(Config.string("CA_FILE")).pipe(
        Config.withDescription("A PEM file of CAs to trust instead of the system's.")
      ),
      insecure: Config.boolean("INSECURE").pipe(
        Config.withDefault(false),
        Config.withDescription("Accept any TLS certificate (logged as a warning).")
      ),
      servername: Config.option(Config.string("SERVERNAME")).pipe(
        Config.withDescription("The TLS server name to verify when it differs from HOST.")
      ),
      connectTimeout: Config.duration("CONNECT_TIMEOUT").pipe(
        Config.withDefault(Duration.seconds(30)),
        Config.withDescription("How long to wait for the connection and the TLS handshake.")
      ),
      commandTimeout: Config.duration("COMMAND_TIMEOUT").pipe(
        Config.withDefault(Duration.seconds(60)),
        Config.withDescription("How long to wait for any reply of the server.")
      ),
      pipelining: Config.literal(
        "auto",
        "off"
      )("PIPELINING").pipe(
        Config.withDefault("auto" as const),
        Config.withDescription("auto: pipeline commands when the server announces PIPELINING; off: never.")
      ),
      pipelineDepth: Config.integer("PIPELINE_DEPTH").pipe(
        Config.withDefault(defaultPipelineDepth),
        Config.withDescription("Commands in flight at most when pipelining.")
      ),
      overlapSessions: Config.boolean("OVERLAP_SESSIONS").pipe(
        Config.withDefault(false),
        Config.withDescription(
          "Log the next session in while the previous one commits (sessions follow one another when the server locks the maildrop)."
        )
      ),
      limits: limitsConfig
    }),
    prefix
  ).pipe(
    Config.mapOrFail(({ caFile, limits, port, servername, ...rest }) =>
      Schema.validateEither(Pop3Options)({
        ...rest,
        ...limits,
        maxLineLength: 64 * 1024,
        ...(Option.isSome(port) ? { port: port.value } : {}),
        ...(Option.isSome(caFile) ? { caFile: caFile.value } : {}),
        ...(Option.isSome(servername) ? { servername: servername.value } : {})
      }).pipe(Either.mapLeft((error) => ConfigError.InvalidData([prefix], error.message)))
    )
  )
