import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"
import { AdminAccess, type Caller, Forbidden, ReadAccess, Unauthorized } from "./api.js"
import type { ApiToken, Scope } from "./config.js"

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Finds the configured token equal to `presented`, comparing digests in constant time. */
export const findToken = (tokens: ReadonlyArray<ApiToken>, presented: string): ApiToken | undefined => {
  const given = digest(presented)
  let found: ApiToken | undefined
  for (const token of tokens) {
    if (timingSafeEqual(given, digest(Redacted.value(token.token))) && found === undefined) found = token
  }
  return found
}

const authenticate = (
  tokens: ReadonlyArray<ApiToken>,
  presented: Redacted.Redacted,
  needed: Scope
): Effect.Effect<Caller["Type"], Unauthorized | Forbidden> =>
  Effect.suspend((): Effect.Effect<Caller["Type"], Unauthorized | Forbidden> => {
    if (tokens.length === 0) return Effect.succeed({ name: "local", scope: "admin" as const, open: true })
    const value = Redacted.value(presented)
    if (value === "")
      return Effect.fail(new Unauthorized({ message: "this request needs a bearer token (Authorization: Bearer ...)" }))
    const token = findToken(tokens, value)
    if (token === undefined) return Effect.fail(new Unauthorized({ message: "the bearer token is not valid" }))
    if (needed === "admin" && token.scope !== "admin")
      return Effect.fail(
        new Forbidden({ message: `the token "${token.name}" is read-only; this needs an admin token` })
      )
    return Effect.succeed({ name: token.name, scope: token.scope, open: false })
  })

/**
 * Bearer-token checks for the read and admin scopes. With no token configured every request is let in as "local"
 * with the admin scope: the server then listens on loopback only (see `server.ts`).
 */
export const layer = (tokens: ReadonlyArray<ApiToken>): Layer.Layer<ReadAccess | AdminAccess> =>
  Layer.merge(
    Layer.succeed(
      ReadAccess,
      ReadAccess.of({
        bearer: (presented) =>
          authenticate(tokens, presented, "read").pipe(
            Effect.catchTag("Forbidden", (error) => Effect.fail(new Unauthorized({ message: error.message })))
          )
      })
    ),
    Layer.succeed(AdminAccess, AdminAccess.of({ bearer: (presented) => authenticate(tokens, presented, "admin") }))
  )
