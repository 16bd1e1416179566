/**
 * The SMTP listener under load: 10,000 bounces (about 3 KB each, a VERP sender and a signed Message-ID each) sent
 * over 20 parallel SMTP connections on loopback to a listener running in its own process, with durability on (each
 * mail fsynced, renamed into new/, new/ fsynced, before its 250). Prints accepted mails/s, with libuv's default 4
 * threads and with UV_THREADPOOL_SIZE=16 (fsync runs on that pool), in one run. Then the processor drains the spool of
 * the first run into SQLite (`Processor.drain` over the spool's Maildir, as `rebound once` does for an "smtp"
 * account) and prints the time until all are applied. Target: >= 500 mails/s accepted.
 * Run: node --import tsx bench/smtp.bench.ts [mails] [connections]
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { Mailbox } from "../src/adapters/mailbox/mailbox.js"
import { spoolMailbox } from "../src/adapters/smtp/spool-mailbox.js"
import { coreLayer } from "../src/app/app.js"
import { decodeConfig } from "../src/app/config.js"
import { Processor } from "../src/app/processor.js"
import { encodeMessageId, encodeVerp, type SigningKey } from "../src/domain/codec.js"
import { SmtpTestClient } from "../test/adapters/smtp/smtp-client.js"
import { postfixDsn } from "../test/support/mails.js"

const mailCount = Number(process.argv[2] ?? 10_000)
const connections = Number(process.argv[3] ?? 20)
const domain = "bounce.bench.test"
const secret = "smtp-bench-secret-0123456789"
const key: SigningKey = { id: "bench", secret: Redacted.make(secret) }

const bounceFor = (index: number) => {
  const ids = { instance: "rebound", deliveryId: `d-${index}`, recipientId: `r-${index}` }
  const sender = encodeVerp(ids, key, { localPart: "bounce", domain })
  const data = postfixDsn({
    recipients: [
      {
        address: `user${index}@receiver${index % 200}.example`,
        status: index % 3 === 0 ? "5.1.1" : "4.2.2",
        diagnostic:
          index % 3 === 0
            ? `550 5.1.1 <user${index}@receiver${index % 200}.example>: Recipient address rejected: User unknown`
            : `452 4.2.2 <user${index}@receiver${index % 200}.example>: Mailbox full`,
        remoteMta: `mx.receiver${index % 200}.example`
      }
    ],
    original: {
      from: sender,
      to: `user${index}@receiver${index % 200}.example`,
      messageId: encodeMessageId(ids, key, "mail.bench.test"),
      subject: `Newsletter ${index}`
    }
  })
  return { sender, data }
}

/** Starts the listener in a child process; resolves with its port and a stop function. */
const startListener = (spool: string, threads: number | undefined) =>
  new Promise<{ port: number; stop: () => Promise<{ user: number; system: number } | undefined> }>(
    (resolve, reject) => {
      const config = {
        host: "127.0.0.1",
        port: 0,
        domains: [domain],
        spoolDir: spool,
        limits: {
          maxConnections: 200,
          maxConnectionsPerClient: 200,
          connectionsPerClientPerMinute: 100_000,
          messagesPerClientPerMinute: 1_000_000,
          minFreeSpace: 0
        }
      }
      const env = { ...process.env }
      if (threads === undefined) delete env["UV_THREADPOOL_SIZE"]
      else env["UV_THREADPOOL_SIZE"] = String(threads)
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(import.meta.dirname, "../test/adapters/smtp/listener-process.ts"),
          JSON.stringify(config)
        ],
        { stdio: ["ignore", "pipe", "inherit"], env }
      )
      let out = ""
      child.stdout!.on("data", (chunk) => {
        out += chunk
        const found = /LISTENING (\d+)/.exec(out)
        if (found === null) return
        resolve({
          port: Number(found[1]),
          stop: () =>
            new Promise((done) => {
              child.once("exit", () => {
                const atStart = /CPU-AT-START (\d+) (\d+)/.exec(out)
                const atExit = /\nCPU (\d+) (\d+)/.exec(out)
                done(
                  atStart === null || atExit === null
                    ? undefined
                    : {
                        user: (Number(atExit[1]) - Number(atStart[1])) / 1e6,
                        system: (Number(atExit[2]) - Number(atStart[2])) / 1e6
                      }
                )
              })
              child.kill("SIGTERM")
            })
        })
      })
      child.once("exit", (code) => reject(new Error(`the listener exited with ${code}`)))
    }
  )

/** Sends `mailCount` bounces over `connections` connections; returns the seconds from the first connect to the last 250. */
const send = async (port: number, mails: ReadonlyArray<{ sender: string; data: Buffer }>) => {
  let next = 0
  let refused = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const { client } = await SmtpTestClient.connect(port)
      await client.command("EHLO bench.client.test")
      for (let index = next++; index < mails.length; index = next++) {
        const mail = mails[index]!
        const mailFrom = await client.command("MAIL FROM:<>")
        const rcptTo = await client.command(`RCPT TO:<${mail.sender}>`)
        const { end } = await client.data(mail.data)
        if (mailFrom.code !== 250 || rcptTo.code !== 250 || end?.code !== 250) refused++
      }
      await client.quit()
    })
  )
  const seconds = (performance.now() - started) / 1000
  if (refused > 0) throw new Error(`${refused} mails were not accepted`)
  return seconds
}

/** The disk's floor: one mail's worth of file fdatasync + rename + directory fsync, one after the other. */
const diskLatency = async (dir: string, samples = 100) => {
  fs.mkdirSync(path.join(dir, "tmp"), { recursive: true })
  fs.mkdirSync(path.join(dir, "new"), { recursive: true })
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const started = performance.now()
    const handle = await fs.promises.open(path.join(dir, "tmp", String(i)), "wx")
    await handle.write(Buffer.alloc(2300, 120))
    await handle.datasync()
    await handle.close()
    await fs.promises.rename(path.join(dir, "tmp", String(i)), path.join(dir, "new", String(i)))
    const directory = await fs.promises.open(path.join(dir, "new"), "r")
    await directory.sync()
    await directory.close()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { median: times[Math.floor(samples / 2)]!, p90: times[Math.floor(samples * 0.9)]! }
}

const countNew = (spool: string) => fs.readdirSync(path.join(spool, "new")).length

const drain = (spool: string, database: string) =>
  Effect.gen(function* () {
    const config = yield* decodeConfig({
      store: { type: "sqlite", path: database },
      accounts: [{ type: "smtp", name: "smtp", maxMailsPerSession: 1000, maxSecondsPerSession: 600 }],
      signing: { keys: [{ id: "bench", secret }], verpLocalPart: "bounce" }
    })
    // The Maildir lists everything, the processor takes maxMailsPerSession of it per session: when the mailbox itself
    // caps its listing at the account's maxMailsPerSession, Processor.drain cannot tell that more mails wait.
    const mailbox = yield* Layer.build(spoolMailbox({ spoolDir: spool }, { maxMailsPerSession: 1_000_000 }))
    const processor = yield* Processor
    const started = performance.now()
    const results = yield* processor.drain({ account: config.accounts[0]!, mailbox: Context.get(mailbox, Mailbox) })
    const seconds = (performance.now() - started) / 1000
    const applied = results.reduce((sum, result) => sum + (result.outcomes.applied ?? 0), 0)
    return { seconds, applied, sessions: results.length }
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.unwrapEffect(
        Effect.map(
          decodeConfig({ store: { type: "sqlite", path: database }, signing: { keys: [{ id: "bench", secret }] } }),
          coreLayer
        )
      )
    ),
    Effect.provide(NodeContext.layer),
    Effect.provide(Logger.remove(Logger.defaultLogger))
  )

const main = async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-smtp-bench-"))
  try {
    const mails = Array.from({ length: mailCount }, (_, index) => bounceFor(index))
    const averageSize = Math.round(mails.reduce((sum, mail) => sum + mail.data.length, 0) / mails.length)
    console.log(
      `${mailCount} bounces of ${averageSize} octets on average, ${connections} connections, loopback, ${os.cpus().length} CPUs, durability on`
    )
    const disk = await diskLatency(path.join(root, "disk"))
    console.log(
      `disk: write + fdatasync + rename + directory fsync of one mail, one at a time: median ${disk.median.toFixed(1)} ms, p90 ${disk.p90.toFixed(1)} ms; load average ${os.loadavg()[0]!.toFixed(1)}`
    )
    const spools: Array<string> = []
    for (const threads of [undefined, 16]) {
      const spool = path.join(root, `spool-${threads ?? "default"}`)
      spools.push(spool)
      const listener = await startListener(spool, threads)
      let seconds: number
      let cpu: { user: number; system: number } | undefined
      try {
        seconds = await send(listener.port, mails)
      } finally {
        cpu = await listener.stop()
      }
      const stored = countNew(spool)
      if (stored !== mailCount) throw new Error(`${stored} mails in new/, expected ${mailCount}`)
      const perMail =
        cpu === undefined
          ? "?"
          : `${(((cpu.user + cpu.system) * 1000) / mailCount).toFixed(2)} ms per mail (user ${((cpu.user * 1000) / mailCount).toFixed(2)}, system ${((cpu.system * 1000) / mailCount).toFixed(2)})`
      console.log(
        `accepted (UV_THREADPOOL_SIZE=${threads ?? "4, the default"}): ${mailCount} in ${seconds.toFixed(2)} s = ${(mailCount / seconds).toFixed(0)} mails/s (target >= 500); listener CPU ${perMail}`
      )
    }
    const drained = await Effect.runPromise(drain(spools[0]!, path.join(root, "rebound.db")))
    console.log(
      `applied by the processor (SQLite, one drain of the spool): ${drained.applied} of ${mailCount} in ${drained.seconds.toFixed(2)} s = ${(drained.applied / drained.seconds).toFixed(0)} mails/s, ${drained.sessions} sessions; spool left: ${countNew(spools[0]!)}`
    )
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

await main()
