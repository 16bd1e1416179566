/**
 * The SMTP listener in several processes: two `rebound run` processes on one PostgreSQL, each the MX on its own
 * port, with smtp.spool "store". A client sends bounces spread over both, moving to the other MX when one refuses or
 * goes away, as an MTA does with two MX records. One process is killed with SIGKILL while it holds claimed work;
 * the other applies what the dead one had claimed once the claims expire. In the end every mail acknowledged with
 * 250 is applied exactly once, and the work table is empty.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { postfixDsn } from "../support/mails.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../support/postgres.js"
import { skipWithout } from "../support/services.js"
import { dotStuff, SmtpTestClient } from "../adapters/smtp/smtp-client.js"
import { queryPostgres, type ReboundProcess, sleep, spawnRebound, waitFor, writeConfig } from "./harness.js"

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

const mails = 400
const leaseSeconds = 6

const addressOf = (n: number) => `user${n}@domain${n % 37}.example`

const bounce = (n: number) =>
  postfixDsn({
    recipients: [{ address: addressOf(n), status: "5.1.1", diagnostic: "550 5.1.1 User unknown" }],
    original: { messageId: `<issue-${n}@sender.example>`, from: "news@sender.example", to: addressOf(n), subject: "Hi" }
  })

const configFor = (dir: string, url: string) =>
  writeConfig(dir, {
    store: { type: "postgres", url, maxConnections: 4 },
    smtp: {
      host: "127.0.0.1",
      port: 0,
      hostname: "mx.bounce.test",
      domains: ["bounce.test"],
      spool: "store",
      // every client is 127.0.0.1 here
      limits: { connectionsPerClientPerMinute: 100_000, messagesPerClientPerMinute: 100_000 }
    },
    accounts: [
      // short sessions and claims: a kill finds claimed work, and the claims expire soon after
      { type: "smtp", name: "mx", pollSeconds: 1, maxMailsPerSession: 25, maxSecondsPerSession: 4, leaseSeconds }
    ],
    // the outage guard looks at a domain's bounces across mails, so its verdict would depend on their order
    quarantine: { outageGuard: { enabled: false } },
    leases: { ttlSeconds: 3 },
    http: null,
    log: { level: "info", format: "json" }
  })

/** The rows under a live claim of process `pid` (holder = host/pid/random), with the claims' expiry. */
const claimsOf = (url: string, pid: number) =>
  queryPostgres(
    url,
    (sql) => sql<{ id: string; claimed_by: string; claimed_until: string }>`SELECT id, claimed_by, claimed_until
      FROM smtp_work WHERE claimed_until > ${Date.now()}`
  ).then((rows) =>
    rows
      .filter((row) => Number(row.claimed_by.split("/")[1]) === pid)
      .map((row) => ({ uid: String(row.id), until: Number(row.claimed_until) }))
  )

const workLeft = (url: string) =>
  queryPostgres(url, (sql) => sql<{ n: string }>`SELECT COUNT(*) AS n FROM smtp_work`).then((rows) =>
    Number(rows[0]!.n)
  )

/**
 * One transaction on a fresh connection: the reply to the final dot, or an exception; `afterDot` says whether the
 * data had been sent in full when the connection went away (the mail may then be queued).
 */
const transaction = async (port: number, n: number, progress: { afterDot: boolean }) => {
  const { client, greeting } = await SmtpTestClient.connect(port)
  try {
    if (greeting.code !== 220) return greeting.code
    await client.command("EHLO client.test")
    if ((await client.command("MAIL FROM:<>")).code !== 250) return 0
    if ((await client.command(`RCPT TO:<bounce+${n}@bounce.test>`)).code !== 250) return 0
    if ((await client.command("DATA")).code !== 354) return 0
    client.write(dotStuff(bounce(n)))
    progress.afterDot = true
    return (await client.read()).code
  } finally {
    client.destroy()
  }
}

const listenerPort = async (process: ReboundProcess) => {
  let port = 0
  await waitFor(
    `the SMTP listener of pid ${process.child.pid}`,
    () => {
      const match = /SMTP listener on 127\.0\.0\.1:(\d+)/.exec(process.output())
      port = Number(match?.[1] ?? 0)
      return port > 0
    },
    60
  )
  return port
}

describe.skipIf(skip)("the SMTP listener in two processes on one PostgreSQL, one killed", () => {
  let server: PostgresServer
  let dir = ""
  const running: Array<ReboundProcess> = []

  beforeAll(async () => {
    server = await startPostgres()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-smtp-work-"))
  })
  afterAll(() => {
    for (const process of running) process.child.kill("SIGKILL")
    server?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("every mail acknowledged with 250 is applied exactly once, and the work table ends empty", async () => {
    const url = server.createDatabase("smtp_work")
    const processes = ["first", "second"].map((name) => {
      const home = path.join(dir, name)
      fs.mkdirSync(home)
      const process = spawnRebound(["run", "--config", configFor(home, url)], home)
      running.push(process)
      return process
    })
    const ports = await Promise.all(processes.map(listenerPort))
    const [victim, survivor] = processes as [ReboundProcess, ReboundProcess]
    const alive = new Set(ports)

    // n -> how the client left it: "acknowledged" (250 once), "uncertain" (the reply to the final dot was lost, so
    // it was sent again: RFC 5321 section 6.1 allows the copy), or still "pending"
    const state = new Map<number, "acknowledged" | "uncertain">()
    const acknowledgedBy = new Map<number, number>()
    let next = 0
    const deliver = async (n: number) => {
      let port = ports[n % 2]!
      let lostAfterDot = false
      for (let attempt = 0; attempt < 50; attempt++) {
        if (!alive.has(port)) port = [...alive][0]!
        const progress = { afterDot: false }
        const code = await transaction(port, n, progress).catch(() => {
          // the connection went away: after the final dot the mail may be queued, and it is sent again
          if (progress.afterDot) lostAfterDot = true
          return 0
        })
        if (code === 250) {
          state.set(n, lostAfterDot ? "uncertain" : "acknowledged")
          acknowledgedBy.set(n, port)
          return
        }
        port = ports[(ports.indexOf(port) + 1) % 2]!
        await sleep(50)
      }
      throw new Error(`mail ${n} was never acknowledged`)
    }
    const client = async () => {
      while (next < mails) await deliver(next++)
    }
    const sending = Promise.all([client(), client(), client(), client()])

    // kill the first process mid-way, while it holds claimed mail it has not finished
    await waitFor("half of the mails to be acknowledged", () => state.size >= mails / 2, 60)
    let heldAtKill: ReadonlyArray<{ readonly uid: string; readonly until: number }> = []
    await waitFor(
      "the first process to hold claimed mail",
      async () => {
        heldAtKill = await claimsOf(url, victim.child.pid!)
        if (heldAtKill.length === 0) return false
        victim.child.kill("SIGKILL")
        return true
      },
      30
    )
    const killedAt = Date.now()
    alive.delete(ports[0]!)
    assert.strictEqual((await victim.exit).signal, "SIGKILL")

    await sending
    await waitFor("the work table to be empty", async () => (await workLeft(url)) === 0, 60)
    const drained = (Date.now() - killedAt) / 1000
    survivor.child.kill("SIGTERM")
    assert.strictEqual((await survivor.exit).code, 0, survivor.output().slice(-2000))

    const events = await queryPostgres(
      url,
      (sql) => sql<{ address: string; n: string }>`SELECT address, COUNT(*) AS n FROM bounce_events GROUP BY address`
    ).then((rows) => new Map(rows.map((row) => [row.address, Number(row.n)])))
    const ledger = await queryPostgres(
      url,
      (sql) =>
        sql<{
          uid: string
          outcome: string
          processed_at: string
        }>`SELECT uid, outcome, processed_at FROM mail_ledger WHERE account = 'mx'`
    )
    assert.strictEqual(state.size, mails)
    const uncertain = [...state.entries()].filter(([, how]) => how === "uncertain").map(([n]) => n)
    for (const [n, how] of state) {
      const count = events.get(addressOf(n)) ?? 0
      if (how === "acknowledged") assert.strictEqual(count, 1, `mail ${n} applied ${count} times`)
      else assert.include([1, 2], count, `mail ${n} (reply lost, sent again) applied ${count} times`)
    }
    assert.strictEqual(events.size, mails, "no bounce event for an address that was not sent")
    const total = [...events.values()].reduce((sum, n) => sum + n, 0)
    assert.strictEqual(ledger.length, total, "one ledger entry per queued copy")
    assert.strictEqual(new Set(ledger.map((entry) => entry.uid)).size, ledger.length, "a work row applied twice")
    assert.isTrue(
      ledger.every((entry) => entry.outcome === "applied"),
      "every mail applied"
    )
    assert.isAbove(
      [...acknowledgedBy.values()].filter((port) => port === ports[0]).length,
      0,
      "the killed process took mail"
    )
    // what the dead process held was applied by it before it died, or by the survivor after the claim expired
    const appliedAt = new Map(ledger.map((entry) => [entry.uid, Number(entry.processed_at)]))
    for (const claim of heldAtKill) {
      const at = appliedAt.get(claim.uid)
      assert.isDefined(at, `claimed row ${claim.uid} never applied`)
      assert.isTrue(at! < killedAt || at! >= claim.until, `row ${claim.uid} applied while another process held it`)
    }
    console.log(
      `killed pid ${victim.child.pid} holding ${heldAtKill.length} claimed mails; ${uncertain.length} replies lost and sent ` +
        `again; work table empty ${drained.toFixed(1)} s after the kill`
    )
  })
})
