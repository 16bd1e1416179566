/**
 * End to end: a real Dovecot holds N bounces of about 6 KB (a mix of Postfix DSNs, qmail and Exim bounces, each
 * returning the original with its signed Message-ID), and a spawned `rebound once` (bin/rebound.js, the account's
 * default session limits, POP3 with STLS on loopback, SQLite in a temp dir) empties it. Prints mails/s (over the
 * whole process, and from the first session on, without the start-up) and the peak RSS of the rebound process
 * (VmHWM, sampled from /proc). Targets: >= 1,000 mails/s and peak RSS < 200 MB, with 10,000 mails and with 100,000.
 * BENCH_E2E_MAILS changes the first size (default 10,000); the 100,000-mail run follows it (about 7 minutes for both
 * Dovecot setups on two cores) unless BENCH_LARGE=0;
 * rebound runs with the environment and node options of the bin's first line, as when it is started as a command;
 * BENCH_E2E_NODE_ARGS adds node options (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof");
 * BENCH_E2E_MAIN runs another entry point instead of bin/rebound.js (e.g. a compiled dist/src/app/main.js);
 * BENCH_E2E_OUTPUT=FILE keeps rebound's standard output and error in FILE; BENCH_E2E_SESSION=N sets the account's
 * maxMailsPerSession (default: the account's default, 200); BENCH_E2E_DOVECOT=packaged|tuned runs one Dovecot setup
 * (default: both, one after the other: Debian's packaged defaults, then the settings docs/mailbox.md recommends for a
 * bounce mailbox). BENCH_E2E_DELAY_MS=N puts a relay in front of Dovecot that holds every chunk N ms in each
 * direction, as a server on another host would (a round trip of 2N ms; the kernel here has no netem);
 * BENCH_E2E_OVERLAP=1 or 0 sets the account's overlapSessions (default: the account's default, off).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Pop3Mailbox from "../src/adapters/mailbox/pop3-mailbox.js"
import { MailLedger } from "../src/adapters/store/mail-ledger.js"
import * as SqliteStore from "../src/adapters/store/sqlite.js"
import { encodeMessageId, type SigningKey } from "../src/domain/codec.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../test/support/dovecot.js"
import { eximBounce, type Original, postfixDsn, qmailBounce } from "../test/support/mails.js"

const sizes = [
  Number(process.env["BENCH_E2E_MAILS"] ?? 10_000),
  ...(process.env["BENCH_LARGE"] === "0" ? [] : [100_000])
]
const user = "bounces"
const allSetups = [
  { name: "packaged", tuned: false, description: "with the packaged defaults" },
  {
    name: "tuned",
    tuned: true,
    description: "tuned for a bounce mailbox (docs/mailbox.md: login and pop3 processes reused, very dirty syncs)"
  }
] as const
const dovecotSetup = process.env["BENCH_E2E_DOVECOT"] ?? "both"
const setups = allSetups.filter((setup) => dovecotSetup === "both" || dovecotSetup === setup.name)
if (setups.length === 0) throw new Error(`BENCH_E2E_DOVECOT is "${dovecotSetup}": use packaged, tuned or both`)
const account = "dovecot"
const key: SigningKey = { id: "bench", secret: Redacted.make("end-to-end-bench-signing-secret") }
const messageIdDomain = "mail.sender.example"
const targetRate = 1_000
const targetRss = 200 * 1024 * 1024
const mailBytes = 6 * 1024
const bin = path.resolve(process.env["BENCH_E2E_MAIN"] ?? path.join(import.meta.dirname, "../bin/rebound.js"))

// the bin runs the sources through tsx when they are newer than its bundle (more start-up and memory): the bundle is
// built first, so that the bench measures it, as installed
if (process.env["BENCH_E2E_MAIN"] === undefined) {
  const root = path.join(import.meta.dirname, "..")
  execFileSync(process.execPath, [path.join(root, "scripts", "bundle.mjs")], { cwd: root, stdio: "inherit" })
}
const overlap = process.env["BENCH_E2E_OVERLAP"]
const delayMillis = Number(process.env["BENCH_E2E_DELAY_MS"] ?? 0)

/** A TCP relay on loopback that holds every chunk `millis` ms in each direction (same delay: order is kept). */
const delayingRelay = async (targetPort: number, millis: number) => {
  const sockets = new Set<net.Socket>()
  const relay = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: targetPort })
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true)
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    }
    const pass = (from: net.Socket, to: net.Socket) => {
      from.on("data", (data) => setTimeout(() => to.write(data), millis))
      from.on("end", () => setTimeout(() => to.end(), millis))
      from.on("error", () => to.destroy())
    }
    pass(client, upstream)
    pass(upstream, client)
  })
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve))
  return {
    port: (relay.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        relay.close(() => resolve())
      })
  }
}

const sessionMails =
  process.env["BENCH_E2E_SESSION"] === undefined ? undefined : Number(process.env["BENCH_E2E_SESSION"])
/**
 * The environment and node options of the bin's `#!/usr/bin/env -S [NAME=value ...] node ...` line: rebound runs with
 * them when started as a command.
 */
const shebang = (file: string): { readonly env: Record<string, string>; readonly options: Array<string> } => {
  const first = fs.readFileSync(file, "utf8").split("\n", 1)[0]!
  const match = /^#!\S*env -S ((?:\w+=\S* )*)node\b(.*)$/.exec(first)
  if (match === null) return { env: {}, options: [] }
  const words = (text: string) => text.split(" ").filter((word) => word !== "")
  const env = Object.fromEntries(
    words(match[1]!).map((word) => [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)])
  )
  return { env, options: words(match[2]!) }
}
const binLine = shebang(bin)
const nodeArgs = [
  ...binLine.options,
  ...(process.env["BENCH_E2E_NODE_ARGS"] ?? "").split(" ").filter((arg) => arg !== "")
]

/** What the receiving side answered, with the share of bounces that carry it. */
const failures: ReadonlyArray<{ readonly status: string; readonly reply: string; readonly weight: number }> = [
  { status: "5.1.1", reply: "550 5.1.1 <%a>: Recipient address rejected: User unknown", weight: 40 },
  { status: "5.2.2", reply: "552 5.2.2 <%a>: Mailbox full", weight: 20 },
  { status: "4.2.2", reply: "452 4.2.2 <%a>: Mailbox full, try again later", weight: 15 },
  { status: "5.1.2", reply: "550 5.1.2 <%a>: Host or domain name not found", weight: 5 },
  { status: "5.2.1", reply: "550 5.2.1 <%a>: mailbox disabled, not accepting messages", weight: 10 },
  {
    status: "5.7.1",
    reply: "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org",
    weight: 10
  }
]
const weighted = failures.flatMap((failure) => Array.from({ length: failure.weight }, () => failure))

const paragraph =
  "Dear reader, this month we look at the new season's collection, the opening hours of our shops over the " +
  "holidays, and the winners of the photo contest. Read on for the details and the offers of the week."

/** The newsletter's body, long enough to bring the whole bounce to about 6 KB; some lines need dot-stuffing. */
const newsletterBody = (index: number, room: number): string => {
  const lines: Array<string> = []
  let size = 0
  for (let n = 0; size < room; n++) {
    const line =
      n % 9 === 8 ? `.${paragraph.slice(0, 60)} (${index})` : paragraph.slice(n % 7, 70 + ((n * 13 + index) % 60))
    lines.push(line)
    size += line.length + 2
  }
  return lines.join("\r\n") + "\r\n"
}

/** Puts the newsletter's body into the returned original, after its last line `after`. */
const withBody = (mail: Buffer, after: string, index: number): Buffer => {
  const text = mail.toString("utf8")
  const at = text.lastIndexOf(after)
  if (at < 0) throw new Error(`the builder's mail has no "${after.trim()}" line`)
  const cut = at + after.length
  const body = newsletterBody(index, Math.max(0, mailBytes - mail.length))
  return Buffer.concat([Buffer.from(text.slice(0, cut)), Buffer.from(body), Buffer.from(text.slice(cut))])
}

/** Bounce number `index`: 50% Postfix DSN, 25% qmail, 25% Exim, each for its own recipient. */
const bounce = (index: number): Buffer => {
  const recipient = `user${index}@domain${index % 250}.example`
  const failure = weighted[(index * 7919) % weighted.length]!
  const reply = failure.reply.replace("%a", recipient)
  const original: Original = {
    from: "news@sender.example",
    to: recipient,
    messageId: encodeMessageId(
      { instance: "rebound", deliveryId: `d${index % 20}`, recipientId: `r${index}` },
      key,
      messageIdDomain
    ),
    subject: `Our newsletter, issue ${index % 20}`
  }
  switch (index % 4) {
    case 0:
    case 1:
      return withBody(
        postfixDsn({
          recipients: [
            {
              address: recipient,
              status: failure.status,
              diagnostic: reply,
              remoteMta: `mx.domain${index % 250}.example`
            }
          ],
          original
        }),
        "Hello, this is the newsletter body.\r\n",
        index
      )
    case 2:
      return withBody(qmailBounce(recipient, `Remote host said: ${reply}`, original), "Hello\r\n", index)
    default:
      return withBody(
        eximBounce([[recipient, `SMTP error from remote mail server: ${reply}`]], original),
        "Hello\r\n",
        index
      )
  }
}

const fill = (server: Dovecot, count: number) => {
  let bytes = 0
  for (let index = 0; index < count; index++) {
    const mail = bounce(index)
    bytes += mail.length
    server.deliver(user, mail)
  }
  return bytes
}

/** An untimed POP3 session: Dovecot indexes the new mails on the first login, as its delivery agent would have. */
const warmUp = (server: Dovecot) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(
        Pop3Mailbox.make({
          host: "127.0.0.1",
          port: server.port,
          tls: "none",
          auth: { mechanism: "user", username: user, password: Redacted.make(server.password(user)) }
        }),
        (mailbox) => Effect.flatMap(mailbox.open, (session) => session.stat)
      )
    ).pipe(Effect.provide(FetchHttpClient.layer), Effect.provide(Logger.remove(Logger.defaultLogger)))
  )

interface Run {
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
  readonly seconds: number
  /** from the spawn to the first session's first progress line */
  readonly startupSeconds: number
  readonly peakRss: number
  readonly cpuSeconds: number
  /** CPU seconds used by the start-up, up to the first progress line */
  readonly startupCpuSeconds: number
}

const clockTicks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100

/** Runs `rebound once` and samples its peak RSS (VmHWM) and CPU time from /proc until it exits. */
const runOnce = (configFile: string, cwd: string): Promise<Run> =>
  new Promise((resolve, reject) => {
    const started = performance.now()
    let firstProgress: number | undefined
    const child = spawn(process.execPath, [...nodeArgs, bin, "once", "--config", configFile], {
      cwd,
      env: { ...process.env, ...binLine.env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (data) => (stdout += data))
    let peakRss = 0
    let cpuSeconds = 0
    let startupCpuSeconds = 0
    child.stderr.on("data", (data) => {
      if (firstProgress === undefined && /mails, \d+ mails\/s/.test(String(data))) {
        firstProgress = performance.now()
        sample()
        startupCpuSeconds = cpuSeconds
      }
      stderr += data
    })
    const sample = () => {
      try {
        const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8")
        const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status)
        if (hwm !== null) peakRss = Math.max(peakRss, Number(hwm[1]) * 1024)
        const fields = fs.readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")
        // utime and stime are fields 14 and 15 of proc(5); the split drops the first two
        cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks
      } catch {
        // the process has just exited
      }
    }
    const timer = setInterval(sample, 20)
    child.once("error", reject)
    child.once("exit", (exitCode) => {
      clearInterval(timer)
      const ended = performance.now()
      resolve({
        exitCode,
        stdout,
        stderr,
        seconds: (ended - started) / 1000,
        startupSeconds: ((firstProgress ?? ended) - started) / 1000,
        peakRss,
        cpuSeconds,
        startupCpuSeconds
      })
    })
  })

const outcomesIn = (database: string) =>
  Effect.runPromise(
    Effect.flatMap(MailLedger, (ledger) => ledger.outcomes(0)).pipe(
      Effect.provide(SqliteStore.layer({ filename: database })),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)

const benchOne = async (server: Dovecot, mails: number, port: number) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-e2e-bench-"))
  try {
    const filling = performance.now()
    const bytes = fill(server, mails)
    const filled = (performance.now() - filling) / 1000
    const indexing = performance.now()
    const stat = await warmUp(server)
    if (stat.count !== mails) throw new Error(`Dovecot lists ${stat.count} mails, not ${mails}`)
    const indexed = (performance.now() - indexing) / 1000
    const database = path.join(work, "data", "rebound.db")
    const configFile = path.join(work, "rebound.config.json")
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        store: { type: "sqlite", path: database },
        accounts: [
          {
            type: "pop3",
            name: account,
            host: "127.0.0.1",
            port,
            tls: "starttls",
            caFile: server.certificate.certFile,
            auth: { mechanism: "user", username: user, password: server.password(user) },
            ...(overlap === undefined ? {} : { overlapSessions: overlap === "1" }),
            ...(sessionMails === undefined ? {} : { maxMailsPerSession: sessionMails })
          }
        ],
        signing: { keys: [{ id: key.id, secret: Redacted.value(key.secret) }], domain: messageIdDomain },
        log: { level: "info", format: "json" }
      })
    )
    const load = os.loadavg()[0]!
    const run = await runOnce(configFile, work)
    const output = process.env["BENCH_E2E_OUTPUT"]
    if (output !== undefined) fs.writeFileSync(output, `${run.stdout}\n${run.stderr}`)
    if (run.exitCode !== 0) throw new Error(`rebound once exited with ${run.exitCode}\n${run.stdout}\n${run.stderr}`)
    const summary = new RegExp(
      `^${account}: (\\d+) mails retrieved \\((.*)\\), (\\d+) deleted, (\\d+) left in the mailbox, (\\d+) session`,
      "m"
    ).exec(run.stdout)
    if (summary === null) throw new Error(`no summary in rebound's output:\n${run.stdout}\n${run.stderr}`)
    const outcomes = await outcomesIn(database)
    const left = server.files(user).length
    if (Number(summary[1]) !== mails || outcomes.applied !== mails || left !== 0) {
      throw new Error(
        `not every mail was applied: ${run.stdout.trim()}; ledger ${JSON.stringify(outcomes)}; ${left} mails left in Dovecot`
      )
    }
    const rate = mails / run.seconds
    const processingRate = mails / (run.seconds - run.startupSeconds)
    // on a loaded machine the wall clock measures the load; CPU time per mail gives the rate of one idle core
    const cpuPerMail = (run.cpuSeconds - run.startupCpuSeconds) / mails
    const coreRate = 1 / cpuPerMail
    console.log(
      `  ${String(mails).padStart(6)} mails (${mb(bytes)} MB, ${(bytes / mails / 1024).toFixed(1)} KB each; filled in ` +
        `${filled.toFixed(1)} s, Dovecot indexed them in ${indexed.toFixed(1)} s; load average ${load.toFixed(1)} on ` +
        `${os.cpus().length} CPUs)`
    )
    console.log(
      `    rebound once: ${run.seconds.toFixed(1)} s = ${rate.toFixed(0)} mails/s (target >= ${targetRate}); ` +
        `${processingRate.toFixed(0)} mails/s after a start-up of ${run.startupSeconds.toFixed(1)} s; ${summary[5]} sessions`
    )
    console.log(
      `    CPU ${run.cpuSeconds.toFixed(1)} s (${((run.cpuSeconds / run.seconds) * 100).toFixed(0)}% of one core), ` +
        `${run.startupCpuSeconds.toFixed(1)} s of it for the start-up; ${(cpuPerMail * 1000).toFixed(2)} ms per mail ` +
        `= ${coreRate.toFixed(0)} mails/s on one idle core`
    )
    console.log(`    peak RSS ${mb(run.peakRss)} MB (target < ${mb(targetRss)} MB)`)
    return {
      mails,
      mailBytes: Math.round(bytes / mails),
      seconds: Number(run.seconds.toFixed(2)),
      startupSeconds: Number(run.startupSeconds.toFixed(2)),
      mailsPerSecond: Math.round(rate),
      processingMailsPerSecond: Math.round(processingRate),
      sessions: Number(summary[5]),
      cpuSeconds: Number(run.cpuSeconds.toFixed(1)),
      startupCpuSeconds: Number(run.startupCpuSeconds.toFixed(1)),
      cpuMsPerMail: Number((cpuPerMail * 1000).toFixed(3)),
      mailsPerCoreSecond: Math.round(coreRate),
      peakRssMB: Number(mb(run.peakRss)),
      loadAverage: Number(load.toFixed(1)),
      rateMet: rate >= targetRate,
      rssMet: run.peakRss < targetRss
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

const main = async () => {
  if (!dovecotAvailable) {
    console.log(`e2e bench skipped: Dovecot is not installed (${dovecotInstall})`)
    return
  }
  const version = execFileSync("dovecot", ["--version"]).toString().trim()
  console.log(
    `e2e: Dovecot ${version} over POP3 (STLS, loopback) -> spawned 'rebound once' -> SQLite; ` +
      `DSN/qmail/Exim bounces with signed Message-IDs`
  )
  const results = []
  for (const setup of setups) {
    console.log(`  Dovecot ${setup.description}`)
    const server = await startDovecot([user], { tuned: setup.tuned })
    try {
      const relay = delayMillis > 0 ? await delayingRelay(server.port, delayMillis) : undefined
      try {
        const dovecot = relay === undefined ? setup.name : `${setup.name}, ${2 * delayMillis} ms round trip`
        for (const mails of sizes) {
          results.push({ dovecot, ...(await benchOne(server, mails, relay?.port ?? server.port)) })
        }
      } finally {
        await relay?.close()
      }
    } finally {
      await server.stop()
    }
  }
  for (const result of results) console.log(JSON.stringify({ bench: "e2e", ...result }))
}

await main()
