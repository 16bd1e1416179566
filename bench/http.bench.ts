/**
 * The suppression check a send loop calls: POST /v1/addresses/check with 10,000 addresses against 1,000,000 stored
 * address states on SQLite (a file, WAL), over a real HTTP listener on 127.0.0.1. 80% of the addresses asked about
 * are stored (6% of all states suppress: quarantined or denylisted), 20% were never seen. Prints p50/p95/max of the
 * client-side latency (request to parsed answer) over 40 requests after 5 warm-ups. Target: p50 < 100 ms.
 * BENCH_STATES and BENCH_REQUESTS change the sizes.
 */
import { HttpServer } from "@effect/platform"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sqlite from "../src/adapters/store/sqlite.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { NormalizedAddress } from "../src/domain/address.js"
import { type ApiToken, parseToken } from "../src/app/http/config.js"
import * as Http from "../src/app/http/server.js"
import { ProcessorStatus } from "../src/app/status.js"
import { seededRandom } from "../test/support/random.js"

const states = Number(process.env["BENCH_STATES"] ?? 1_000_000)
const requests = Number(process.env["BENCH_REQUESTS"] ?? 40)
const perRequest = 10_000
const token = "bench-admin-token-0123456789"

const addressOf = (i: number) => `user${i}@d${i % 1000}.example` as NormalizedAddress

const random = seededRandom(42)

const body = () =>
  JSON.stringify({
    addresses: Array.from({ length: perRequest }, () =>
      random() < 0.8 ? addressOf(Math.floor(random() * states)) : `new${Math.floor(random() * 1e9)}@fresh.example`
    )
  })

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-http-bench-"))
const filename = path.join(dir, "rebound.db")

const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const started = performance.now()
  const now = Date.now()
  // the set-up is not what is measured: rows written by SQL in one pass, without an fsync per transaction;
  // 5% quarantined, 1% denylisted, 1/7 with errors, the rest valid
  yield* sql`PRAGMA synchronous = OFF`
  yield* sql`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${states - 1})
    INSERT INTO address_states (address, domain, status, list, error_count, last_error_at, last_error_reason,
      last_error_type, previous_error_count, quarantined_at, quarantine_reason, quarantine_type, quarantine_cause,
      suspect, updated_at)
    SELECT 'user' || i || '@d' || (i % 1000) || '.example', 'd' || (i % 1000) || '.example',
      CASE WHEN i % 20 = 0 THEN 'quarantined' WHEN i % 100 = 1 THEN 'denylisted' WHEN i % 7 = 0 THEN 'with-errors' ELSE 'valid' END,
      CASE WHEN i % 100 = 1 AND i % 20 <> 0 THEN 'deny' END,
      CASE WHEN i % 20 = 0 OR (i % 7 = 0 AND i % 100 <> 1) THEN 1 ELSE 0 END,
      CASE WHEN i % 20 = 0 OR i % 7 = 0 THEN ${now} END,
      CASE WHEN i % 20 = 0 THEN 'userunknown' WHEN i % 7 = 0 THEN 'mailboxfull' END,
      CASE WHEN i % 20 = 0 THEN 'hard' WHEN i % 7 = 0 THEN 'soft' END,
      0,
      CASE WHEN i % 20 = 0 THEN ${now} END,
      CASE WHEN i % 20 = 0 THEN 'userunknown' END,
      CASE WHEN i % 20 = 0 THEN 'hard' END,
      CASE WHEN i % 20 = 0 THEN 'hard-bounce' END,
      0, ${now}
    FROM n`
  yield* sql`PRAGMA synchronous = FULL`
  const counts = yield* sql<{
    status: string
    n: number
  }>`SELECT status, COUNT(*) AS n FROM address_states GROUP BY status`
  console.log(
    `stored ${states.toLocaleString("en-US")} address states in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
      counts.map((row) => `${row.status} ${Number(row.n).toLocaleString("en-US")}`).join(", ")
  )

  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const url = `http://127.0.0.1:${port}/v1/addresses/check`
  const bodies = Array.from({ length: requests + 5 }, body)
  const timings: Array<number> = []
  let suppressed = 0
  let cpu = process.cpuUsage()
  for (const [index, text] of bodies.entries()) {
    const start = performance.now()
    const answer = yield* Effect.promise(() =>
      fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: text
      }).then((response) => response.json() as Promise<{ suppress: ReadonlyArray<unknown>; checked: number }>)
    )
    const millis = performance.now() - start
    if (answer.checked !== perRequest) throw new Error(`unexpected answer: ${JSON.stringify(answer).slice(0, 200)}`)
    if (index === 4) cpu = process.cpuUsage()
    if (index >= 5) {
      timings.push(millis)
      suppressed += answer.suppress.length
    }
  }
  const used = process.cpuUsage(cpu)
  const cpuPerRequest = (used.user + used.system) / 1000 / (bodies.length - 5)
  timings.sort((a, b) => a - b)
  const p50 = percentile(timings, 50)
  const load = os.loadavg().map((n) => n.toFixed(1))
  console.log(
    `POST /v1/addresses/check, ${perRequest.toLocaleString("en-US")} addresses against ${states.toLocaleString("en-US")} states (SQLite file), ${timings.length} requests:`
  )
  console.log(
    `  p50 ${p50.toFixed(1)} ms, p95 ${percentile(timings, 95).toFixed(1)} ms, max ${timings[timings.length - 1]!.toFixed(1)} ms` +
      ` (${Math.round(suppressed / timings.length)} suppressed per answer); target p50 < 100 ms: ${p50 < 100 ? "met" : "MISSED"}` +
      `\n  CPU time per request (server and client in this process): ${cpuPerRequest.toFixed(1)} ms` +
      `\n  load average ${load.join(" ")} on ${os.cpus().length} cores (other processes slow every figure)`
  )
})

const layer = Http.layer({
  host: "127.0.0.1",
  port: 0,
  tokens: [parseToken(`bench:${token}`, "admin", 0) as ApiToken],
  dashboard: false
}).pipe(Layer.provideMerge(Layer.merge(Sqlite.layer({ filename }), ProcessorStatus.layer)))

Effect.runPromise(
  Effect.scoped(Effect.provide(program, layer)).pipe(
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  )
).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
