/**
 * Store throughput: applies 100,000 bounce events for 50,000 addresses (two per address on average) on 200 receiving
 * domains through `Store.applyMails`, on SQLite (a file, WAL, synchronous=FULL) and on PostgreSQL (a local server with
 * its default, durable settings). The mails are real bounce mails (Postfix DSNs, some with two recipients, Exim and
 * qmail bounces) decoded by rebound's decoder before the clock starts, so the reports are those the processor applies;
 * half of the original messages are registered as sent, so correlation takes each of its paths.
 * Each backend runs, on a fresh database each time: batches of 50 mails, of 200 (the processor's session batch) and of
 * 1,000, and a sample of one mail per transaction, and prints events/s, events per CPU second (what a machine shared
 * with other work still gives) and the ratios. Target (issue #4): >= 20,000 events/s on SQLite in batches of 1,000
 * mails per transaction; smaller batches pay an fsync per commit (synchronous=FULL) that bounds them on any disk.
 * The clock moves one hour per 1,000 mails, so the 24-hour spacing, thresholds and quarantines all take part.
 * BENCH_EVENTS and BENCH_SINGLE change the sizes, BENCH_BATCHES the batch sizes ("50,200,1000"); BENCH_SQLITE_ONLY=1
 * skips PostgreSQL; BENCH_SQLITE_MEMORY=1 also runs SQLite in memory (no I/O, for comparison); BENCH_CACHE=1 keeps the
 * decoded mails in the temporary folder for the next run (while working on the store; a decoder change needs a fresh
 * decode).
 */
import * as Redacted from "effect/Redacted"
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import { parseMail } from "../src/adapters/mime/parse.js"
import * as Postgres from "../src/adapters/store/postgres.js"
import * as Sqlite from "../src/adapters/store/sqlite.js"
import {
  ledgerKeyOf,
  type MailToApply,
  type SentMessageInput,
  Store,
  type StoreServices
} from "../src/adapters/store/store.js"
import type { StoreError } from "../src/adapters/store/errors.js"
import { outcomeOf } from "../src/app/processor.js"
import { decodeBounce } from "../src/domain/decode.js"
import { eximBounce, postfixDsn, qmailBounce } from "../test/support/mails.js"
import { seededRandom } from "../test/support/random.js"
import { postgresBinDir, startPostgres } from "../test/support/postgres.js"

const totalEvents = Number(process.env["BENCH_EVENTS"] ?? 100_000)
const singleEvents = Number(process.env["BENCH_SINGLE"] ?? 2_000)
const addresses = totalEvents / 2
const domains = 200
const batchSizes = (process.env["BENCH_BATCHES"] ?? "50,200,1000").split(",").map(Number)
const HOUR = 3_600_000

const kinds: ReadonlyArray<{ status: string; text: string; weight: number }> = [
  { status: "4.2.2", text: "452 4.2.2 <%a>: Recipient address rejected: mailbox full, quota %n exceeded", weight: 45 },
  { status: "4.2.1", text: "450 4.2.1 <%a>: account temporarily disabled", weight: 15 },
  {
    status: "5.1.1",
    text: "550 5.1.1 <%a>: Recipient address rejected: User unknown in local recipient table",
    weight: 25
  },
  { status: "5.1.2", text: "550 5.1.2 Host %h not found", weight: 5 },
  {
    status: "5.7.1",
    text: "554 5.7.1 Service unavailable; Client host [192.0.2.%n] blocked using zen.spamhaus.org",
    weight: 10
  }
]
const weighted = kinds.flatMap((kind) => Array.from({ length: kind.weight }, () => kind))

interface Workload {
  readonly mails: ReadonlyArray<MailToApply>
  readonly events: number
  readonly sent: ReadonlyArray<SentMessageInput>
}

/** Bounce mails as MTAs write them, decoded as the processor decodes them, until they hold `events` records. */
const makeWorkload = (events: number): Workload => {
  const next = seededRandom(42)
  const mails: Array<MailToApply> = []
  const sent: Array<SentMessageInput> = []
  let records = 0
  for (let i = 0; records < events; i++) {
    const user = Math.floor(next() * addresses)
    const domain = `domain${user % domains}.example`
    const address = `user${user}@${domain}`
    // a tenth of the Postfix reports have a second failed recipient on the same domain
    const second = next() < 0.1 && records + 1 < events ? `user${(user + domains) % addresses}@${domain}` : null
    const failed = second === null ? [address] : [address, second]
    const diagnostic = (to: string) => {
      const kind = weighted[Math.floor(next() * weighted.length)]!
      return {
        status: kind.status,
        text: kind.text
          .replace("%a", to)
          .replace("%n", String(Math.floor(next() * 1000)))
          .replace("%h", `mx${user % 7}.${domain}`)
      }
    }
    const messageId = `<${20260101120000 + i}.${user}@sender.example>`
    const original = { from: "news@sender.example", to: address, messageId }
    const form = next()
    const bytes =
      form < 0.7 || second !== null
        ? postfixDsn({
            recipients: failed.map((to) => {
              const { status, text } = diagnostic(to)
              return { address: to, status, diagnostic: text, remoteMta: `mx${user % 7}.${domain}` }
            }),
            original
          })
        : form < 0.85
          ? eximBounce([[address, diagnostic(address).text]], original)
          : qmailBounce(address, `Remote host said: ${diagnostic(address).text}`, original)
    const uid = `${i}.bench`
    const report = decodeBounce(parseMail(bytes))
    const outcome = outcomeOf(report, "bench")
    mails.push({ key: ledgerKeyOf("bench@sender.example", uid, bytes), outcome, report, bytes })
    records += outcome === "applied" || outcome === "unqualified" ? report.records.length : 0
    if (i % 2 === 0) sent.push({ messageId, deliveryId: `delivery-${i % 50}`, recipient: address, sentAt: 0 })
  }
  return { mails, events: records, sent }
}

/** A clock the bench moves by hand, so a run covers several days of bounces. */
const makeClock = (start: number) => {
  let now = start
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => now,
    currentTimeMillis: Effect.sync(() => now),
    unsafeCurrentTimeNanos: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: (duration) => Effect.sleep(duration).pipe(Effect.withClock(Clock.make()))
  }
  return { clock, advance: (millis: number) => (now += millis) }
}

interface Run {
  readonly events: number
  readonly wallMillis: number
  readonly cpuMillis: number
  readonly transitions: number
}

const perSecond = (events: number, millis: number) => (events / millis) * 1000

/** Applies `mails` in batches of `batchSize` on a fresh store, after registering the sent messages. */
const applyAll = (
  layer: Layer.Layer<StoreServices, StoreError>,
  workload: Workload,
  mails: ReadonlyArray<MailToApply>,
  batchSize: number
) => {
  const start = Date.UTC(2025, 0, 6)
  const { advance, clock } = makeClock(start)
  return Effect.gen(function* () {
    const store = yield* Store
    for (let i = 0; i < workload.sent.length; i += 1_000) {
      yield* store.registerSent(workload.sent.slice(i, i + 1_000).map((m) => ({ ...m, sentAt: start - HOUR })))
    }
    let transitions = 0
    let events = 0
    let sinceAdvance = 0
    const started = performance.now()
    const cpu = process.cpuUsage()
    for (let i = 0; i < mails.length; i += batchSize) {
      const results = yield* store.applyMails(mails.slice(i, i + batchSize))
      for (const result of results) {
        transitions += result.transitions.length
        events += result.events
      }
      sinceAdvance += batchSize
      if (sinceAdvance >= 1_000) {
        advance(HOUR)
        sinceAdvance = 0
      }
    }
    const used = process.cpuUsage(cpu)
    return {
      events,
      wallMillis: performance.now() - started,
      cpuMillis: (used.user + used.system) / 1000,
      transitions
    } satisfies Run
  }).pipe(Effect.provide(layer), Effect.withClock(clock))
}

const measure = async (name: string, layer: () => Layer.Layer<StoreServices, StoreError>, workload: Workload) => {
  const runs: Array<[string, Run]> = []
  for (const batchSize of batchSizes) {
    runs.push([
      `${batchSize.toLocaleString("en")} mails per transaction`,
      await Effect.runPromise(applyAll(layer(), workload, workload.mails, batchSize))
    ])
  }
  const single = await Effect.runPromise(applyAll(layer(), workload, workload.mails.slice(0, singleEvents), 1))
  runs.push(["one mail per transaction", single])
  const singleRate = perSecond(single.events, single.wallMillis)
  console.log(`${name}:`)
  for (const [label, run] of runs) {
    console.log(
      `  ${label.padEnd(28)} ${Math.round(perSecond(run.events, run.wallMillis)).toLocaleString("en").padStart(7)} events/s, ` +
        `${Math.round(perSecond(run.events, run.cpuMillis)).toLocaleString("en").padStart(7)} events per CPU second, ` +
        `ratio to one per transaction ${(perSecond(run.events, run.wallMillis) / singleRate).toFixed(1)}x ` +
        `(${run.events.toLocaleString("en")} events, ${run.transitions.toLocaleString("en")} address transitions)`
    )
  }
  return runs
}

const main = async () => {
  console.log(
    `load average before the run: ${os
      .loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")} on ${os.cpus().length} cores`
  )
  const decodeStarted = performance.now()
  const cache = path.join(os.tmpdir(), `rebound-store-bench-${totalEvents}.v8`)
  const cached = process.env["BENCH_CACHE"] === "1" && fs.existsSync(cache)
  const workload: Workload = cached ? v8.deserialize(fs.readFileSync(cache)) : makeWorkload(totalEvents)
  if (process.env["BENCH_CACHE"] === "1" && !cached) fs.writeFileSync(cache, v8.serialize(workload))
  console.log(
    `${workload.events.toLocaleString("en")} events in ${workload.mails.length.toLocaleString("en")} mails for ` +
      `${addresses.toLocaleString("en")} addresses on ${domains} domains, decoded in ` +
      `${((performance.now() - decodeStarted) / 1000).toFixed(1)} s; ${workload.sent.length.toLocaleString("en")} ` +
      `registered sent messages${cached ? " (decoded mails from the cache)" : ""}; ${singleEvents.toLocaleString("en")} mails one per transaction`
  )
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-bench-"))
  try {
    let files = 0
    const synchronous = await Effect.runPromise(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* (yield* Store).applyMails(workload.mails.slice(0, 1))
        const rows = yield* sql<{ synchronous: number }>`PRAGMA synchronous`
        return rows[0]?.synchronous
      }).pipe(Effect.provide(Sqlite.layer({ filename: path.join(dir, `bench-${++files}.db`) })))
    )
    if (synchronous !== 2) throw new Error(`SQLite runs with synchronous=${synchronous}, not FULL (2)`)
    const sqlite = await measure(
      "SQLite (file, WAL, synchronous=FULL)",
      () => Sqlite.layer({ filename: path.join(dir, `bench-${++files}.db`) }),
      workload
    )
    if (process.env["BENCH_SQLITE_MEMORY"] === "1") {
      // the same work with no file, WAL, fsync or checkpoint: what no disk setting can go beyond on this machine
      await measure(
        "SQLite in memory (no I/O at all, for comparison)",
        () => Sqlite.layer({ filename: ":memory:" }),
        workload
      )
    }
    const target = 20_000
    const targetBatch = 1_000
    const measured = sqlite[batchSizes.indexOf(targetBatch)]
    if (measured !== undefined) {
      const [, run] = measured
      const rate = perSecond(run.events, run.wallMillis)
      const cpuRate = perSecond(run.events, run.cpuMillis)
      console.log(
        `SQLite target >= ${target.toLocaleString("en")} events/s in batches of ${targetBatch.toLocaleString("en")} ` +
          `mails per transaction: ${rate >= target ? "met" : "NOT met"} in wall time ` +
          `(${Math.round(rate).toLocaleString("en")}), ${cpuRate >= target ? "met" : "NOT met"} per CPU second ` +
          `(${Math.round(cpuRate).toLocaleString("en")})`
      )
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }

  if (process.env["BENCH_SQLITE_ONLY"] === "1") return
  if (postgresBinDir() === undefined) {
    console.log("PostgreSQL: skipped, not installed (apt-get install postgresql)")
    return
  }
  const server = await startPostgres({ durable: true })
  try {
    let databases = 0
    await measure(
      "PostgreSQL (local server, default fsync)",
      () => Postgres.layer({ url: Redacted.make(server.createDatabase(`bench_${++databases}`)) }),
      workload
    )
  } finally {
    server.stop()
  }
}

await main()
