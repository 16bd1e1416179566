/**
 * The processor's poll loop (`Processor.run`, live clock) against the in-process POP3 fault server and a real
 * PostgreSQL: a connection dropped in the middle of a RETR, -ERR answers to RETR and DELE, a RETR answered without its
 * body, a server that stalls past the command timeout, and PostgreSQL stopped under the running loop and started
 * again. Each fault fails or shortens a session; the loop backs off and tries again; at the end the store equals that
 * of a run without faults, and no mail left the mailbox before its ledger entry was committed.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Duration, Effect, Fiber, Layer, Logger, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { encodeMultiline } from "../../src/adapters/mailbox/pop3-codec.js"
import { Forwarder } from "../../src/adapters/forward/forwarder.js"
import * as Pop3Mailbox from "../../src/adapters/mailbox/pop3-mailbox.js"
import * as PostgresStore from "../../src/adapters/store/postgres.js"
import * as SqliteStore from "../../src/adapters/store/sqlite.js"
import type { StoreError } from "../../src/adapters/store/errors.js"
import { MailLedger } from "../../src/adapters/store/mail-ledger.js"
import type { StoreServices } from "../../src/adapters/store/store.js"
import { makeTokenVerifier } from "../../src/domain/codec.js"
import { Pop3Account } from "../../src/app/config.js"
import { type AccountHandle, Processor, layer as processorLayer } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { type CommandContext, type Reply, TestPop3Server } from "../support/pop3-server.js"
import { type PostgresServer, postgresBinDir, postgresInstall, startPostgres } from "../support/postgres.js"
import { skipWithout } from "../support/services.js"
import {
  backlogMail,
  dumpPostgres,
  dumpStore,
  ledgerTimesPostgres,
  messageIdDomain,
  signingKey,
  stopPostgresForAWhile,
  type StoreDump
} from "./harness.js"

const skipPostgres = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

const mailCount = 120
const mails = Array.from({ length: mailCount }, (_, index) => backlogMail(index))

const accountFor = (server: TestPop3Server) =>
  Schema.decodeUnknownSync(Pop3Account)({
    type: "pop3",
    name: "faulty",
    host: "127.0.0.1",
    port: server.port,
    tls: "none",
    auth: { mechanism: "user", username: "bounce", password: "secret" },
    connectTimeout: 2,
    commandTimeout: 1,
    maxMailsPerSession: 20
  })

/** Each QUIT: when it came and which mails it deleted (by unique id). */
interface Quit {
  readonly at: number
  readonly uids: ReadonlyArray<string>
}

/** A fault server over `mails`: `fault` may answer a command instead of the server; every QUIT is recorded. */
const faultServer = (fault: (context: CommandContext, uid: string | undefined) => Reply | undefined) => {
  const quits: Array<Quit> = []
  const server: TestPop3Server = new TestPop3Server({
    mails,
    onCommand: (context) => {
      // message numbers are the session's own, fixed at its login (another session may have deleted mails since)
      const maildrop = context.session.maildrop ?? server.mails
      if (context.keyword === "QUIT" && context.session.authenticated) {
        const uids = [...context.session.deleted].map((number) => maildrop[number - 1]!.uid)
        quits.push({ at: Date.now(), uids })
        return undefined
      }
      const number = Number(context.args[0])
      return fault(context, Number.isInteger(number) ? maildrop[number - 1]?.uid : undefined)
    }
  })
  return { server, quits }
}

const processorLayers = (store: Layer.Layer<StoreServices, StoreError>) =>
  processorLayer({
    instance: "rebound",
    decode: { verifier: makeTokenVerifier([signingKey], { domain: messageIdDomain }) },
    batchSize: 8
  }).pipe(Layer.provideMerge(Layer.mergeAll(store, ProcessorStatus.layer, Forwarder.layer)))

/** What the poll loop logged, to tell which faults it met. */
const collecting = (lines: Array<string>) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => lines.push(Array.isArray(message) ? message.join(" ") : String(message)))
  )

/**
 * Runs the poll loop (every second, backoff on errors) until the server's mailbox is empty, calling `during` once
 * after the loop has started; returns the most consecutive failures the status board showed.
 */
const runUntilEmpty = (server: TestPop3Server, during: () => Promise<void> = async () => {}, seconds = 120) =>
  Effect.gen(function* () {
    const processor = yield* Processor
    const status = yield* ProcessorStatus
    const mailbox = yield* Pop3Mailbox.make({
      host: "127.0.0.1",
      port: server.port,
      tls: "none",
      auth: { mechanism: "user", username: "bounce", password: Redacted.make("secret") },
      connectTimeout: Duration.seconds(2),
      commandTimeout: Duration.seconds(1),
      maxMailsPerSession: 20
    })
    const handle: AccountHandle = { account: accountFor(server), mailbox }
    const fiber = yield* Effect.fork(processor.run(handle, Duration.seconds(1)))
    let mostFailures = 0
    const watch = Effect.gen(function* () {
      while (server.mails.length > 0) {
        const [current] = yield* status.accounts
        mostFailures = Math.max(mostFailures, current?.consecutiveFailures ?? 0)
        yield* Effect.sleep(Duration.millis(50))
      }
    })
    yield* Effect.all([watch, Effect.promise(during)], { concurrency: 2 }).pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(seconds),
        onTimeout: () => new Error(`${server.mails.length} mails still in the mailbox after ${seconds} s`)
      })
    )
    yield* Fiber.interrupt(fiber)
    return mostFailures
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** The ledger entries (uid, when) of a SQLite store. */
const ledgerTimes = (file: string): Map<string, number> => {
  const db = new Database(file, { readonly: true })
  try {
    const rows = db.prepare("SELECT uid, processed_at FROM mail_ledger").all() as Array<{
      uid: string
      processed_at: number
    }>
    return new Map(rows.map((row) => [row.uid, Number(row.processed_at)]))
  } finally {
    db.close()
  }
}

/** Every mail a QUIT deleted had its ledger entry committed before that QUIT. */
const assertRecordedBeforeDeleted = (quits: ReadonlyArray<Quit>, recorded: Map<string, number>) => {
  const deleted = quits.flatMap((quit) => quit.uids.map((uid) => ({ uid, at: quit.at })))
  assert.lengthOf(deleted, mailCount, "each mail deleted exactly once")
  assert.strictEqual(new Set(deleted.map((d) => d.uid)).size, mailCount)
  for (const { uid, at } of deleted) {
    const processedAt = recorded.get(uid)
    assert.isDefined(processedAt, `${uid} was deleted but is not in the ledger`)
    assert.isAtMost(processedAt!, at, `${uid} was deleted before its ledger entry was committed`)
  }
}

const tempDirs: Array<string> = []
const tempFile = (name: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-pop3-faults-"))
  tempDirs.push(dir)
  return path.join(dir, name)
}

describe("POP3 and store faults under the running poll loop", () => {
  let reference: StoreDump

  beforeAll(async () => {
    const { server } = faultServer(() => undefined)
    await server.start()
    const file = tempFile("reference.db")
    try {
      await Effect.runPromise(
        runUntilEmpty(server).pipe(
          Effect.provide(processorLayers(SqliteStore.layer({ filename: file }))),
          Effect.provide(collecting([]))
        )
      )
    } finally {
      await server.stop()
    }
    reference = dumpStore(file)
    assert.lengthOf(reference.ledger, mailCount)
  })

  afterAll(() => {
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true })
  })

  it.live(
    "a dropped RETR, -ERR to RETR and DELE, a RETR without its body, a stall: retried, nothing lost or doubled",
    () =>
      Effect.gen(function* () {
        const fired = new Set<string>()
        const once = (name: string, reply: Reply): Reply | undefined => {
          if (fired.has(name)) return undefined
          fired.add(name)
          return reply
        }
        const { server, quits } = faultServer(({ keyword }, uid) => {
          if (keyword === "RETR" && uid === "uid-0005") {
            const mail = server.mails.find((m) => m.uid === uid)!.bytes
            return once("drop", {
              _tag: "WriteAndClose",
              data: Buffer.concat([Buffer.from("+OK\r\n"), mail.subarray(0, 300)])
            })
          }
          if (keyword === "RETR" && uid === "uid-0030")
            return once("retr-err", "-ERR [SYS/TEMP] cannot open the message\r\n")
          // in the last session: a session that fails at its commit takes down the next one, which overlaps it (and
          // which commits what it applied), so a fault there would go unseen
          if (keyword === "DELE" && uid === "uid-0110") return once("dele-err", "-ERR [SYS/TEMP] cannot delete now\r\n")
          if (keyword === "RETR" && uid === "uid-0075") return once("stall", { _tag: "Hang" })
          // a reply without its body, in the second batch of a session (sessions of 20, batches of 8): read in step,
          // the next mail would be stored under this one's id and each later one under its predecessor's
          if (keyword === "RETR" && uid === "uid-0052") return once("no-body", "+OK 120 octets\r\n")
          if (keyword === "RETR" && uid === "uid-0090") {
            // the whole reply, slowly: the status line split in two reads, the mail in two more
            const mail = server.mails.find((m) => m.uid === uid)!.bytes
            const reply = `+OK ${mail.length} octets\r\n${Buffer.from(encodeMultiline(mail)).toString("latin1")}`
            const middle = Math.floor(reply.length / 2)
            const parts = [reply.slice(0, 3), reply.slice(3, middle), reply.slice(middle)]
            return once("trickle", { _tag: "Trickle", parts, pauseMillis: 300 })
          }
          return undefined
        })
        yield* Effect.promise(() => server.start())
        const file = tempFile("faults.db")
        const logs: Array<string> = []
        const mostFailures = yield* runUntilEmpty(server).pipe(
          Effect.provide(processorLayers(SqliteStore.layer({ filename: file }))),
          Effect.provide(collecting(logs)),
          Effect.ensuring(Effect.promise(() => server.stop()))
        )
        assert.deepStrictEqual([...fired].sort(), ["dele-err", "drop", "no-body", "retr-err", "stall", "trickle"])
        assert.isAtLeast(mostFailures, 1)
        const failures = logs.filter((line) => line.startsWith("poll failed"))
        assert.isAtLeast(failures.length, 3, logs.join("\n"))
        assert.isTrue(
          failures.some((line) => /timed out after 1s waiting for the reply to RETR/.test(line)),
          failures.join("\n")
        )
        assert.isTrue(
          failures.some((line) => /the reply to RETR \d+ \(uid-0052\) begins with a POP3 status line/.test(line)),
          failures.join("\n")
        )
        assertRecordedBeforeDeleted(quits, ledgerTimes(file))
        assert.deepStrictEqual(dumpStore(file), reference)
      })
  )

  describe.skipIf(skipPostgres)("PostgreSQL", () => {
    let postgres: PostgresServer
    beforeAll(async () => {
      postgres = await startPostgres()
    })
    afterAll(() => postgres?.stop())

    it.live(
      "stopped under the running loop and started again: sessions fail, back off, and every mail is applied once",
      () =>
        Effect.gen(function* () {
          const url = postgres.createDatabase("outage")
          let stopIssued = () => {}
          const stopped = new Promise<void>((resolve) => (stopIssued = resolve))
          // the second session (mails 21 to 40, batches of 8) gets mail 37 only once the stop was issued: it has
          // applied two batches by then and not its last, so the stop always falls in the middle of that session
          const { server, quits } = faultServer(({ keyword }, uid) => {
            if (keyword !== "RETR" || uid !== "uid-0037") return undefined
            const mail = server.mails.find((m) => m.uid === uid)!.bytes
            const reply = `+OK ${mail.length} octets\r\n${Buffer.from(encodeMultiline(mail)).toString("latin1")}`
            return { _tag: "Hold", until: stopped, reply }
          })
          yield* Effect.promise(() => server.start())
          const logs: Array<string> = []
          let remainingAtStop = 0
          let remainingAtStart = 0
          let stoppedAt = 0
          const outage = async () => {
            // in the second session, after its first batches were applied but before its QUIT
            while ((await ledgerTimesPostgres(url)).size < 28) await new Promise((resolve) => setTimeout(resolve, 5))
            stoppedAt = Date.now()
            const start = stopPostgresForAWhile(postgres)
            remainingAtStop = server.mails.length
            stopIssued()
            await new Promise((resolve) => setTimeout(resolve, 5000))
            remainingAtStart = server.mails.length
            start()
          }
          const mostFailures = yield* runUntilEmpty(server, outage).pipe(
            Effect.provide(processorLayers(PostgresStore.layer({ url: Redacted.make(url), maxConnections: 4 }))),
            Effect.provide(collecting(logs)),
            Effect.ensuring(Effect.promise(() => server.stop()))
          )
          assert.isAtLeast(mostFailures, 1, logs.join("\n"))
          assert.isTrue(
            logs.some((line) => line.startsWith("poll failed")),
            logs.join("\n")
          )
          assert.isBelow(remainingAtStop, mailCount)
          assert.isAbove(remainingAtStart, 0)
          const recorded = yield* Effect.flatMap(MailLedger, (ledger) => ledger.outcomes(0)).pipe(
            Effect.provide(PostgresStore.layer({ url: Redacted.make(url), maxConnections: 1 }))
          )
          const times = yield* Effect.promise(() => ledgerTimesPostgres(url))
          const committedBeforeStop = [...times.values()].filter((at) => at < stoppedAt).length
          console.log(
            `outage: ${mailCount - remainingAtStop} mails deleted and ${committedBeforeStop} in the ledger at the ` +
              `stop, ${remainingAtStart} mails left when it started again; ledger ${JSON.stringify(recorded)}`
          )
          // the stop came mid-session: applied mails were still in the mailbox, and must not be applied again
          assert.isAbove(committedBeforeStop, mailCount - remainingAtStop)
          assertRecordedBeforeDeleted(quits, times)
          assert.deepStrictEqual(yield* Effect.promise(() => dumpPostgres(url)), reference)
        })
    )
  })
})
