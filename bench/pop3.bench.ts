/**
 * Drains 10,000 mails of about 6 KB from a real Dovecot over loopback, without and with RFC 2449 PIPELINING, in
 * one run, and shows that the client's memory does not grow with the number of mails (they are streamed, not
 * collected). Run: node --import tsx bench/pop3.bench.ts [mails] [rounds]
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import * as os from "node:os"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Pop3Mailbox from "../src/adapters/mailbox/pop3-mailbox.js"
import { defaultPipelineDepth, type Pop3OptionsInput } from "../src/adapters/mailbox/pop3-options.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../test/support/dovecot.js"

const mailCount = Number(process.argv[2] ?? 10_000)
const rounds = Number(process.argv[3] ?? 3)
const user = "bench"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const line = "Reporting-MTA: dns; mx.example.net; the quick brown fox jumps over the lazy dog 0123456789"
/** A bounce-like mail of about 6 KB, with a few lines that need dot-stuffing. */
const benchMail = (index: number): string => {
  const header = [
    `Return-Path: <>`,
    `Received: from mx.example.net (mx.example.net [192.0.2.1]) by pop.example.org with ESMTP id ${index}`,
    `Date: Mon, 27 Nov 2023 10:00:00 +0000`,
    `From: Mail Delivery System <MAILER-DAEMON@example.net>`,
    `To: bounces+${index}@example.org`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Message-ID: <${index}.bench@example.net>`,
    `MIME-Version: 1.0`,
    `Content-Type: text/plain; charset=us-ascii`
  ].join("\r\n")
  const body: Array<string> = []
  let size = header.length
  for (let n = 0; size < 6000; n++) {
    const text = n % 17 === 0 ? `.${line}` : `${line.slice(0, 40 + (n % 40))}`
    body.push(text)
    size += text.length + 2
  }
  return `${header}\r\n\r\n${body.join("\r\n")}\r\n`
}

const fill = (server: Dovecot) => {
  for (let index = 0; index < mailCount; index++) server.deliver(user, benchMail(index))
}

interface Drain {
  readonly mails: number
  readonly bytes: number
  readonly seconds: number
  readonly pipelining: boolean
  /** of which RETR for every mail (after login and listing) */
  readonly retrieveSeconds: number
  /** of which the commit: DELE for every mail, then QUIT */
  readonly commitSeconds: number
  /** CPU seconds the client process used */
  readonly clientCpu: number
  /** JS heap and array buffers retained (after a full collection), sampled through the drain */
  readonly memory: Array<{ readonly at: number; readonly heap: number; readonly buffers: number }>
}

const inUse = () => {
  const usage = process.memoryUsage()
  return { heap: usage.heapUsed, buffers: usage.arrayBuffers }
}

const drain = (server: Dovecot, options: Partial<Pop3OptionsInput>) =>
  Effect.gen(function* () {
    const mailbox = yield* Pop3Mailbox.make({
      host: "127.0.0.1",
      port: server.port,
      tls: "none",
      auth: { mechanism: "user", username: user, password: Redacted.make(server.password(user)) },
      commandTimeout: Duration.seconds(60),
      maxMailsPerSession: mailCount,
      ...options
    })
    // An untimed session first: Dovecot indexes the new mails and caches their sizes, which it keeps on QUIT.
    yield* Effect.scoped(Effect.flatMap(mailbox.open, (session) => Effect.zipRight(session.list, session.commit)))
    gc()
    const memory: Array<{ at: number; heap: number; buffers: number }> = [{ at: 0, ...inUse() }]
    let paused = 0
    // Memory is sampled after a full collection: what the client retains, not garbage waiting for the collector.
    const sample = (at: number) => {
      const before = performance.now()
      gc()
      memory.push({ at, ...inUse() })
      paused += performance.now() - before
    }
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    const result = yield* Effect.scoped(
      Effect.gen(function* () {
        const session = yield* mailbox.open
        const entries = yield* session.list
        const listed = performance.now()
        let mails = 0
        let bytes = 0
        yield* Stream.runForEach(session.retrieveMany(entries), (result) =>
          Effect.gen(function* () {
            if (result._tag !== "Retrieved") return yield* Effect.die(result.error)
            mails++
            bytes += result.bytes.length
            if (mails % Math.max(1, Math.floor(mailCount / 10)) === 0) sample(mails)
            yield* session.markDeleted(result.entry)
          })
        )
        const committing = performance.now()
        yield* session.commit
        return {
          mails,
          bytes,
          pipelining: session.capabilities.pipelining,
          commitSeconds: (performance.now() - committing) / 1000,
          retrieveSeconds: (committing - listed - paused) / 1000
        }
      })
    )
    const seconds = (performance.now() - started - paused) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const clientCpu = (cpu.user + cpu.system) / 1e6 - paused / 1000
    return { ...result, seconds, memory, clientCpu } satisfies Drain
  }).pipe(Effect.provide(FetchHttpClient.layer), Effect.provide(Logger.remove(Logger.defaultLogger)))

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

const report = (label: string, run: Drain) => {
  const perSecond = run.mails / run.seconds
  console.log(
    `  ${label.padEnd(30)} ${String(run.mails).padStart(6)} mails in ${run.seconds.toFixed(2).padStart(6)} s = ` +
      `${perSecond.toFixed(0).padStart(6)} mails/s, ${(run.bytes / 1024 / 1024 / run.seconds).toFixed(1).padStart(5)} MB/s` +
      ` (RETR alone ${(run.mails / run.retrieveSeconds).toFixed(0)} mails/s, DELE+QUIT ` +
      `${run.commitSeconds.toFixed(2)} s; client CPU ${((run.clientCpu / run.seconds) * 100).toFixed(0)}%)`
  )
  const base = run.memory[0]!
  const samples = run.memory
    .slice(1)
    .map((sample) => `${mb(sample.heap - base.heap)}/${mb(sample.buffers - base.buffers)}`)
    .join(" ")
  console.log(
    `  ${"".padEnd(30)} retained heap/buffers over the baseline, MB, every ${run.memory[1]?.at} mails: ${samples}`
  )
  return perSecond
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const main = async () => {
  if (!dovecotAvailable) {
    console.log(`pop3 bench skipped: Dovecot is not installed (${dovecotInstall})`)
    return
  }
  const server = await startDovecot([user])
  try {
    const version = execFileSync("dovecot", ["--version"]).toString().trim()
    const size = benchMail(1).length
    console.log(
      `pop3: drain ${mailCount} mails of ${(size / 1024).toFixed(1)} KB from Dovecot ${version} over loopback, ` +
        `${rounds} rounds (load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs)`
    )
    const slow: Array<number> = []
    const fast: Array<number> = []
    // Rounds alternate the two modes so that a change in the machine's load hits both alike.
    for (let round = 1; round <= rounds; round++) {
      fill(server)
      const unpipelined = await Effect.runPromise(drain(server, { pipelining: "off" }))
      fill(server)
      const pipelined = await Effect.runPromise(drain(server, { pipelining: "auto" }))
      if (!pipelined.pipelining || unpipelined.pipelining) throw new Error("the pipelining setting was not applied")
      console.log(` round ${round}`)
      slow.push(report("without PIPELINING", unpipelined))
      fast.push(report(`with PIPELINING (depth ${defaultPipelineDepth})`, pipelined))
    }
    const ratio = median(fast) / median(slow)
    console.log(
      `  median: ${median(slow).toFixed(0)} mails/s without, ${median(fast).toFixed(0)} mails/s with PIPELINING; ` +
        `ratio ${ratio.toFixed(2)}x (target >= 3x)`
    )
    console.log(
      JSON.stringify({
        bench: "pop3",
        mails: mailCount,
        mailBytes: size,
        rounds,
        unpipelinedMailsPerSecond: Math.round(median(slow)),
        pipelinedMailsPerSecond: Math.round(median(fast)),
        pipelineDepth: defaultPipelineDepth,
        ratio: Number(ratio.toFixed(2))
      })
    )
  } finally {
    await server.stop()
  }
}

await main()
