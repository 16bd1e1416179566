import { afterAll, assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Logger, LogLevel, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layer } from "../../../src/adapters/store/sqlite.js"
import { type MailToApply, sha256Hex, Store } from "../../../src/adapters/store/store.js"
import { noCorrelation } from "../../../src/domain/report.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-checkpointer-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const walSize = (file: string) => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0)

const bounce = (n: number): MailToApply => {
  const recipient = `user${n}@domain${n % 13}.example`
  const diagnostic = `452 4.2.2 <${recipient}>: Recipient address rejected: mailbox full`
  return {
    key: { account: "bounces@example.com", uid: `${n}.test`, sha256: sha256Hex(new TextEncoder().encode(`${n}`)) },
    outcome: "applied",
    bytes: new TextEncoder().encode(`From: MAILER-DAEMON\r\n\r\n${diagnostic}`),
    report: {
      kind: "bounce",
      dialect: "rfc3464",
      subject: "Undelivered Mail Returned to Sender",
      from: "MAILER-DAEMON@mta.example.com",
      messageId: `<dsn-${n}@mta.example.com>`,
      date: "Mon, 6 Jan 2025 09:00:00 +0000",
      reportingMta: "mta.example.com",
      arrivalDate: null,
      originalEnvelopeId: null,
      originalMessageId: null,
      records: [
        {
          kind: "bounce",
          recipient,
          originalRecipient: null,
          action: "failed",
          status: "4.2.2",
          replyCode: "452",
          diagnostic,
          diagnosticType: "smtp",
          remoteMta: `mx.domain${n % 13}.example`,
          reportingMta: "mta.example.com",
          lastAttemptDate: null,
          willRetryUntil: null,
          type: "soft",
          reason: "mailboxfull",
          campaignReason: "Mailbox full",
          rule: "dsn-status-4.2.2",
          feedbackType: null,
          originalMessageId: null,
          originalEnvelopeId: null,
          correlation: noCorrelation
        }
      ]
    }
  }
}

const count = (table: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(table)}`).pipe(
    Effect.map((rows) => Number(rows[0]!.n))
  )

const within = <A, E, R>(what: string, check: Effect.Effect<A, E, R>) =>
  check.pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds"))),
    Effect.orDieWith(() => new Error(`${what} did not happen within 10 seconds`))
  )

const batches = 30
const perBatch = 100

/** Applies the batches, back to back or with a pause; returns the largest WAL file seen. */
const applyBatches = (file: string, pause = 0) =>
  Effect.gen(function* () {
    const store = yield* Store
    let largestWal = 0
    for (let batch = 0; batch < batches; batch++) {
      const applied = yield* store.applyMails(Array.from({ length: perBatch }, (_, i) => bounce(batch * perBatch + i)))
      assert.isTrue(applied.every((mail) => !mail.duplicate && mail.events === 1))
      largestWal = Math.max(largestWal, walSize(file))
      if (pause > 0) yield* Effect.sleep(pause)
    }
    return largestWal
  })

/** The largest WAL of the same writes with no checkpoint at all: the log then holds every page written. */
const uncheckpointedWal = (name: string, pause?: number) => {
  const control = path.join(dir, name)
  return Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`PRAGMA wal_autocheckpoint = 0`
    return yield* applyBatches(control, pause)
  }).pipe(Effect.provide(layer({ filename: control, checkpoints: false })))
}

describe("SQLite checkpointer", () => {
  it.live("keeps the WAL bounded, empties it when writes stop, and loses nothing across a reopen", () =>
    Effect.gen(function* () {
      const unbounded = yield* uncheckpointedWal("control.db")

      const file = path.join(dir, "bounded.db")
      const writerPages = 64
      yield* Effect.gen(function* () {
        const largestWal = yield* applyBatches(file)
        // past writerPages the writer checkpoints too, and the next commit writes the log from its start again
        assert.isBelow(largestWal, unbounded / 3)
        // quiet: the TRUNCATE checkpoint empties the log file
        yield* within(
          "an empty WAL",
          Effect.suspend(() => (walSize(file) === 0 ? Effect.void : Effect.fail("not yet")))
        )
        assert.strictEqual(yield* count("bounce_events"), batches * perBatch)
      }).pipe(
        Effect.provide(layer({ filename: file, checkpoints: { intervalMillis: 10, writerPages, quietMillis: 200 } }))
      )
      // the worker's connection closed before the writer's, so the writer's close removed the log
      assert.isFalse(fs.existsSync(`${file}-wal`))

      yield* Effect.gen(function* () {
        assert.strictEqual(yield* count("bounce_events"), batches * perBatch)
        assert.strictEqual(yield* count("mail_ledger"), batches * perBatch)
        assert.strictEqual(yield* count("address_states"), batches * perBatch)
        const again = yield* (yield* Store).applyMails([bounce(0), bounce(batches * perBatch - 1)])
        assert.isTrue(again.every((mail) => mail.duplicate))
      }).pipe(Effect.provide(layer({ filename: file })))
    })
  )

  it.live("an idle worker looks at the log less and less often, and as often as before once writes resume", () =>
    Effect.gen(function* () {
      const file = path.join(dir, "idle.db")
      const logged: Array<string> = []
      const collecting = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
          if (text.includes("SQLite checkpointer looks")) logged.push(text)
        })
      )
      const reported = (what: string, after: number) =>
        within(
          what,
          Effect.suspend(() => (logged.slice(after).some((line) => line.includes(what)) ? Effect.void : Effect.fail(0)))
        )
      yield* Effect.gen(function* () {
        const store = yield* Store
        yield* store.applyMails([bounce(1)])
        yield* reported("every 80 ms (idle)", 0)
        const idleAt = logged.length
        yield* store.applyMails([bounce(2)])
        yield* reported("every 10 ms (busy)", idleAt)
        const busyAt = logged.length
        yield* reported("every 80 ms (idle)", busyAt)
      }).pipe(
        Effect.provide(layer({ filename: file, checkpoints: { intervalMillis: 10, idleMillis: 80, quietMillis: 50 } })),
        Effect.provide(collecting),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.deepStrictEqual(
        logged.map((line) => line.endsWith("(idle)")),
        [true, false, true]
      )
    })
  )

  it.live("the worker copies the log while the writer works", () =>
    Effect.gen(function* () {
      const unbounded = yield* uncheckpointedWal("control-paused.db", 20)
      const file = path.join(dir, "worker.db")
      // the writer would not checkpoint before a million pages: the log stays small because the worker copies it
      const largestWal = yield* applyBatches(file, 20).pipe(
        Effect.provide(layer({ filename: file, checkpoints: { intervalMillis: 5, writerPages: 1_000_000 } }))
      )
      assert.isBelow(largestWal, unbounded / 3)
    })
  )

  it.live("the writer checkpoints only past writerPages with the worker, at SQLite's 1,000 pages without", () =>
    Effect.gen(function* () {
      const file = path.join(dir, "automatic.db")
      const autocheckpoint = Effect.flatMap(
        SqlClient.SqlClient,
        (sql) => sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`
      ).pipe(Effect.map((rows) => rows[0]!.wal_autocheckpoint))
      assert.strictEqual(
        yield* autocheckpoint.pipe(Effect.provide(layer({ filename: file, checkpoints: false }))),
        1000
      )
      assert.strictEqual(yield* autocheckpoint.pipe(Effect.provide(layer({ filename: file }))), 16_384)
    })
  )
})
