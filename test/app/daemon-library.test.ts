import { assert, describe, it } from "@effect/vitest"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Fiber, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AppConfig } from "../../src/app/config.js"
import { makeStopSignal, runApp, StopSignal } from "../../src/index.js"
import { quarantinedAddresses } from "../faults/harness.js"
import { qmailBounce } from "../support/mails.js"

describe("runApp (the library's whole app)", () => {
  it.live("runs a configuration's accounts until its stop signal, then returns", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-app-"))
      const database = path.join(dir, "rebound.db")
      const inbox = path.join(dir, "inbox")
      const config = Schema.decodeUnknownSync(AppConfig)({
        store: { type: "sqlite", path: database },
        accounts: [{ type: "maildir", name: "inbox", path: inbox, pollSeconds: 1 }],
        http: null,
        log: { level: "warning" }
      })
      const stop = yield* makeStopSignal
      const app = yield* Effect.fork(
        runApp(config).pipe(Effect.provideService(StopSignal, stop.signal), Effect.provide(NodeContext.layer))
      )
      fs.mkdirSync(path.join(inbox, "new"), { recursive: true })
      fs.writeFileSync(
        path.join(inbox, "new", "1.eml"),
        qmailBounce("gone@receiver.example", "Remote host said: 550 5.1.1 unknown user")
      )
      for (let tries = 0; tries < 100 && quarantinedAddresses(database).length === 0; tries++)
        yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(quarantinedAddresses(database), ["gone@receiver.example"])
      yield* stop.request
      const exit = yield* Fiber.await(app).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(exit._tag, "Success")
      fs.rmSync(dir, { recursive: true, force: true })
    })
  )
})
