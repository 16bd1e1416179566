import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { storeSettingsConfig } from "./config.js"
import * as Checkpointer from "./sqlite-checkpointer.js"
import { databaseError, StoreError } from "./errors.js"
import { layerFromClient, type StoreServices, type StoreSettings } from "./store.js"

export const defaultFilename = "./data/rebound.db"

export interface SqliteStoreOptions {
  /** the database file (default ./data/rebound.db); its folder is created when missing */
  readonly filename?: string
  readonly settings?: Partial<StoreSettings>
  /** WAL checkpoints in a worker thread (the default), or `false`: the writing connection checkpoints by itself */
  readonly checkpoints?: Checkpointer.CheckpointOptions | false
  /** the page size of a new database file (an existing file keeps its own) */
  readonly pageSize?: number
}

/**
 * 16 KB: in the store bench (1,000-mail batches) it took 15-20% less main-thread CPU and wall time than SQLite's 4 KB,
 * 8 KB fell in between and 1 KB and 2 KB were slower: a commit writes one WAL frame per page touched, and a batch
 * touches pages all over the address and event indexes, so fewer, fuller pages mean fewer frames to write.
 */
export const defaultPageSize = 16_384

/** An SQLite client on `filename` in WAL mode, waiting for other writers rather than failing (busy_timeout). */
export const layerClient = (
  filename: string,
  checkpoints: Checkpointer.CheckpointOptions | false = {},
  pageSize: number = defaultPageSize
): Layer.Layer<SqlClient.SqlClient | SqliteClient.SqliteClient, StoreError> =>
  Layer.effectDiscard(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.all([
        // the page size only takes on a database with no page yet, and never once it is in WAL mode: so the client
        // opens without WAL, and WAL comes after it
        sql<{ page_count: number }>`PRAGMA page_count`.pipe(
          Effect.flatMap((rows) =>
            rows[0]?.page_count === 0 ? sql`PRAGMA page_size = ${sql.literal(String(pageSize))}` : Effect.void
          )
        ),
        sql`PRAGMA journal_mode = WAL`,
        sql`PRAGMA busy_timeout = 10000`,
        // better-sqlite3 is built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so WAL mode alone would give NORMAL: a commit
        // that a power loss can undo, after which the processor has already deleted the mail from its mailbox
        sql`PRAGMA synchronous = FULL`,
        // a batch touches index pages all over the address, event and text indexes: keep them in memory rather than
        // read them back at each batch. 16 MB: the page cache is resident memory of every long run, and `rebound once`
        // on 100,000 mails must stay under 200 MB in all (docs/operations.md, "Memory"); 64 MB applied 3-8% more
        // events per CPU second than 32 MB in the store bench
        sql`PRAGMA cache_size = -16384`,
        sql`PRAGMA temp_store = MEMORY`
      ])
    ).pipe(Effect.mapError(databaseError("configuring SQLite")))
  ).pipe(
    // prepared statements live as long as the connection: the default 10-minute TTL runs on Effect's Clock, which a
    // TestClock (or any clock moved by hand) would make expire at every step
    Layer.provideMerge(
      SqliteClient.layer({ filename, prepareCacheSize: 500, prepareCacheTTL: Duration.infinity, disableWAL: true })
    ),
    Layer.provideMerge(
      Layer.effectDiscard(
        Effect.try({
          try: () => {
            if (filename !== ":memory:" && filename !== "") fs.mkdirSync(path.dirname(filename), { recursive: true })
          },
          catch: (cause) =>
            new StoreError({ reason: "Database", message: `cannot create the folder of ${filename}: ${cause}`, cause })
        })
      )
    ),
    (client) =>
      checkpoints === false || filename === ":memory:" || filename === ""
        ? client
        : Checkpointer.layer(filename, checkpoints).pipe(Layer.provideMerge(client)),
    Layer.mapError((error) =>
      error._tag === "StoreError"
        ? error
        : new StoreError({ reason: "Database", message: `cannot open ${filename}: ${error.message}`, cause: error })
    )
  )

/** The store on an SQLite file (the default backend: one process, one file under ./data, WAL). */
export const layer = (options: SqliteStoreOptions = {}): Layer.Layer<StoreServices, StoreError> =>
  layerFromClient(options.settings).pipe(
    Layer.provide(layerClient(options.filename ?? defaultFilename, options.checkpoints, options.pageSize))
  )

/** The SQLite store configured by STORE_SQLITE_FILE and the store settings (STORE_*, QUARANTINE_*). */
export const layerConfig: Layer.Layer<StoreServices, StoreError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const filename = yield* Config.string("STORE_SQLITE_FILE").pipe(
      Config.withDefault(defaultFilename),
      Config.withDescription("The SQLite database file.")
    )
    const settings = yield* storeSettingsConfig
    return layer({ filename, settings })
  })
)
