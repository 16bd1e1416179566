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
import { AddressStates } from "../src/adapters/store/address-states.js"
import type { StoredAddressState } from "../src/adapters/store/model.js"
import * as Sqlite from "../src/adapters/store/sqlite.js"
import * as SqlClient from "@effect/sql/SqlClient"
import type { NormalizedAddress } from "../src/domain/address.js"
import { initialState } from "../src/domain/quarantine.js"
import { type ApiToken, parseToken } from "../src/app/http/config.js"
import * as Http from "../src/app/http/server.js"
import { ProcessorStatus } from "../src/app/status.js"

const states = Number(process.env["BENCH_STATES"] ?? 1_000_000)
const requests = Number(process.env["BENCH_REQUESTS"] ?? 40)
const perRequest = 10_000
const token = "bench-admin-token-0123456789"

const addressOf = (i: number) => `user${i}@d${i % 1000}.example` as NormalizedAddress

const stateOf = (i: number, now: number): StoredAddressState => {
  const address = addressOf(i)
  const domain = `d${i % 1000}.example`
  if (i % 20 === 0)
    return {
      address,
      domain,
      status: "quarantined",
      updatedAt: now,
      state: {
        ...initialState,
        errorCount: 1,
        lastErrorAt: now,
        lastErrorReason: "userunknown",
        lastErrorType: "hard",
        quarantine: { at: now, reason: "userunknown", type: "hard", cause: "hard-bounce", suspect: false }
      }
    }
  if (i % 100 === 1)
    return { address, domain, status: "denylisted", updatedAt: now, state: { ...initialState, list: "deny" } }
  if (i % 7 === 0)
    return {
      address,
      domain,
      status: "with-errors",
      updatedAt: now,
      state: { ...initialState, errorCount: 1, lastErrorAt: now, lastErrorReason: "mailboxfull", lastErrorType: "soft" }
    }
  return { address, domain, status: "valid", updatedAt: now, state: initialState }
}

let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x80000000
}

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
  const repository = yield* AddressStates
  const started = performance.now()
  const now = Date.now()
  const step = 100_000
  // the set-up is not what is measured: no fsync per transaction while filling
  yield* sql`PRAGMA synchronous = OFF`
  for (let from = 0; from < states; from += step) {
    const batch = Array.from({ length: Math.min(step, states - from) }, (_, k) => stateOf(from + k, now))
    yield* sql.withTransaction(repository.save(batch, []))
  }
  console.log(
    `stored ${states.toLocaleString("en-US")} address states in ${((performance.now() - started) / 1000).toFixed(1)} s`
  )

  const server = yield* HttpServer.HttpServer
  const port = server.address._tag === "TcpAddress" ? server.address.port : 0
  const url = `http://127.0.0.1:${port}/v1/addresses/check`
  const bodies = Array.from({ length: requests + 5 }, body)
  const timings: Array<number> = []
  let suppressed = 0
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
    if (index >= 5) {
      timings.push(millis)
      suppressed += answer.suppress.length
    }
  }
  timings.sort((a, b) => a - b)
  const p50 = percentile(timings, 50)
  const load = os.loadavg().map((n) => n.toFixed(1))
  console.log(
    `POST /v1/addresses/check, ${perRequest.toLocaleString("en-US")} addresses against ${states.toLocaleString("en-US")} states (SQLite file), ${timings.length} requests:`
  )
  console.log(
    `  p50 ${p50.toFixed(1)} ms, p95 ${percentile(timings, 95).toFixed(1)} ms, max ${timings[timings.length - 1]!.toFixed(1)} ms` +
      ` (${Math.round(suppressed / timings.length)} suppressed per answer); target p50 < 100 ms: ${p50 < 100 ? "met" : "MISSED"}` +
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
