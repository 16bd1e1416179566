/**
 * Scale-out: one `rebound run` process, then two, on one PostgreSQL (durable settings, a temp dir), drain four Maildir
 * accounts of N bounces each (the fault suite's backlog: Postfix DSNs, qmail and Exim bounces with signed
 * Message-IDs, every 50th a personal mail). Prints the mails/s of each run, over the whole run (spawn until the last
 * mail is in the ledger) and from the first ledger entry to the last (without start-up), and the ratio of two
 * processes to one. Each process holds two of the four accounts through its leases (docs/scale-out.md).
 * BENCH_SCALE_MAILS sets N (default 10,000 per mailbox).
 */
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { backlogMail, messageIdDomain, queryPostgres, signingKey } from "../test/faults/harness.js"
import { postgresBinDir, postgresInstall, startPostgres } from "../test/support/postgres.js"

const perMailbox = Number(process.env["BENCH_SCALE_MAILS"] ?? 10_000)
const accounts = ["a", "b", "c", "d"]
const bin = path.resolve(import.meta.dirname, "../bin/rebound.js")

const fillMaildirs = (dir: string) => {
  let bytes = 0
  for (const [k, account] of accounts.entries()) {
    const root = path.join(dir, `box-${account}`)
    for (const folder of ["new", "cur", "tmp"]) fs.mkdirSync(path.join(root, folder), { recursive: true })
    for (let i = 0; i < perMailbox; i++) {
      const index = k * perMailbox + i
      const mail = backlogMail(index)
      bytes += mail.length
      fs.writeFileSync(path.join(root, "new", `${String(index).padStart(7, "0")}.${account}.bench`), mail)
    }
  }
  return bytes
}

/** Ledger rows, and the Clock times of the first and last (0 before the schema exists). */
const ledger = (url: string) =>
  queryPostgres(
    url,
    (sql) =>
      sql<{ n: string; first: string | null; last: string | null }>`SELECT COUNT(*) AS n,
        MIN(processed_at) AS first, MAX(processed_at) AS last FROM mail_ledger`
  )
    .then((rows) => ({ n: Number(rows[0]!.n), first: Number(rows[0]!.first ?? 0), last: Number(rows[0]!.last ?? 0) }))
    .catch(() => ({ n: 0, first: 0, last: 0 }))

/** The processes holding account leases now. */
const accountHolders = (url: string) =>
  queryPostgres(
    url,
    (sql) => sql<{ n: string }>`SELECT COUNT(DISTINCT holder) AS n FROM leases WHERE name LIKE 'account:%'`
  )
    .then((rows) => Number(rows[0]!.n))
    .catch(() => 0)

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once("exit", resolve))

interface RunResult {
  readonly processes: number
  readonly mails: number
  readonly seconds: number
  readonly mailsPerSecond: number
  readonly processingSeconds: number
  readonly processingMailsPerSecond: number
  /** how many processes held account leases, sampled every 200 ms: the most at any sample */
  readonly holders: number
  /** CPU seconds (user + system) of the rebound processes, and per mail in ms */
  readonly cpuSeconds: number
  readonly cpuMsPerMail: number
  /** the same from the first ledger entry on, without the start-up (loading, migrations, JIT warm-up before it) */
  readonly processingCpuMsPerMail: number
}

/** User + system CPU seconds of a live process, from /proc (0 where there is none). */
const cpuSecondsOf = (pid: number): number => {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    // utime and stime are fields 14 and 15 of stat(5), counted from the state field (3) here
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}

const run = async (processes: number, createDatabase: (name: string) => string): Promise<RunResult> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-bench-scale-"))
  try {
    fillMaildirs(dir)
    const url = createDatabase(`bench_${processes}`)
    const configFile = path.join(dir, "rebound.config.json")
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        store: { type: "postgres", url, maxConnections: 4 },
        accounts: accounts.map((account) => ({
          type: "maildir",
          name: account,
          path: path.join(dir, `box-${account}`),
          pollSeconds: 1
        })),
        signing: { keys: [{ id: signingKey.id, secret: Redacted.value(signingKey.secret) }], domain: messageIdDomain },
        http: null,
        log: { level: "warning", format: "json" }
      })
    )
    const total = perMailbox * accounts.length
    const started = Date.now()
    const children = Array.from({ length: processes }, () =>
      spawn(process.execPath, [bin, "run", "--config", configFile], {
        cwd: dir,
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, NODE_OPTIONS: "" }
      })
    )
    const errors: Array<string> = []
    for (const child of children) child.stderr!.on("data", (data: Buffer) => errors.push(data.toString()))
    const deadline = started + Math.max(600, total / 20) * 1000
    let last = await ledger(url)
    let holders = 0
    let startupCpu: number | undefined
    while (last.n < total) {
      if (startupCpu === undefined && last.n > 0) {
        startupCpu = children.reduce((sum, child) => sum + cpuSecondsOf(child.pid!), 0)
      }
      if (Date.now() > deadline) throw new Error(`only ${last.n} of ${total} mails applied:\n${errors.join("")}`)
      await sleep(200)
      last = await ledger(url)
      holders = Math.max(holders, await accountHolders(url))
    }
    const seconds = (Date.now() - started) / 1000
    const cpuSeconds = children.reduce((sum, child) => sum + cpuSecondsOf(child.pid!), 0)
    for (const child of children) child.kill("SIGTERM")
    await Promise.all(children.map(exited))
    const processingSeconds = Math.max(0.001, (last.last - last.first) / 1000)
    return {
      processes,
      mails: total,
      seconds,
      mailsPerSecond: total / seconds,
      processingSeconds,
      processingMailsPerSecond: total / processingSeconds,
      holders,
      cpuSeconds,
      cpuMsPerMail: (cpuSeconds * 1000) / total,
      processingCpuMsPerMail: ((cpuSeconds - (startupCpu ?? 0)) * 1000) / total
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const main = async () => {
  if (postgresBinDir() === undefined) {
    console.log(`scale-out bench skipped: PostgreSQL is not installed (${postgresInstall})`)
    return
  }
  const server = await startPostgres({ durable: true })
  try {
    console.log(
      `scale-out: ${accounts.length} Maildirs of ${perMailbox} bounces on one PostgreSQL, ${os.cpus().length} cores, ` +
        `load average ${os.loadavg()[0]!.toFixed(1)}`
    )
    const results: Array<RunResult> = []
    for (const processes of [1, 2]) {
      const result = await run(processes, server.createDatabase)
      results.push(result)
      console.log(
        `  ${processes} process${processes === 1 ? "" : "es"}: ${result.mails} mails in ${result.seconds.toFixed(1)} s, ` +
          `${result.mailsPerSecond.toFixed(0)} mails/s (${result.processingMailsPerSecond.toFixed(0)} mails/s from the ` +
          `first ledger entry to the last; accounts held by ${result.holders} process${result.holders === 1 ? "" : "es"}); rebound CPU ` +
          `${result.cpuSeconds.toFixed(1)} s, ${result.cpuMsPerMail.toFixed(2)} ms per mail ` +
          `(${result.processingCpuMsPerMail.toFixed(2)} ms after start-up)`
      )
    }
    const [one, two] = results as [RunResult, RunResult]
    const ratio = two.mailsPerSecond / one.mailsPerSecond
    const processingRatio = two.processingMailsPerSecond / one.processingMailsPerSecond
    console.log(`  ratio 2:1 ${ratio.toFixed(2)} (${processingRatio.toFixed(2)} without start-up)`)
    for (const result of results) console.log(JSON.stringify({ bench: "scale-out", ...result }))
    console.log(JSON.stringify({ bench: "scale-out", ratio, processingRatio }))
  } finally {
    server.stop()
  }
}

await main()
