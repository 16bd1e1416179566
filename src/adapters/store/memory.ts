import type * as Layer from "effect/Layer"
import { layer as sqliteLayer } from "./sqlite.js"
import type { StoreError } from "./errors.js"
import type { StoreServices, StoreSettings } from "./store.js"

/**
 * The store in memory, for tests and trials: SQLite's ":memory:" database, so it runs the very SQL of the file
 * store with no disk I/O; each build of the layer starts empty and everything is gone when its scope closes.
 */
export const layer = (settings: Partial<StoreSettings> = {}): Layer.Layer<StoreServices, StoreError> =>
  sqliteLayer({ filename: ":memory:", settings })
