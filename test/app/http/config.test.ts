import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Redacted, Schema } from "effect"
import { HttpConfig, httpConfig, parseToken } from "../../../src/app/http/config.js"
import { findToken } from "../../../src/app/http/auth.js"
import { isLoopback } from "../../../src/app/http/server.js"
import { WebhookConfig, webhookConfig } from "../../../src/app/webhooks/config.js"

const fromEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" }))

describe("HTTP configuration", () => {
  it.effect("defaults: 127.0.0.1:8025, no token, the dashboard on", () =>
    Effect.gen(function* () {
      const config = yield* httpConfig.pipe(fromEnv({}))
      assert.deepStrictEqual(config, { host: "127.0.0.1", port: 8025, tokens: [], dashboard: true })
    })
  )

  it.effect("tokens come named or bare, with their scope; short ones are refused", () =>
    Effect.gen(function* () {
      const config = yield* httpConfig.pipe(
        fromEnv({
          HTTP_HOST: "0.0.0.0",
          HTTP_PORT: "9000",
          HTTP_ADMIN_TOKENS: "ops:aaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbb",
          HTTP_READ_TOKENS: "grafana:cccccccccccccccccccc"
        })
      )
      assert.deepStrictEqual(
        config.tokens.map((t) => [t.name, t.scope, Redacted.value(t.token)]),
        [
          ["ops", "admin", "aaaaaaaaaaaaaaaaaaaa"],
          ["admin-token-2", "admin", "bbbbbbbbbbbbbbbbbbbb"],
          ["grafana", "read", "cccccccccccccccccccc"]
        ]
      )
      assert.strictEqual(config.port, 9000)
      const short = yield* Effect.either(httpConfig.pipe(fromEnv({ HTTP_READ_TOKENS: "x:short" })))
      assert.isTrue(Either.isLeft(short))
      assert.match(String(Either.isLeft(short) ? short.left : ""), /shorter than 16 characters/)
      assert.strictEqual(typeof parseToken("bad name:aaaaaaaaaaaaaaaaaaaa", "read", 0), "string")
    })
  )

  it("the Schema decodes the JSON form of the config file", () => {
    const config = Schema.decodeUnknownSync(HttpConfig)({
      port: 8080,
      tokens: [{ name: "ops", scope: "admin", token: "dddddddddddddddddddd" }]
    })
    assert.strictEqual(config.host, "127.0.0.1")
    assert.strictEqual(findToken(config.tokens, "dddddddddddddddddddd")?.name, "ops")
    assert.isUndefined(findToken(config.tokens, "ddddddddddddddddddde"))
    assert.throws(() => Schema.decodeUnknownSync(HttpConfig)({ port: 70000 }))
  })

  it("loopback hosts", () => {
    assert.isTrue(isLoopback("127.0.0.1"))
    assert.isTrue(isLoopback("127.1.2.3"))
    assert.isTrue(isLoopback("::1"))
    assert.isTrue(isLoopback("localhost"))
    assert.isFalse(isLoopback("0.0.0.0"))
    assert.isFalse(isLoopback("192.0.2.1"))
  })

  it.effect("webhooks: URLs need a secret; WEBHOOK_* variables", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.either(
        webhookConfig.pipe(fromEnv({ WEBHOOK_URLS: "https://hooks.example/rebound" }))
      )
      assert.isTrue(Either.isLeft(missing))
      const config = yield* webhookConfig.pipe(
        fromEnv({
          WEBHOOK_URLS: "https://hooks.example/rebound,http://127.0.0.1:9000/in",
          WEBHOOK_SECRET: "eeeeeeeeeeeeeeeeeeee",
          WEBHOOK_EVENTS: "address.quarantined,complaint"
        })
      )
      assert.deepStrictEqual(config.urls, ["https://hooks.example/rebound", "http://127.0.0.1:9000/in"])
      assert.deepStrictEqual(config.events, ["address.quarantined", "complaint"])
      assert.throws(() =>
        Schema.decodeUnknownSync(WebhookConfig)({ urls: ["ftp://x.example"], secret: "eeeeeeeeeeeeeeeeeeee" })
      )
    })
  )
})
