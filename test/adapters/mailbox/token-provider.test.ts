import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TokenProvider from "../../../src/adapters/mailbox/token-provider.js"

/** A token endpoint in memory: records each grant's form fields and answers with `answer`. */
const fakeEndpoint = (answer: (form: URLSearchParams, count: number) => { status: number; body: unknown }) => {
  const grants: Array<URLSearchParams> = []
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      const form = new URLSearchParams(body)
      grants.push(form)
      const { body: json, status } = answer(form, grants.length)
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(json), { status, headers: { "content-type": "application/json" } })
      )
    })
  )
  return { client, grants }
}

const refreshSource = {
  _tag: "RefreshToken" as const,
  tokenUrl: "https://login.example.com/token",
  clientId: "rebound",
  refreshToken: Redacted.make("refresh-0")
}

describe("TokenProvider", () => {
  it.effect("caches the token until a minute before it expires, then asks again with the rotated refresh token", () =>
    Effect.gen(function* () {
      const endpoint = fakeEndpoint((_, count) => ({
        status: 200,
        body: { access_token: `access-${count}`, expires_in: 300, refresh_token: `refresh-${count}` }
      }))
      const provider = yield* TokenProvider.make(refreshSource).pipe(
        Effect.provideService(HttpClient.HttpClient, endpoint.client)
      )
      const token = Effect.map(provider.token, Redacted.value)
      assert.strictEqual(yield* token, "access-1")
      yield* TestClock.adjust("239 seconds")
      assert.strictEqual(yield* token, "access-1")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* token, "access-2")
      assert.deepStrictEqual(
        endpoint.grants.map((form) => form.get("refresh_token")),
        ["refresh-0", "refresh-1"]
      )
      yield* provider.invalidate
      assert.strictEqual(yield* token, "access-3")
      assert.strictEqual(endpoint.grants[0]!.get("grant_type"), "refresh_token")
      assert.strictEqual(endpoint.grants[0]!.get("client_id"), "rebound")
    })
  )

  it.effect("sends the client-credentials grant and reads expires_in given as a string", () =>
    Effect.gen(function* () {
      const endpoint = fakeEndpoint(() => ({ status: 200, body: { access_token: "app", expires_in: "3599" } }))
      const provider = yield* TokenProvider.make({
        _tag: "ClientCredentials",
        tokenUrl: "https://login.example.com/token",
        clientId: "app-id",
        clientSecret: Redacted.make("app-secret"),
        scope: "https://outlook.office365.com/.default"
      }).pipe(Effect.provideService(HttpClient.HttpClient, endpoint.client))
      assert.strictEqual(Redacted.value(yield* provider.token), "app")
      yield* TestClock.adjust("3500 seconds")
      yield* provider.token
      assert.strictEqual(endpoint.grants.length, 1)
      const form = endpoint.grants[0]!
      assert.deepStrictEqual(
        [form.get("grant_type"), form.get("client_id"), form.get("client_secret"), form.get("scope")],
        ["client_credentials", "app-id", "app-secret", "https://outlook.office365.com/.default"]
      )
    })
  )

  it.effect("turns refusals into Auth (4xx) or retryable SysTemp (5xx, 429, garbage) errors without secrets", () =>
    Effect.gen(function* () {
      const failure = (status: number, body: unknown) =>
        TokenProvider.make(refreshSource).pipe(
          Effect.provideService(HttpClient.HttpClient, fakeEndpoint(() => ({ status, body })).client),
          Effect.flatMap((provider) => provider.token),
          Effect.flip
        )
      const invalid = yield* failure(400, { error: "invalid_grant", error_description: "AADSTS70000: expired" })
      assert.strictEqual(invalid.reason, "Auth")
      assert.isFalse(invalid.retryable)
      assert.include(invalid.message, "invalid_grant: AADSTS70000: expired")
      assert.notInclude(invalid.message, "refresh-0")
      const down = yield* failure(503, "<html>unavailable</html>")
      assert.deepStrictEqual([down.reason, down.retryable], ["SysTemp", true])
      const throttled = yield* failure(429, { error: "too_many_requests" })
      assert.strictEqual(throttled.reason, "SysTemp")
      const garbage = yield* failure(200, { token: "no access_token field" })
      assert.strictEqual(garbage.reason, "SysTemp")
    })
  )

  it.effect("a static token is given as it is, without any request", () =>
    Effect.gen(function* () {
      const provider = yield* TokenProvider.make({ _tag: "StaticToken", token: Redacted.make("static") }).pipe(
        Effect.provideService(
          HttpClient.HttpClient,
          HttpClient.make(() => Effect.die("no request expected"))
        )
      )
      assert.strictEqual(Redacted.value(yield* provider.token), "static")
    })
  )
})
