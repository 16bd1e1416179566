import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { config, portOf } from "../../../src/adapters/mailbox/pop3-options.js"

const read = (entries: Record<string, string>) =>
  Effect.withConfigProvider(
    config("BOUNCES").pipe(Effect.either),
    ConfigProvider.fromMap(new Map(Object.entries(entries)), { pathDelim: "_" })
  )

describe("Pop3Options config", () => {
  it.effect("reads a password account with safe defaults: implicit TLS on 995, verification on", () =>
    Effect.gen(function* () {
      const options = yield* read({ BOUNCES_HOST: "pop.example.com", BOUNCES_USER: "bounce", BOUNCES_PASSWORD: "pw" })
      assert.isTrue(options._tag === "Right")
      if (options._tag !== "Right") return
      const value = options.right
      assert.strictEqual(value.tls, "implicit")
      assert.strictEqual(portOf(value), 995)
      assert.isFalse(value.insecure)
      assert.strictEqual(value.pipelining, "auto")
      assert.isTrue(Duration.equals(value.commandTimeout, Duration.seconds(60)))
      assert.strictEqual(value.maxMailsPerSession, 1000)
      assert.isTrue("password" in value.auth)
      if (!("password" in value.auth)) return
      assert.strictEqual(Redacted.value(value.auth.password), "pw")
      assert.notInclude(`${String(value.auth.password)} ${JSON.stringify(value.auth)}`, "pw")
    })
  )

  it.effect("reads STLS, timeouts and limits", () =>
    Effect.gen(function* () {
      const options = yield* read({
        BOUNCES_HOST: "mail.example.org",
        BOUNCES_TLS: "starttls",
        BOUNCES_AUTH: "plain",
        BOUNCES_USER: "bounce",
        BOUNCES_PASSWORD: "pw",
        BOUNCES_COMMAND_TIMEOUT: "5 seconds",
        BOUNCES_MAX_MAIL_SIZE: "1000000",
        BOUNCES_IGNORE_SIZE: "true",
        BOUNCES_CA_FILE: "/etc/ssl/local-ca.pem"
      })
      assert.isTrue(options._tag === "Right")
      if (options._tag !== "Right") return
      assert.strictEqual(portOf(options.right), 110)
      assert.strictEqual(options.right.auth.mechanism, "plain")
      assert.isTrue(Duration.equals(options.right.commandTimeout, Duration.seconds(5)))
      assert.strictEqual(options.right.maxMailSize, 1_000_000)
      assert.isTrue(options.right.ignoreSize)
      assert.strictEqual(options.right.caFile, "/etc/ssl/local-ca.pem")
    })
  )

  it.effect("picks the OAuth2 flow from the keys given", () =>
    Effect.gen(function* () {
      const base = {
        BOUNCES_HOST: "outlook.office365.com",
        BOUNCES_USER: "bounces@contoso.com",
        BOUNCES_AUTH: "xoauth2"
      }
      const url = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
      const flows = yield* Effect.all([
        read({ ...base, BOUNCES_OAUTH_TOKEN: "t" }),
        read({
          ...base,
          BOUNCES_OAUTH_TOKEN_URL: url,
          BOUNCES_OAUTH_CLIENT_ID: "id",
          BOUNCES_OAUTH_REFRESH_TOKEN: "r"
        }),
        read({
          ...base,
          BOUNCES_OAUTH_TOKEN_URL: url,
          BOUNCES_OAUTH_CLIENT_ID: "id",
          BOUNCES_OAUTH_CLIENT_SECRET: "s",
          BOUNCES_OAUTH_SCOPE: "https://outlook.office365.com/.default"
        }),
        read({ ...base, BOUNCES_OAUTH_TOKEN_URL: url, BOUNCES_OAUTH_CLIENT_ID: "id" })
      ])
      const tags = flows.map((flow) =>
        flow._tag === "Left" ? "error" : "token" in flow.right.auth ? flow.right.auth.token._tag : "password"
      )
      assert.deepStrictEqual(tags, ["StaticToken", "RefreshToken", "ClientCredentials", "error"])
    })
  )

  it.effect("rejects a missing password, a bad TLS mode and a user name that would inject a command", () =>
    Effect.gen(function* () {
      const base = { BOUNCES_HOST: "pop.example.com", BOUNCES_USER: "bounce", BOUNCES_PASSWORD: "pw" }
      const bad = yield* Effect.all([
        read({ BOUNCES_HOST: "pop.example.com", BOUNCES_USER: "bounce" }),
        read({ ...base, BOUNCES_TLS: "maybe" }),
        read({ ...base, BOUNCES_USER: "bounce\r\nDELE 1" }),
        read({ ...base, BOUNCES_PORT: "70000" })
      ])
      assert.deepStrictEqual(
        bad.map((result) => result._tag),
        ["Left", "Left", "Left", "Left"]
      )
    })
  )
})
