import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { defaultQuarantinePolicy } from "../../../src/domain/quarantine.js"
import { layerConfig, Store, storeSettingsConfig } from "../../../src/adapters/store/index.js"

const env = (entries: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries)), { pathDelim: "_" }))

describe("store configuration", () => {
  it.effect("every setting has a default", () =>
    Effect.gen(function* () {
      const settings = yield* storeSettingsConfig
      assert.deepStrictEqual(settings.policy, defaultQuarantinePolicy)
      assert.strictEqual(settings.localPartCase, "lowercase")
      assert.isFalse(settings.archiveAll)
    }).pipe(Effect.provide(env({})))
  )

  it.effect("reads the policy and the store settings from the environment", () =>
    Effect.gen(function* () {
      const settings = yield* storeSettingsConfig
      assert.strictEqual(settings.policy.errorThreshold, 3)
      assert.deepStrictEqual(settings.policy.timedReleaseReasons, ["mailboxfull", "suspend"])
      assert.strictEqual(settings.policy.outageGuard.minSends, 10)
      assert.strictEqual(settings.policy.outageGuard.hardBounceShare, 0.5)
      assert.isTrue(settings.archiveAll)
      assert.strictEqual(settings.localPartCase, "preserve")
    }).pipe(
      Effect.provide(
        env({
          QUARANTINE_ERROR_THRESHOLD: "3",
          QUARANTINE_TIMED_RELEASE_REASONS: "mailboxfull,suspend",
          QUARANTINE_OUTAGE_GUARD_MIN_SENDS: "10",
          QUARANTINE_OUTAGE_GUARD_HARD_BOUNCE_SHARE: "0.5",
          STORE_ARCHIVE_ALL: "true",
          STORE_LOCAL_PART_CASE: "preserve"
        })
      )
    )
  )

  it.effect("refuses a setting out of range", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(storeSettingsConfig)
      assert.include(String(error), "ERROR_THRESHOLD")
    }).pipe(Effect.provide(env({ QUARANTINE_ERROR_THRESHOLD: "0" })))
  )

  it.effect("STORE_BACKEND=sqlite opens the file, creating its folder", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-config-"))
    const file = path.join(dir, "nested", "rebound.db")
    return Effect.gen(function* () {
      const store = yield* Store
      assert.strictEqual(store.settings.policy.errorThreshold, 2)
      assert.strictEqual((yield* store.address("x@example.org")).status, "valid")
      assert.isTrue(fs.existsSync(file))
    }).pipe(
      Effect.provide(
        layerConfig.pipe(
          Layer.provide(env({ STORE_BACKEND: "sqlite", STORE_SQLITE_FILE: file, QUARANTINE_ERROR_THRESHOLD: "2" }))
        )
      ),
      Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
    )
  })
})
