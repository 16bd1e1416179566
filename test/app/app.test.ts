import { NodeContext } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { accountHandles, layerConfig, loadConfig, Processor, Store } from "../../src/index.js"
import { postfixDsn, qmailBounce } from "../support/mails.js"

const withEnv = (env: Record<string, string> = {}) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const folders: Array<string> = []
afterAll(() => {
  for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true })
})

/** A temp folder with a Maildir inbox holding a hard and a soft bounce, and a config file that names both. */
const setUp = (config: (dir: string) => Record<string, unknown>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-app-"))
  folders.push(dir)
  for (const sub of ["new", "cur", "tmp"]) fs.mkdirSync(path.join(dir, "inbox", sub), { recursive: true })
  fs.writeFileSync(
    path.join(dir, "inbox", "new", "1700000000.1.host"),
    postfixDsn({
      recipients: [{ address: "alice@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 no such user" }]
    })
  )
  fs.writeFileSync(
    path.join(dir, "inbox", "new", "1700000001.2.host"),
    qmailBounce("bob@receiver.example", "Remote host said: 552 5.2.2 mailbox full")
  )
  const file = path.join(dir, "rebound.config.json")
  fs.writeFileSync(file, JSON.stringify(config(dir)))
  return { dir, file }
}

const sqliteConfig = (database: string) => (dir: string) => ({
  store: { type: "sqlite", path: path.join(dir, database) },
  accounts: [{ type: "maildir", name: "inbox", path: path.join(dir, "inbox") }],
  // one counted error quarantines: the soft bounce shows that the file's policy reached the store
  quarantine: { errorThreshold: 1 }
})

/** What an embedding app does with `layerConfig`: open the configured accounts, drain each, read an address. */
const drainAll = (file: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const processor = yield* Processor
      const { config } = yield* loadConfig(file)
      const handles = yield* accountHandles(config)
      const results = yield* Effect.forEach(handles, (handle) => processor.drain(handle))
      const store = yield* Store.Store
      const states = yield* Store.AddressStates
      return {
        accounts: handles.map((handle) => handle.account.name),
        retrieved: results.flat().reduce((sum, result) => sum + result.retrieved, 0),
        alice: yield* store.address("alice@receiver.example"),
        receivers: yield* states.list({ domain: "receiver.example", limit: 10 })
      }
    })
  ).pipe(Effect.provide(layerConfig(file)))

/** The address states in an SQLite file, read with a store of its own once the app's layer is closed. */
const statesIn = (filename: string) =>
  Effect.flatMap(Store.AddressStates, (states) => states.list({ limit: 10 })).pipe(
    Effect.map((states) =>
      states.map((state): readonly [string, string, string | null] => [
        state.address,
        state.status,
        state.state.quarantine?.reason ?? null
      ])
    ),
    Effect.provide(Store.Sqlite.layer({ filename }))
  )

describe("layerConfig", () => {
  it.effect("builds the processor and an SQLite store from a config file; a program drains its Maildir account", () =>
    Effect.gen(function* () {
      const { dir, file } = setUp(sqliteConfig("rebound.db"))
      const result = yield* drainAll(file)
      assert.deepStrictEqual(result.accounts, ["inbox"])
      assert.strictEqual(result.retrieved, 2)
      assert.strictEqual(result.alice.status, "quarantined")
      assert.strictEqual(result.alice.state.quarantine?.reason, "userunknown")
      assert.deepStrictEqual(
        result.receivers.map((state) => [state.address, state.status]),
        [
          ["alice@receiver.example", "quarantined"],
          ["bob@receiver.example", "quarantined"]
        ]
      )
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "inbox", "new")), [])
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "inbox", "cur")), [])
      // the states are in the configured file, and outlive the app's layer
      assert.deepStrictEqual(yield* statesIn(path.join(dir, "rebound.db")), [
        ["alice@receiver.example", "quarantined", "userunknown"],
        ["bob@receiver.example", "quarantined", "mailboxfull"]
      ])
    }).pipe(withEnv(), Effect.provide(NodeContext.layer))
  )

  it.effect("takes the REBOUND_* environment over the file: the store is where REBOUND_STORE_PATH says", () =>
    Effect.gen(function* () {
      const { dir, file } = setUp(sqliteConfig("from-file.db"))
      const elsewhere = path.join(dir, "from-environment.db")
      const result = yield* drainAll(file).pipe(withEnv({ REBOUND_STORE_PATH: elsewhere }))
      assert.strictEqual(result.retrieved, 2)
      assert.isFalse(fs.existsSync(path.join(dir, "from-file.db")))
      assert.lengthOf(yield* statesIn(elsewhere), 2)
    }).pipe(Effect.provide(NodeContext.layer))
  )

  it.effect("fails to build with the config file's error, naming the key", () =>
    Effect.gen(function* () {
      const { file } = setUp((dir) => ({
        store: { type: "sqlite", path: path.join(dir, "rebound.db") },
        quarantine: { errorThreshold: 0 }
      }))
      const error = yield* Effect.flip(Effect.provide(Processor, layerConfig(file)))
      assert.strictEqual(error._tag, "ConfigFileError")
      assert.include(error.message, file)
      assert.include(error.message, "quarantine.errorThreshold")
      assert.isFalse(fs.existsSync(path.join(path.dirname(file), "rebound.db")), "no store opened")
    }).pipe(withEnv(), Effect.provide(NodeContext.layer))
  )
})
