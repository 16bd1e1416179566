import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Context, Duration, Effect, Layer, Logger, Redacted, Schedule, Schema, Stream } from "effect"
import { Forwarder } from "../../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import { decodeSmtpListenerConfig } from "../../../src/adapters/smtp/config.js"
import * as SmtpListener from "../../../src/adapters/smtp/listener.js"
import * as WorkQueueMailbox from "../../../src/adapters/smtp/work-queue-mailbox.js"
import { BounceEvents } from "../../../src/adapters/store/bounce-events.js"
import type { StoreError } from "../../../src/adapters/store/errors.js"
import { MailLedger } from "../../../src/adapters/store/mail-ledger.js"
import * as PostgresStore from "../../../src/adapters/store/postgres.js"
import * as SqliteStore from "../../../src/adapters/store/sqlite.js"
import type { StoreServices } from "../../../src/adapters/store/store.js"
import { Store } from "../../../src/adapters/store/store.js"
import * as WorkQueue from "../../../src/adapters/store/work-queue.js"
import { SmtpWorkQueue } from "../../../src/adapters/store/work-queue.js"
import { SmtpAccount } from "../../../src/app/config.js"
import { type AccountHandle, Processor, layer as processorLayer, prepareMail } from "../../../src/app/processor.js"
import { ProcessorStatus } from "../../../src/app/status.js"
import { makeTokenVerifier } from "../../../src/domain/codec.js"
import { postfixDsn } from "../../support/mails.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"
import { sendMail } from "./smtp-client.js"

const quiet = Logger.remove(Logger.defaultLogger)
const settings = { instance: "rebound", decode: { verifier: makeTokenVerifier([]) }, batchSize: 10 }
const account = Schema.decodeUnknownSync(SmtpAccount)({ type: "smtp", name: "mx", maxMailsPerSession: 20 })

const bounceFor = (n: number) =>
  postfixDsn({
    recipients: [{ address: `gone${n}@example.net`, status: "5.1.1", diagnostic: "550 5.1.1 unknown user" }]
  })

/** One rebound "process": a store of its own (its own connections) with a processor over it. */
const processLayer = (store: Layer.Layer<StoreServices, StoreError>) =>
  processorLayer(settings).pipe(
    Layer.provideMerge(Layer.mergeAll(ProcessorStatus.layer, Forwarder.layer)),
    Layer.provideMerge(WorkQueue.layer),
    Layer.provideMerge(store)
  )

/** A handle on the work queue as the smtp account's mailbox, recording the uids it retrieved. */
const queueHandle = (holder: string, lease: Duration.DurationInput, retrieved: Array<string> = []) =>
  Effect.gen(function* () {
    const limits = { maxMailsPerSession: account.maxMailsPerSession }
    const context = yield* Layer.build(WorkQueueMailbox.layer({ holder, lease, limits }))
    const mailbox = Context.get(context, Mailbox)
    const recording: Context.Tag.Service<Mailbox> = {
      open: Effect.map(mailbox.open, (session) => ({
        ...session,
        retrieveMany: (entries) =>
          session
            .retrieveMany(entries)
            .pipe(
              Stream.tap((result) =>
                Effect.sync(() => void (result._tag === "Retrieved" && retrieved.push(result.entry.uid)))
              )
            )
      }))
    }
    return { account, mailbox: recording } satisfies AccountHandle
  })

/** A listener with spool "store" on an ephemeral loopback port. */
const listen = (healthInterval: Duration.DurationInput = Duration.millis(50)) =>
  Effect.gen(function* () {
    const config = yield* decodeSmtpListenerConfig({
      host: "127.0.0.1",
      port: 0,
      hostname: "mx.bounce.test",
      domains: ["bounce.test"],
      spool: "store",
      shutdownTimeout: 1
    })
    return yield* SmtpListener.make(config, {
      healthInterval,
      workQueue: yield* SmtpWorkQueue
    })
  })

const rows = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{
    id: unknown
    queue_id: string
    sender: string
    recipient: string
    bytes: Uint8Array
  }>`SELECT id, queue_id, sender, recipient, bytes FROM smtp_work ORDER BY id`
})

interface Backend {
  readonly name: string
  /** a fresh, empty store */
  readonly fresh: () => Layer.Layer<StoreServices, StoreError>
  /** another "process" on the store `fresh` made last */
  readonly same: () => Layer.Layer<StoreServices, StoreError>
  /** makes the store refuse work until `restore` */
  readonly breakStore: Effect.Effect<void, unknown, SqlClient.SqlClient>
  readonly restore: Effect.Effect<void, unknown, SqlClient.SqlClient>
  readonly pooled: boolean
}

const suite = (backend: Backend) =>
  describe(`the SMTP work queue on ${backend.name}`, () => {
    it.live(
      "the listener answers 250 only with the mail's copies in the work table; the smtp account applies them",
      () =>
        Effect.gen(function* () {
          const listener = yield* listen()
          const bounce = bounceFor(1)
          const result = yield* Effect.promise(() =>
            sendMail(listener.address.port, {
              from: "",
              to: ["bounce+a@bounce.test", "bounce+b@bounce.test"],
              data: bounce
            })
          )
          assert.strictEqual(result.data?.code, 250)
          const id = /queued as ([0-9A-F]+)/.exec(result.data!.text)![1]
          // right at 250: one row per recipient, each with its trace fields and the whole mail
          const queued = yield* rows
          assert.deepStrictEqual(
            queued.map((row) => [row.queue_id, row.sender, row.recipient]),
            [
              [id, "", "bounce+a@bounce.test"],
              [id, "", "bounce+b@bounce.test"]
            ]
          )
          const text = Buffer.from(queued[1]!.bytes).toString("utf8")
          assert.isTrue(text.startsWith("Return-Path: <>\r\nX-Original-To: bounce+b@bounce.test\r\nReceived: "))
          assert.isTrue(text.endsWith(bounce.toString("utf8")))
          assert.strictEqual(listener.spool, "store")
          assert.deepStrictEqual((yield* listener.stats).spooledFiles, 2)

          const processor = yield* Processor
          const handle = yield* queueHandle("p1", "1 minute")
          const [session] = yield* processor.drain(handle)
          assert.deepStrictEqual(session!.outcomes, { applied: 2 })
          assert.strictEqual(session!.deleted, 2)
          assert.lengthOf(yield* rows, 0)
          const entries = yield* (yield* MailLedger).list({ account: "mx", limit: 10 })
          assert.sameMembers(
            entries.map((entry) => entry.key.uid),
            queued.map((row) => String(row.id))
          )
        }).pipe(Effect.scoped, Effect.provide(processLayer(backend.fresh())), Effect.provide(quiet))
    )

    it.live(
      "with the store unavailable the listener answers 451 4.3.0 and loses nothing; then it takes mail again",
      () =>
        Effect.gen(function* () {
          // one listener trusts its last probe for an hour, the other probes every 50 ms
          const trusting = yield* listen(Duration.hours(1))
          const probing = yield* listen()
          const send = (listener: Context.Tag.Service<SmtpListener.SmtpListener>, n: number) =>
            Effect.promise(() =>
              sendMail(listener.address.port, { from: "", to: ["bounce+x@bounce.test"], data: bounceFor(n) })
            )
          assert.strictEqual((yield* send(trusting, 1)).data?.code, 250)
          yield* backend.breakStore
          // the last probe said healthy: MAIL FROM passes, the insert fails, and the client is told to retry
          const duringData = yield* send(trusting, 2)
          assert.strictEqual(duringData.mailFrom.code, 250)
          assert.strictEqual(duringData.data?.code, 451)
          assert.match(duringData.data!.text, /^4\.3\.0 /)
          // the failed insert marked the store unavailable: the next mail is refused at once
          assert.strictEqual((yield* send(trusting, 2)).mailFrom.code, 451)
          yield* Effect.sleep(Duration.millis(60))
          const atMailFrom = yield* send(probing, 2)
          assert.strictEqual(atMailFrom.mailFrom.code, 451)
          assert.match(atMailFrom.mailFrom.text, /^4\.3\.0 /)
          assert.isFalse((yield* probing.health).healthy)

          yield* backend.restore
          // the client's retry: taken once the store answers again
          const retried = yield* send(probing, 2).pipe(
            Effect.filterOrFail((reply) => reply.data?.code === 250),
            Effect.retry(Schedule.spaced("100 millis")),
            Effect.timeout("20 seconds")
          )
          assert.strictEqual(retried.data?.code, 250)
          const queued = yield* rows
          assert.lengthOf(queued, 2, "the mail acknowledged before the outage and the retried one")
          assert.isTrue(Buffer.from(queued[0]!.bytes).toString("utf8").includes("gone1@example.net"))
          assert.isTrue(Buffer.from(queued[1]!.bytes).toString("utf8").includes("gone2@example.net"))
          assert.strictEqual((yield* trusting.stats).accepted + (yield* probing.stats).accepted, 2)
        }).pipe(Effect.scoped, Effect.provide(processLayer(backend.fresh())), Effect.provide(quiet))
    )

    it.live("a claim of a killed holder is taken over after it expires; what it applied is not applied again", () =>
      Effect.gen(function* () {
        const queue = yield* SmtpWorkQueue
        const store = yield* Store
        const ids = (yield* Effect.forEach(
          Array.from({ length: 10 }, (_, n) => n),
          (n) =>
            queue.enqueue([
              { queueId: `Q${n}`, sender: "", recipient: "b@bounce.test", receivedAt: n, bytes: bounceFor(n) }
            ])
        )).flat()
        // the killed process: it claimed 6, applied 3 of them, and died before deleting them or giving them back
        const held = yield* queue.claim({ limit: 6, holder: "killed", leaseMillis: 1500 })
        const bytes = yield* queue.read(held.map((item) => item.id))
        yield* store.applyMails(
          held.slice(0, 3).map((item) =>
            prepareMail("mx", { uid: String(item.id), size: item.size }, bytes.get(item.id)!, settings, {
              unapplied: false,
              applied: false
            })
          )
        )

        const processor = yield* Processor
        const handle = yield* queueHandle("survivor", "1 minute")
        const before = yield* processor.session(handle)
        assert.strictEqual(before.listed, 4, "only the free rows")
        assert.deepStrictEqual(before.outcomes, { applied: 4 })
        assert.strictEqual((yield* processor.session(handle)).listed, 0)

        yield* Effect.sleep(Duration.millis(1600))
        const after = yield* processor.session(handle)
        assert.strictEqual(after.listed, 6)
        assert.strictEqual(after.alreadyDurable, 3)
        assert.deepStrictEqual(after.outcomes, { applied: 3 })
        assert.strictEqual(after.duplicates, 0)
        assert.strictEqual(after.deleted, 6)

        assert.deepStrictEqual(yield* queue.counts, { queued: 0, claimed: 0, octets: 0 })
        assert.strictEqual(yield* (yield* BounceEvents).count(0), 10)
        const ledger = yield* (yield* MailLedger).list({ account: "mx", limit: 100 })
        assert.sameMembers(
          ledger.map((entry) => entry.key.uid),
          ids.map(String)
        )
      }).pipe(Effect.scoped, Effect.provide(processLayer(backend.fresh())), Effect.provide(quiet))
    )

    if (backend.pooled) {
      it.live("two processes drain 200 queued mails together: disjoint parts, every mail applied exactly once", () =>
        Effect.gen(function* () {
          const first = yield* Layer.build(processLayer(backend.fresh()))
          const second = yield* Layer.build(processLayer(backend.same()))
          const queue = Context.get(first, SmtpWorkQueue)
          yield* Effect.forEach(
            Array.from({ length: 200 }, (_, n) => n),
            (n) =>
              queue.enqueue([
                { queueId: `Q${n}`, sender: "", recipient: "b@bounce.test", receivedAt: n, bytes: bounceFor(n) }
              ]),
            { concurrency: 4 }
          )
          const drain = (context: Context.Context<Processor | SmtpWorkQueue>, holder: string) =>
            Effect.gen(function* () {
              const retrieved: Array<string> = []
              const handle = yield* queueHandle(holder, "1 minute", retrieved).pipe(Effect.provide(context))
              const results = yield* Context.get(context, Processor).drain(handle)
              return { retrieved, results }
            })
          const [a, b] = yield* Effect.all([drain(first, "p1"), drain(second, "p2")], { concurrency: 2 })
          assert.isAbove(a!.retrieved.length, 0, "the first process applied some")
          assert.isAbove(b!.retrieved.length, 0, "the second process applied some")
          const both = new Set([...a!.retrieved, ...b!.retrieved])
          assert.strictEqual(both.size, a!.retrieved.length + b!.retrieved.length, "a mail was retrieved twice")
          assert.strictEqual(both.size, 200)
          const applied = [...a!.results, ...b!.results].reduce((sum, r) => sum + (r.outcomes.applied ?? 0), 0)
          const duplicates = [...a!.results, ...b!.results].reduce((sum, r) => sum + r.duplicates, 0)
          assert.strictEqual(applied, 200)
          assert.strictEqual(duplicates, 0)
          assert.deepStrictEqual(yield* queue.counts, { queued: 0, claimed: 0, octets: 0 })
          assert.strictEqual(yield* Context.get(first, BounceEvents).count(0), 200)
          assert.strictEqual((yield* Context.get(second, MailLedger).outcomes(0)).applied, 200)
        }).pipe(Effect.scoped, Effect.provide(quiet))
      )
    }
  })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-smtp-work-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let files = 0

suite({
  name: "SQLite",
  fresh: () => SqliteStore.layer({ filename: path.join(dir, `store-${++files}.db`) }),
  same: () => SqliteStore.layer({ filename: path.join(dir, `store-${files}.db`) }),
  // SQLite has no server to stop: the work table moves away (with its rows), so every insert fails
  breakStore: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE smtp_work RENAME TO smtp_work_away`),
  restore: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE smtp_work_away RENAME TO smtp_work`),
  pooled: false
})

const skipPostgres = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

describe.skipIf(skipPostgres)("PostgreSQL", () => {
  let server: PostgresServer | undefined
  let databases = 0
  let url = ""
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())

  /** SQL as the server's superuser, on the maintenance database. */
  const admin = (statement: string) =>
    Effect.sync(() =>
      execFileSync(
        path.join(postgresBinDir()!, "psql"),
        ["-h", "127.0.0.1", "-p", String(server!.port), "-U", server!.user, "-d", "postgres", "-q", "-c", statement],
        { stdio: "pipe" }
      )
    )
  const database = () => `work_${databases}`

  suite({
    name: "PostgreSQL",
    fresh: () => {
      url = server!.createDatabase(`work_${++databases}`)
      return PostgresStore.layer({ url: Redacted.make(url), maxConnections: 4 })
    },
    same: () => PostgresStore.layer({ url: Redacted.make(url), maxConnections: 4 }),
    // the database refuses connections and the open ones are cut: to rebound, the store is down
    breakStore: Effect.suspend(() =>
      Effect.zipRight(
        admin(`ALTER DATABASE ${database()} ALLOW_CONNECTIONS false`),
        admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database()}'`)
      )
    ),
    restore: Effect.suspend(() => admin(`ALTER DATABASE ${database()} ALLOW_CONNECTIONS true`)),
    pooled: true
  })
})
