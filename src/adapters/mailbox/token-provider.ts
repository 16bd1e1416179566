import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { MailboxError } from "./mailbox.js"
import type { TokenSource } from "./pop3-options.js"

/** Gives the OAuth2 access token for XOAUTH2 / OAUTHBEARER, refreshing it before it expires. */
export interface TokenProvider {
  readonly token: Effect.Effect<Redacted.Redacted<string>, MailboxError>
  /** forgets the cached token (after the server refused it) so the next `token` asks the endpoint again */
  readonly invalidate: Effect.Effect<void>
}

// RFC 6749 section 5.1; some endpoints send expires_in as a string.
const TokenResponse = Schema.Struct({
  access_token: Schema.String,
  expires_in: Schema.optional(Schema.Union(Schema.Number, Schema.NumberFromString)),
  refresh_token: Schema.optional(Schema.String)
})

// RFC 6749 section 5.2.
const TokenErrorResponse = Schema.Struct({
  error: Schema.String,
  error_description: Schema.optional(Schema.String)
})

/** Refresh this long before the announced expiry, so a token never expires during a session. */
const expiryMargin = 60_000
/** Lifetime assumed when the endpoint does not say (RFC 6749 leaves expires_in optional). */
const defaultLifetime = 3600

const tokenError = (reason: "Auth" | "Connect" | "SysTemp", message: string, cause?: unknown) =>
  new MailboxError({ reason, message: `OAuth2 token request: ${message}`, ...(cause === undefined ? {} : { cause }) })

/**
 * A token provider for a token source: a static token as it is, or the refresh-token / client-credentials grant
 * (RFC 6749) against the configured endpoint. A rotated refresh token (Microsoft does rotate them) is kept for
 * the next refresh, in memory.
 */
export const make = (source: TokenSource): Effect.Effect<TokenProvider, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    if (source._tag === "StaticToken") {
      return { token: Effect.succeed(source.token), invalidate: Effect.void }
    }
    const client = yield* HttpClient.HttpClient
    const lock = yield* Effect.makeSemaphore(1)
    let cached: { readonly token: Redacted.Redacted<string>; readonly expiresAt: number } | undefined
    let refreshToken = source._tag === "RefreshToken" ? source.refreshToken : undefined

    const parameters = (): Record<string, string> => {
      const secret = source.clientSecret === undefined ? {} : { client_secret: Redacted.value(source.clientSecret) }
      if (source._tag === "ClientCredentials") {
        return { grant_type: "client_credentials", client_id: source.clientId, scope: source.scope, ...secret }
      }
      return {
        grant_type: "refresh_token",
        client_id: source.clientId,
        refresh_token: Redacted.value(refreshToken!),
        ...(source.scope === undefined ? {} : { scope: source.scope }),
        ...secret
      }
    }

    const request = Effect.gen(function* () {
      const response = yield* client
        .execute(
          HttpClientRequest.post(source.tokenUrl).pipe(
            HttpClientRequest.acceptJson,
            HttpClientRequest.bodyUrlParams(parameters())
          )
        )
        .pipe(
          Effect.mapError((error) => tokenError("Connect", `cannot reach ${source.tokenUrl}: ${error.message}`, error))
        )
      const body = yield* response.json.pipe(Effect.orElseSucceed(() => undefined))
      if (response.status >= 200 && response.status < 300) {
        return yield* Schema.decodeUnknown(TokenResponse)(body).pipe(
          Effect.mapError((error) => tokenError("SysTemp", `unexpected answer from ${source.tokenUrl}`, error))
        )
      }
      const refusal = Schema.decodeUnknownOption(TokenErrorResponse)(body)
      const detail =
        refusal._tag === "Some"
          ? `${refusal.value.error}${refusal.value.error_description === undefined ? "" : `: ${refusal.value.error_description}`}`
          : `HTTP ${response.status}`
      const permanent = response.status >= 400 && response.status < 500 && response.status !== 429
      return yield* tokenError(permanent ? "Auth" : "SysTemp", `${source.tokenUrl} refused: ${detail}`)
    })

    const token = lock
      .withPermits(1)(
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          if (cached !== undefined && now < cached.expiresAt - expiryMargin) return cached.token
          const answer = yield* request
          if (answer.refresh_token !== undefined) refreshToken = Redacted.make(answer.refresh_token)
          const lifetime = answer.expires_in ?? defaultLifetime
          cached = { token: Redacted.make(answer.access_token), expiresAt: now + lifetime * 1000 }
          return cached.token
        })
      )
      .pipe(Effect.withSpan("TokenProvider.token"))

    return {
      token,
      invalidate: Effect.sync(() => {
        cached = undefined
      })
    }
  })
