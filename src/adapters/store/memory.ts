import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { storeSettingsConfig } from "./config.js"
import { layerMemory as leasesInMemory } from "./leases.js"
import type { StoreError } from "./errors.js"
import { layer as sqliteLayer } from "./sqlite.js"
import type { StoreServices, StoreSettings } from "./store.js"

/**
 * The store in memory, for tests and trials: SQLite's ":memory:" database, so it runs the very SQL of the file
 * store with no disk I/O; each build of the layer starts empty and everything is gone when its scope closes. Its
 * leases live in memory too: the store belongs to one process.
 */
export const layer = (settings: Partial<StoreSettings> = {}): Layer.Layer<StoreServices, StoreError> =>
  Layer.merge(sqliteLayer({ filename: ":memory:", settings }), leasesInMemory)

/** The memory store with the settings from config (STORE_*, QUARANTINE_*). */
export const layerConfig: Layer.Layer<StoreServices, StoreError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.map(storeSettingsConfig, (settings) => layer(settings))
)
