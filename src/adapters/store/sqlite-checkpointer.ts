import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import { databaseError, StoreError } from "./errors.js"

/** When the checkpointer copies the write-ahead log into the database file. */
export interface CheckpointOptions {
  /** how often the worker looks at the log (a passive checkpoint: it copies what it can without waiting for anyone) */
  readonly intervalMillis?: number
  /**
   * the log size (pages) at which the writer checkpoints by itself after a commit: under steady writes the worker
   * rarely copies the whole log between two transactions, and only a fully copied log starts again from its
   * beginning; the writer's own checkpoint then finds most pages already copied
   */
  readonly writerPages?: number
  /** after this long without a commit, a TRUNCATE checkpoint empties the log file */
  readonly quietMillis?: number
  /**
   * while the log does not change, the worker looks at it half as often each time, down to once per this many ms; the
   * first change brings `intervalMillis` back (an idle daemon then wakes once a second, not twenty times)
   */
  readonly idleMillis?: number
}

export const defaultCheckpointOptions: Required<CheckpointOptions> = {
  intervalMillis: 50,
  writerPages: 16_384,
  quietMillis: 2_000,
  idleMillis: 1_000
}

/**
 * The worker's code, plain CommonJS so that it runs the same under tsx, vitest and the built package (a worker file
 * would need a TypeScript loader in the first two). It opens its own connection on the database and checkpoints.
 */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads")
const Database = require(workerData.driver)
const db = new Database(workerData.filename)
db.pragma("busy_timeout = 10000")
db.pragma("synchronous = FULL")
let timer
let lastLog = -1
let quietSince = Date.now()
let interval = workerData.intervalMillis
const checkpoint = (mode) => db.pragma("wal_checkpoint(" + mode + ")")[0]
const tick = () => {
  let changed = true
  try {
    const passive = checkpoint("PASSIVE")
    const now = Date.now()
    changed = passive.log !== lastLog
    if (changed) quietSince = now
    lastLog = passive.log
    if (passive.log > 0 && passive.checkpointed === passive.log && now - quietSince >= workerData.quietMillis) {
      parentPort.postMessage({ mode: "TRUNCATE", before: passive.log, ...checkpoint("TRUNCATE") })
      lastLog = 0
    }
  } catch (error) {
    parentPort.postMessage({ mode: "failed", message: String(error && error.message || error) })
  }
  const next = changed ? workerData.intervalMillis : Math.min(interval * 2, workerData.idleMillis)
  if (next !== interval && (next === workerData.idleMillis || next === workerData.intervalMillis)) {
    parentPort.postMessage({ mode: next === workerData.idleMillis ? "idle" : "busy", millis: next })
  }
  interval = next
  timer = setTimeout(tick, interval)
}
timer = setTimeout(tick, interval)
parentPort.on("message", () => {
  clearTimeout(timer)
  db.close()
  parentPort.close()
})
`

interface CheckpointReport {
  readonly mode: "TRUNCATE" | "failed" | "idle" | "busy"
  readonly message?: string
  readonly millis?: number
}

const driverPath = (): string => {
  const here = createRequire(import.meta.url)
  return createRequire(here.resolve("@effect/sql-sqlite-node/package.json")).resolve("better-sqlite3")
}

/**
 * Moves WAL checkpoints off the commit path. SQLite's automatic checkpoint runs inside the COMMIT that pushes the
 * log past 1,000 pages: that commit copies the log into the database file and waits for its fsync, which was about
 * a third of the time of a commit of 1,000 mails. Here a worker thread with its own connection checkpoints next
 * to the writer, on the other core, and the writer only checkpoints past `writerPages`, which bounds the log when
 * the worker cannot keep up; a TRUNCATE checkpoint empties the log file when writes stop. If the worker fails, the
 * writer checkpoints at SQLite's default of 1,000 pages again. Closing the layer stops the worker before the client closes, and the last
 * connection's close checkpoints what is left.
 */
export const layer = (
  filename: string,
  options: CheckpointOptions = {}
): Layer.Layer<never, StoreError, SqlClient.SqlClient> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const settings = { ...defaultCheckpointOptions, ...options }
      const sql = yield* SqlClient.SqlClient
      const runtime = yield* Effect.runtime<never>()
      const automaticCheckpoints = sql`PRAGMA wal_autocheckpoint = 1000`.pipe(
        Effect.zipRight(Effect.logWarning("the SQLite checkpointer stopped: the writer checkpoints by itself again")),
        Effect.catchAll((error) => Effect.logError("cannot turn automatic SQLite checkpoints back on", error))
      )
      yield* Effect.acquireRelease(
        Effect.gen(function* () {
          yield* sql`PRAGMA wal_autocheckpoint = ${sql.literal(String(settings.writerPages))}`.pipe(
            Effect.mapError(databaseError("configuring SQLite"))
          )
          const worker = yield* Effect.try({
            try: () =>
              new Worker(workerSource, {
                eval: true,
                workerData: { driver: driverPath(), filename, ...settings }
              }),
            catch: (cause) =>
              new StoreError({ reason: "Database", message: `cannot start the SQLite checkpointer: ${cause}`, cause })
          })
          let stopping = false
          let exited = false
          worker.on("message", (report: CheckpointReport) => {
            if (report.mode === "failed")
              Runtime.runFork(runtime)(Effect.logWarning(`SQLite checkpoint failed: ${report.message}`))
            else if (report.mode === "idle" || report.mode === "busy")
              Runtime.runFork(runtime)(
                Effect.logDebug(`the SQLite checkpointer looks at the log every ${report.millis} ms (${report.mode})`)
              )
          })
          worker.on("error", (error) => {
            Runtime.runFork(runtime)(
              Effect.logError("the SQLite checkpointer failed", error).pipe(Effect.zipRight(automaticCheckpoints))
            )
          })
          worker.on("exit", () => {
            exited = true
            if (!stopping) Runtime.runFork(runtime)(automaticCheckpoints)
          })
          return {
            worker,
            stop: () => {
              stopping = true
              return exited
            }
          }
        }),
        ({ stop, worker }) =>
          Effect.async<void>((resume) => {
            if (stop()) return resume(Effect.void)
            worker.once("exit", () => resume(Effect.void))
            worker.postMessage("stop")
          })
      )
    })
  )
