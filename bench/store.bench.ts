/**
 * Store throughput: applies 100,000 bounce events (one mail each) for 50,000 addresses on 200 receiving domains,
 * through `Store.applyMails` in batches of 1,000 mails (one transaction per batch), on SQLite (a file, WAL,
 * synchronous=FULL) and on PostgreSQL (a local server with its default, durable settings). In the same run it
 * applies a sample one mail per transaction, and prints events/s and the ratio. Target: >= 20,000 events/s on SQLite.
 * The clock moves one hour per batch, so the 24-hour spacing, thresholds and quarantines all take part.
 * BENCH_EVENTS and BENCH_SINGLE change the sizes.
 */
import * as Redacted from "effect/Redacted"
import { Clock, Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Postgres from "../src/adapters/store/postgres.js"
import * as Sqlite from "../src/adapters/store/sqlite.js"
import { type MailToApply, sha256Hex, Store, type StoreServices } from "../src/adapters/store/store.js"
import type { StoreError } from "../src/adapters/store/errors.js"
import type { BounceRecord, Reason } from "../src/domain/report.js"
import { noCorrelation } from "../src/domain/report.js"
import { postgresBinDir, startPostgres } from "../test/support/postgres.js"

const totalEvents = Number(process.env["BENCH_EVENTS"] ?? 100_000)
const singleEvents = Number(process.env["BENCH_SINGLE"] ?? 2_000)
const addresses = totalEvents / 2
const domains = 200
const batchSize = 1_000
const HOUR = 3_600_000

const kinds: ReadonlyArray<{ type: "hard" | "soft"; reason: Reason; status: string; text: string; weight: number }> = [
  {
    type: "soft",
    reason: "mailboxfull",
    status: "4.2.2",
    text: "452 4.2.2 <%a>: mailbox full, quota %n exceeded",
    weight: 45
  },
  {
    type: "soft",
    reason: "suspend",
    status: "4.2.1",
    text: "450 4.2.1 <%a>: account temporarily disabled",
    weight: 15
  },
  {
    type: "hard",
    reason: "userunknown",
    status: "5.1.1",
    text: "550 5.1.1 <%a>: Recipient address rejected",
    weight: 25
  },
  { type: "hard", reason: "hostunknown", status: "5.1.2", text: "550 5.1.2 Host %h not found", weight: 5 },
  { type: "hard", reason: "blocked", status: "5.7.1", text: "554 5.7.1 client [192.0.2.%n] blocked", weight: 10 }
]
const weighted = kinds.flatMap((kind) => Array.from({ length: kind.weight }, () => kind))

/** Deterministic pseudo-random numbers, so every run applies the same events. */
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x80000000
}

const makeMails = (count: number, prefix: string): Array<MailToApply> => {
  const next = random(42)
  return Array.from({ length: count }, (_, i) => {
    const user = Math.floor(next() * addresses)
    const address = `user${user}@domain${user % domains}.example`
    const kind = weighted[Math.floor(next() * weighted.length)]!
    const diagnostic = kind.text
      .replace("%a", address)
      .replace("%n", String(Math.floor(next() * 1000)))
      .replace("%h", `mx${user % 7}.domain${user % domains}.example`)
    const record: BounceRecord = {
      kind: "bounce",
      recipient: address,
      originalRecipient: null,
      action: "failed",
      status: kind.status,
      replyCode: diagnostic.slice(0, 3),
      diagnostic,
      diagnosticType: "smtp",
      remoteMta: `mx.domain${user % domains}.example`,
      reportingMta: "mta.sender.example",
      lastAttemptDate: null,
      willRetryUntil: null,
      type: kind.type,
      reason: kind.reason,
      campaignReason: kind.type === "hard" ? "User unknown" : "Mailbox full",
      rule: `bench-${kind.reason}`,
      feedbackType: null,
      originalMessageId: null,
      originalEnvelopeId: null,
      correlation: noCorrelation
    }
    const uid = `${prefix}-${i}`
    return {
      key: { account: "bench@sender.example", uid, sha256: sha256Hex(Buffer.from(uid)) },
      outcome: "applied",
      report: {
        kind: "bounce",
        dialect: "rfc3464",
        subject: "Undelivered Mail Returned to Sender",
        from: "MAILER-DAEMON@mta.sender.example",
        messageId: `<${uid}@mta.sender.example>`,
        date: null,
        reportingMta: "mta.sender.example",
        arrivalDate: null,
        originalEnvelopeId: null,
        originalMessageId: null,
        records: [record]
      }
    }
  })
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

interface Result {
  /** events per second of CPU time of this process (what a machine shared with other work still gives) */
  readonly batchedPerCpuSecond: number
  readonly batchedPerSecond: number
  readonly singlePerSecond: number
  readonly transitions: number
}

const run = (layer: () => Layer.Layer<StoreServices, StoreError>) =>
  Effect.gen(function* () {
    const { advance, clock } = makeClock(Date.UTC(2025, 0, 6))
    const mails = makeMails(totalEvents, "batch")
    let transitions = 0
    const batched = yield* Effect.gen(function* () {
      const store = yield* Store
      const started = performance.now()
      const cpu = process.cpuUsage()
      for (let i = 0; i < mails.length; i += batchSize) {
        const results = yield* store.applyMails(mails.slice(i, i + batchSize))
        for (const result of results) transitions += result.transitions.length
        advance(HOUR)
      }
      const used = process.cpuUsage(cpu)
      return { wall: performance.now() - started, cpu: (used.user + used.system) / 1000 }
    }).pipe(Effect.provide(layer()), Effect.withClock(clock))

    const singles = makeMails(singleEvents, "single")
    const single = yield* Effect.gen(function* () {
      const store = yield* Store
      const started = performance.now()
      for (const [i, mail] of singles.entries()) {
        yield* store.applyMail(mail)
        if ((i + 1) % (batchSize / 50) === 0) advance(HOUR)
      }
      return performance.now() - started
    }).pipe(Effect.provide(layer()), Effect.withClock(clock))

    return {
      batchedPerSecond: (mails.length / batched.wall) * 1000,
      batchedPerCpuSecond: (mails.length / batched.cpu) * 1000,
      singlePerSecond: (singles.length / single) * 1000,
      transitions
    } satisfies Result
  })

const report = (name: string, result: Result) => {
  console.log(
    `${name}: ${Math.round(result.batchedPerSecond).toLocaleString("en")} events/s batched (${batchSize} mails per transaction), ` +
      `${Math.round(result.singlePerSecond).toLocaleString("en")} events/s one transaction per event, ` +
      `${Math.round(result.batchedPerCpuSecond).toLocaleString("en")} events per CPU second batched, ` +
      `ratio ${(result.batchedPerSecond / result.singlePerSecond).toFixed(1)}x; ${result.transitions.toLocaleString("en")} address transitions`
  )
}

const main = async () => {
  console.log(
    `load average before the run: ${os
      .loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")} on ${os.cpus().length} cores`
  )
  console.log(
    `${totalEvents.toLocaleString("en")} events for ${addresses.toLocaleString("en")} addresses on ${domains} domains; ${singleEvents.toLocaleString("en")} events one per transaction`
  )
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-bench-"))
  try {
    let files = 0
    const sqlite = await Effect.runPromise(run(() => Sqlite.layer({ filename: path.join(dir, `bench-${++files}.db`) })))
    report("SQLite (file, WAL, synchronous=FULL)", sqlite)
    const target = 20_000
    console.log(
      `SQLite target >= ${target.toLocaleString("en")} events/s: ${sqlite.batchedPerSecond >= target ? "met" : "NOT met"}`
    )
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
    const pg = await Effect.runPromise(
      run(() => Postgres.layer({ url: Redacted.make(server.createDatabase(`bench_${++databases}`)) }))
    )
    report("PostgreSQL (local server, default fsync)", pg)
  } finally {
    server.stop()
  }
}

await main()
