import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { configJsonSchema } from "../../src/app/cli/config.js"
import { decodeConfig, environmentVariables, loadConfig, printable } from "../../src/app/config.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const writeConfig = (content: unknown) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-config-"))
  const file = path.join(dir, "rebound.config.json")
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content))
  return file
}

describe("configuration", () => {
  it.effect("has embedded defaults: SQLite under ./data and a Maildir inbox polled every 5 s", () =>
    Effect.gen(function* () {
      const config = yield* decodeConfig({})
      assert.deepStrictEqual(config.store, { type: "sqlite", path: "./data/rebound.db" })
      assert.strictEqual(config.accounts.length, 1)
      assert.strictEqual(config.accounts[0]!.type, "maildir")
      assert.strictEqual(config.accounts[0]!.pollSeconds, 5)
      assert.strictEqual(config.quarantine.errorThreshold, 5)
    })
  )

  it.effect("reads the file and lets REBOUND_* variables override it", () =>
    Effect.gen(function* () {
      const file = writeConfig({
        store: { type: "sqlite", path: "/var/lib/rebound/a.db" },
        accounts: [
          {
            type: "pop3",
            name: "bounces",
            host: "pop.example.com",
            auth: { mechanism: "plain", username: "bounce", password: "s3cret" },
            commandTimeout: 20
          }
        ],
        signing: { keys: [{ id: "k1", secret: "0123456789abcdef0123" }], domain: "bounce.example.com" }
      })
      const { config, source } = yield* loadConfig(file).pipe(
        withEnv({
          REBOUND_STORE_PATH: "/tmp/override.db",
          REBOUND_QUARANTINE_ERROR_THRESHOLD: "3",
          REBOUND_LOG_LEVEL: "debug"
        })
      )
      assert.strictEqual(source, file)
      assert.deepStrictEqual(config.store, { type: "sqlite", path: "/tmp/override.db" })
      assert.strictEqual(config.quarantine.errorThreshold, 3)
      assert.strictEqual(config.log.level, "debug")
      const account = config.accounts[0]!
      assert.strictEqual(account.type, "pop3")
      if (account.type === "pop3") {
        assert.isTrue(Duration.equals(account.commandTimeout, Duration.seconds(20)))
        assert.strictEqual(account.tls, "implicit")
        assert.strictEqual(account.pollSeconds, undefined)
        assert.isTrue("password" in account.auth && Redacted.isRedacted(account.auth.password))
      }
      assert.strictEqual(Redacted.value(config.signing.keys[0]!.secret), "0123456789abcdef0123")
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("takes whole sections as JSON from the environment", () =>
    Effect.gen(function* () {
      const { config } = yield* loadConfig(writeConfig({})).pipe(
        withEnv({ REBOUND_ACCOUNTS: '[{"type":"maildir","name":"local","path":"/srv/bounces"}]' })
      )
      assert.deepStrictEqual(
        config.accounts.map((account) => account.name),
        ["local"]
      )
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("names the key and the problem of an invalid configuration", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decodeConfig({
          accounts: [{ type: "pop3", name: "x" }],
          store: { type: "sqlite", path: 3 },
          quarantine: { errorThreshold: "five" },
          typo: true
        })
      )
      assert.include(error.message, "accounts.0.host: is missing")
      assert.include(error.message, "store.path: Expected string, actual 3")
      assert.include(error.message, "quarantine.errorThreshold")
      assert.include(error.message, "typo: is unexpected")
      const badEnv = yield* Effect.flip(
        loadConfig(writeConfig({})).pipe(withEnv({ REBOUND_HTTP: "{not json" }), Effect.provide(NodeContext.layer))
      )
      assert.include(badEnv.message, "REBOUND_HTTP is not valid JSON")
      const notJson = yield* Effect.flip(loadConfig(writeConfig("{,")).pipe(Effect.provide(NodeContext.layer)))
      assert.strictEqual(notJson.reason, "NotJson")
    })
  )

  it.effect('rejects action "forward" without an address to forward to, naming the key', () =>
    Effect.gen(function* () {
      const local = { type: "maildir", name: "local", path: "/srv/bounces" }
      const pop3 = {
        type: "pop3",
        name: "pop",
        host: "pop.example.com",
        auth: { mechanism: "plain", username: "bounce", password: "s3cret" }
      }
      const missing = yield* Effect.flip(
        decodeConfig({ accounts: [{ ...local, unapplied: { action: "forward", forwardWhich: "unqualified" } }] })
      )
      assert.strictEqual(missing.reason, "Invalid")
      assert.deepStrictEqual(missing.message.split("\n"), [
        'accounts.0.unapplied.forwardTo: is missing: action "forward" needs the operator address to forward to'
      ])
      const blank = yield* Effect.flip(
        decodeConfig({ accounts: [local, { ...pop3, unapplied: { action: "forward", forwardTo: " " } }] })
      )
      assert.deepStrictEqual(blank.message.split("\n"), [
        'accounts.1.unapplied.forwardTo: is empty: action "forward" needs the operator address to forward to'
      ])
      const fromEnvironment = yield* Effect.flip(
        loadConfig(writeConfig({})).pipe(
          withEnv({ REBOUND_ACCOUNTS: JSON.stringify([{ ...local, unapplied: { action: "forward" } }]) }),
          Effect.provide(NodeContext.layer)
        )
      )
      assert.include(fromEnvironment.message, "accounts.0.unapplied.forwardTo: is missing")
      const valid = yield* decodeConfig({
        accounts: [
          { ...local, unapplied: { action: "forward", forwardTo: "ops@sender.example" } },
          { ...pop3, unapplied: { action: "delete" } }
        ]
      })
      assert.deepStrictEqual(
        valid.accounts.map((account) => [account.unapplied.action, account.unapplied.forwardTo]),
        [
          ["forward", "ops@sender.example"],
          ["delete", undefined]
        ]
      )
    })
  )

  it.effect("rejects two accounts of one name, naming the name and both keys", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decodeConfig({
          accounts: [
            { type: "maildir", name: "bounces", path: "/srv/a" },
            { type: "smtp", name: "mx" },
            { type: "maildir", name: "bounces", path: "/srv/b" },
            { type: "smtp", name: "mx" }
          ]
        })
      )
      assert.strictEqual(error.reason, "Invalid")
      assert.deepStrictEqual(error.message.split("\n"), [
        'accounts.2.name: "bounces" is already the name of accounts.0: account names must be unique',
        'accounts.3.name: "mx" is already the name of accounts.1: account names must be unique'
      ])
      const distinct = yield* decodeConfig({
        accounts: [
          { type: "maildir", name: "bounces", path: "/srv/a" },
          { type: "maildir", name: "bounces-2", path: "/srv/b" }
        ]
      })
      assert.lengthOf(distinct.accounts, 2)
    })
  )

  it.effect("prints the effective configuration without secrets", () =>
    Effect.gen(function* () {
      const config = yield* decodeConfig({
        store: { type: "postgres", url: "postgres://rebound:pw@127.0.0.1/rebound" },
        signing: { keys: [{ id: "k1", secret: "0123456789abcdef0123" }] }
      })
      const text = JSON.stringify(printable(config))
      assert.notInclude(text, "0123456789abcdef0123")
      assert.notInclude(text, "pw@")
      assert.include(text, "<redacted>")
    })
  )

  it("lists an environment variable for every scalar key", () => {
    const names = environmentVariables().map((variable) => variable.name)
    for (const expected of ["REBOUND_STORE_PATH", "REBOUND_STORE_URL", "REBOUND_ACCOUNTS", "REBOUND_LOG_LEVEL"]) {
      assert.include(names, expected)
    }
  })

  it("publishes the JSON Schema that the code generates", () => {
    const published = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../rebound.config.schema.json"), "utf8"))
    assert.deepStrictEqual(published, JSON.parse(JSON.stringify(configJsonSchema())))
  })
})
