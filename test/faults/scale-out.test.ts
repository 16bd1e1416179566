/**
 * Scale-out: two `rebound run` processes share one PostgreSQL and four Maildir accounts; one is killed with SIGKILL
 * while it holds accounts with mail left. The other takes them over once their leases expire, and in the end every
 * mail is applied exactly once: the store equals that of one `rebound once` over the same mails without faults, and
 * the mailboxes are empty.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../support/postgres.js"
import { skipWithout } from "../support/services.js"
import {
  backlogMail,
  dumpPostgres,
  messageIdDomain,
  type ReboundProcess,
  signingKey,
  spawnRebound,
  waitFor,
  writeConfig,
  queryPostgres,
  tempDirs
} from "./harness.js"

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

const accounts = ["a", "b", "c", "d"]
const perAccount = 300
const ttlSeconds = 3

/** Four Maildirs under `dir`, each with its share of the backlog (the same mails for every call). */
const fillMaildirs = (dir: string) => {
  for (const [k, account] of accounts.entries()) {
    const root = path.join(dir, `box-${account}`)
    for (const folder of ["new", "cur", "tmp"]) fs.mkdirSync(path.join(root, folder), { recursive: true })
    for (let i = 0; i < perAccount; i++) {
      const index = k * perAccount + i
      fs.writeFileSync(
        path.join(root, "new", `${String(index).padStart(6, "0")}.${account}.scale-out`),
        backlogMail(index)
      )
    }
  }
}

const mailsLeft = (dir: string, account: string) =>
  ["new", "cur"].reduce((sum, folder) => sum + fs.readdirSync(path.join(dir, `box-${account}`, folder)).length, 0)

const configFor = (dir: string, url: string) =>
  writeConfig(dir, {
    store: { type: "postgres", url, maxConnections: 4 },
    accounts: accounts.map((account) => ({
      type: "maildir",
      name: account,
      path: path.join(dir, `box-${account}`),
      pollSeconds: 1,
      // short sessions: a kill finds work both applied-and-unmarked and not yet read
      maxMailsPerSession: 40
    })),
    leases: { ttlSeconds },
    // the outage guard looks at a domain's bounces across accounts, so its verdict would depend on their order
    quarantine: { outageGuard: { enabled: false } },
    signing: { keys: [{ id: signingKey.id, secret: Redacted.value(signingKey.secret) }], domain: messageIdDomain },
    http: null,
    log: { level: "info", format: "json" }
  })

const ledgerCount = (url: string) =>
  queryPostgres(url, (sql) => sql<{ n: string }>`SELECT COUNT(*) AS n FROM mail_ledger`).then((rows) =>
    Number(rows[0]!.n)
  )

const accountLeases = (url: string) =>
  queryPostgres(
    url,
    (sql) => sql<{ name: string; holder: string }>`SELECT name, holder FROM leases WHERE name LIKE 'account:%'`
  )
    .then((rows) => new Map(rows.map((row) => [row.name.slice("account:".length), row.holder])))
    // before the first process has created the schema
    .catch(() => new Map<string, string>())

/** The pid in a holder id (instance@host:pid:random). */
const pidOf = (holder: string) => Number(holder.split(":").at(-2))

describe.skipIf(skip)("two processes on one PostgreSQL, one killed", () => {
  let server: PostgresServer
  const temp = tempDirs("scale-out")
  const running: Array<ReboundProcess> = []

  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => {
    for (const process of running) process.child.kill("SIGKILL")
    server?.stop()
    temp.removeAll()
  })

  it("the survivor takes the dead process's accounts over at once (same machine, pid gone); each mail is applied once", async () => {
    // the expectation: one process, no faults
    const referenceDir = temp.make()
    fillMaildirs(referenceDir)
    const referenceUrl = server.createDatabase("reference")
    const reference = spawnRebound(["once", "--config", configFor(referenceDir, referenceUrl)], referenceDir)
    assert.strictEqual((await reference.exit).code, 0, reference.output())
    const expected = await dumpPostgres(referenceUrl)
    assert.strictEqual(expected.ledger.length, accounts.length * perAccount)

    const dir = temp.make()
    fillMaildirs(dir)
    const url = server.createDatabase("scale_out")
    const configFile = configFor(dir, url)
    const first = spawnRebound(["run", "--config", configFile], dir)
    const second = spawnRebound(["run", "--config", configFile], dir)
    running.push(first, second)
    const byPid = new Map([
      [first.child.pid!, first],
      [second.child.pid!, second]
    ])

    // wait until both hold accounts, then kill one that holds an account with mail left
    let victimPid = 0
    await waitFor(
      "both processes to hold accounts, one of them half-way through one",
      async () => {
        const leases = await accountLeases(url)
        const pids = new Set([...leases.values()].map(pidOf))
        if (pids.size < 2) return false
        // mid-way: some of its mail applied, some still to read
        const withWork = [...leases.entries()].filter(([account]) => {
          const left = mailsLeft(dir, account)
          return left > 40 && left < perAccount - 20
        })
        if (withWork.length === 0) return false
        victimPid = pidOf(withWork[0]![1])
        return true
      },
      60
    )
    const victim = byPid.get(victimPid)!
    const survivor = victim === first ? second : first
    const victimAccounts = [...(await accountLeases(url)).entries()]
      .filter(([, holder]) => pidOf(holder) === victimPid)
      .map(([account]) => account)
    const left = Object.fromEntries(victimAccounts.map((account) => [account, mailsLeft(dir, account)]))
    victim.child.kill("SIGKILL")
    const killedAt = Date.now()
    assert.strictEqual((await victim.exit).signal, "SIGKILL")

    await waitFor(
      "the survivor to take the dead process's accounts",
      async () => {
        const leases = await accountLeases(url)
        return victimAccounts.every((account) => pidOf(leases.get(account) ?? "::0:") === survivor.child.pid)
      },
      30
    )
    const takeover = (Date.now() - killedAt) / 1000
    // both run on this machine: the survivor sees the dead holder's pid is gone and does not wait out the ttl; it
    // looks for free accounts every second (a holder on another machine is waited out: test/app/leasing.test.ts)
    assert.isBelow(takeover, 1 + 1.5, `taken over after ${takeover} s, the ttl is ${ttlSeconds} s`)

    await waitFor("every mailbox to be empty", () => accounts.every((account) => mailsLeft(dir, account) === 0), 90)
    await waitFor("every mail in the ledger", async () => (await ledgerCount(url)) === accounts.length * perAccount, 30)
    survivor.child.kill("SIGTERM")
    assert.strictEqual((await survivor.exit).code, 0, survivor.output().slice(-2000))

    const actual = await dumpPostgres(url)
    assert.strictEqual(actual.ledger.length, accounts.length * perAccount, "one ledger entry per mail")
    assert.deepStrictEqual(actual.events, expected.events, "each bounce event stored once")
    assert.deepStrictEqual(actual.counters, expected.counters)
    assert.deepStrictEqual(actual.addresses, expected.addresses)
    assert.deepStrictEqual(actual.history, expected.history)
    assert.deepStrictEqual(actual.ledger, expected.ledger)
    console.log(
      `killed pid ${victimPid} holding ${victimAccounts.join(", ")} (${JSON.stringify(left)} mails left); taken over after ${takeover.toFixed(1)} s`
    )
  })
})
