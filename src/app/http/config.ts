import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** What a bearer token may do: read everything, or also change addresses, register messages and review texts. */
export const Scope = Schema.Literal("read", "admin")
export type Scope = typeof Scope.Type

/** One bearer token; `name` is who the history records for an operator action made with it. */
export const ApiToken = Schema.Struct({
  name: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._@-]{1,64}$/)),
  scope: Scope,
  token: Schema.Redacted(Schema.String.pipe(Schema.minLength(16)))
})
export type ApiToken = typeof ApiToken.Type

/** The HTTP server's settings. `Schema.decodeUnknownSync(HttpConfig)({})` gives the defaults. */
export const HttpConfig = Schema.Struct({
  host: Schema.optionalWith(Schema.String, { default: () => "127.0.0.1" }),
  port: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 65535)), { default: () => 8025 }),
  tokens: Schema.optionalWith(Schema.Array(ApiToken), { default: () => [] }),
  /** serve the dashboard at / */
  dashboard: Schema.optionalWith(Schema.Boolean, { default: () => true })
})
export type HttpConfig = typeof HttpConfig.Type

export const defaultHttpConfig: HttpConfig = Schema.decodeUnknownSync(HttpConfig)({})

/**
 * Parses "name:token" or a bare token (named after its scope and position), as the token lists in config hold them.
 * A token shorter than 16 characters is refused: it could be guessed.
 */
export const parseToken = (entry: string, scope: Scope, index: number): ApiToken | string => {
  const trimmed = entry.trim()
  const colon = trimmed.indexOf(":")
  const name = colon > 0 ? trimmed.slice(0, colon) : `${scope}-token-${index + 1}`
  const secret = colon > 0 ? trimmed.slice(colon + 1) : trimmed
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) return `token name "${name}" may only hold letters, digits and ._@-`
  if (secret.length < 16) return `the ${scope} token "${name}" is shorter than 16 characters`
  return { name, scope, token: Redacted.make(secret) }
}

const tokenList = (key: string, scope: Scope, description: string) =>
  Config.redacted(key).pipe(
    Config.withDescription(description),
    Config.mapOrFail((value) => {
      const entries = Redacted.value(value)
        .split(",")
        .filter((entry) => entry.trim() !== "")
      const tokens: Array<ApiToken> = []
      for (const [index, entry] of entries.entries()) {
        const parsed = parseToken(entry, scope, index)
        if (typeof parsed === "string") return Either.left(ConfigError.InvalidData([key], parsed))
        tokens.push(parsed)
      }
      return Either.right<ReadonlyArray<ApiToken>>(tokens)
    }),
    Config.withDefault<ReadonlyArray<ApiToken>>([])
  )

/** HTTP_HOST, HTTP_PORT, HTTP_ADMIN_TOKENS, HTTP_READ_TOKENS, HTTP_DASHBOARD. */
export const httpConfig: Config.Config<HttpConfig> = Config.nested(
  Config.all({
    host: Config.string("HOST").pipe(
      Config.withDefault(defaultHttpConfig.host),
      Config.withDescription("Address the API listens on; with no token configured it is forced to 127.0.0.1.")
    ),
    port: Config.port("PORT").pipe(
      Config.withDefault(defaultHttpConfig.port),
      Config.withDescription("Port of the API and the dashboard (0: any free port).")
    ),
    admin: tokenList(
      "ADMIN_TOKENS",
      "admin",
      'Comma-separated bearer tokens with the admin scope, each "name:token" or a bare token.'
    ),
    read: tokenList(
      "READ_TOKENS",
      "read",
      'Comma-separated read-only bearer tokens, each "name:token" or a bare token.'
    ),
    dashboard: Config.boolean("DASHBOARD").pipe(
      Config.withDefault(defaultHttpConfig.dashboard),
      Config.withDescription("Serve the dashboard at /.")
    )
  }),
  "HTTP"
).pipe(
  Config.map(({ admin, dashboard, host, port, read }): HttpConfig => ({
    host,
    port,
    dashboard,
    tokens: [...admin, ...read]
  }))
)
