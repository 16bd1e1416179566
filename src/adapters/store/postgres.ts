import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { storeSettingsConfig } from "./config.js"
import { StoreError } from "./errors.js"
import { layerFromClient, type StoreServices, type StoreSettings } from "./store.js"

export interface PostgresStoreOptions {
  /** a postgres:// URL; or the separate fields below */
  readonly url?: Redacted.Redacted
  readonly host?: string
  readonly port?: number
  readonly database?: string
  readonly username?: string
  readonly password?: Redacted.Redacted
  readonly maxConnections?: number
  readonly settings?: Partial<StoreSettings>
}

/** A PostgreSQL client (connection pool). */
export const layerClient = (options: PostgresStoreOptions) =>
  PgClient.layer({
    url: options.url,
    host: options.host,
    port: options.port,
    database: options.database,
    username: options.username,
    password: options.password,
    maxConnections: options.maxConnections ?? 10,
    applicationName: "rebound"
  }).pipe(
    Layer.mapError(
      (error) =>
        new StoreError({ reason: "Database", message: `cannot connect to PostgreSQL: ${error.message}`, cause: error })
    )
  )

/** The store on PostgreSQL, for several processes and machines. */
export const layer = (options: PostgresStoreOptions): Layer.Layer<StoreServices, StoreError> =>
  layerFromClient(options.settings).pipe(Layer.provide(layerClient(options)))

/** The PostgreSQL store configured by STORE_PG_URL (or STORE_PG_HOST, _PORT, _DATABASE, _USERNAME, _PASSWORD). */
export const layerConfig: Layer.Layer<StoreServices, StoreError | ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const pg = yield* Config.nested(
      Config.all({
        url: Config.option(Config.redacted("URL").pipe(Config.withDescription("postgres://user:password@host/db"))),
        host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1"), Config.withDescription("Server host.")),
        port: Config.port("PORT").pipe(Config.withDefault(5432), Config.withDescription("Server port.")),
        database: Config.string("DATABASE").pipe(Config.withDefault("rebound"), Config.withDescription("Database.")),
        username: Config.string("USERNAME").pipe(Config.withDefault("rebound"), Config.withDescription("User.")),
        password: Config.option(Config.redacted("PASSWORD").pipe(Config.withDescription("Password."))),
        maxConnections: Config.integer("MAX_CONNECTIONS").pipe(
          Config.withDefault(10),
          Config.withDescription("Connections in the pool.")
        )
      }),
      "STORE_PG"
    )
    const settings = yield* storeSettingsConfig
    const url = Option.getOrUndefined(pg.url)
    const password = Option.getOrUndefined(pg.password)
    return layer({
      ...(url === undefined ? { host: pg.host, port: pg.port, database: pg.database, username: pg.username } : { url }),
      ...(password === undefined ? {} : { password }),
      maxConnections: pg.maxConnections,
      settings
    })
  })
)
