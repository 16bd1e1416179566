/**
 * Crash: a real Dovecot holds 5,000 bounces; `rebound run` and `rebound once` (alternately) are killed with SIGKILL
 * at ten random moments (seeded, printed; REBOUND_FAULT_SEED replays a run) and started again, then `rebound once`
 * finishes. Three of the kills come right after a session's store commit, before its QUIT (a proxy holds the QUIT).
 * The store must equal that of one run without faults over the same mails, and the mailbox must be empty.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as path from "node:path"
import * as Redacted from "effect/Redacted"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../support/dovecot.js"
import { skipWithout } from "../support/services.js"
import {
  backlogMail,
  dumpStore,
  faultSeed,
  killLeftovers,
  ledgerCount,
  messageIdDomain,
  quitHoldingProxy,
  type ReboundProcess,
  seededRandom,
  signingKey,
  sleep,
  spawnRebound,
  waitFor,
  writeConfig,
  tempDirs
} from "./harness.js"

const skip = skipWithout(dovecotAvailable, "Dovecot with its POP3 server", dovecotInstall)

const mails = 5_000
const kills = 10
/** The line each command writes as it begins to work through the mailbox. */
const workingLine = { once: /mails, \d+ mails\/s/, run: /account lease taken/ }
const leaseSeconds = 1

/** POP3 with STLS straight to Dovecot, or plain POP3 through a proxy on `proxyPort`. */
const configFor = (server: Dovecot, user: string, dir: string, proxyPort?: number) =>
  writeConfig(
    dir,
    {
      store: { type: "sqlite", path: path.join(dir, "rebound.db") },
      accounts: [
        {
          type: "pop3",
          name: "dovecot",
          host: "127.0.0.1",
          ...(proxyPort === undefined
            ? { port: server.port, tls: "starttls", caFile: server.certificate.certFile }
            : { port: proxyPort, tls: "none" }),
          auth: { mechanism: "user", username: user, password: server.password(user) },
          pollSeconds: 1,
          commandTimeout: 20
        }
      ],
      signing: { keys: [{ id: signingKey.id, secret: Redacted.value(signingKey.secret) }], domain: messageIdDomain },
      http: null,
      // a killed process's account lease runs out after a second, and the next process takes the account over
      leases: { ttlSeconds: leaseSeconds },
      log: { level: "info", format: "json" }
    },
    proxyPort === undefined ? "rebound.config.json" : "proxied.config.json"
  )

/**
 * Runs `rebound once` until it has emptied the account (a login right after a kill may find Dovecot's session lock
 * still held, or the account's lease not yet expired).
 */
const finish = async (dir: string, configFile: string): Promise<ReboundProcess> => {
  for (let attempt = 1; ; attempt++) {
    const run = spawnRebound(["once", "--config", configFile], dir)
    const { code } = await run.exit
    if (code === 0 && !/skipped/.test(run.output())) return run
    if (attempt === 5) throw new Error(`rebound once failed ${attempt} times:\n${run.output()}`)
    await sleep(1000)
  }
}

/** Fisher-Yates with the seeded generator. */
const shuffled = <A>(items: Array<A>, random: () => number): Array<A> => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

describe.skipIf(skip)("SIGKILL at random moments", () => {
  let server: Dovecot
  let proxy: Awaited<ReturnType<typeof quitHoldingProxy>> | undefined
  const temp = tempDirs("crash")

  beforeAll(async () => {
    server = await startDovecot(["reference", "faulted"])
    for (let index = 0; index < mails; index++) {
      const mail = backlogMail(index)
      server.deliver("reference", mail)
      server.deliver("faulted", mail)
    }
  })

  afterAll(async () => {
    await killLeftovers()
    await proxy?.close()
    await server?.stop()
    temp.removeAll()
  })

  it("loses and doubles nothing: the store equals that of a run without faults, the mailbox ends empty", async () => {
    const seed = faultSeed()
    console.log(`crash test seed ${seed} (REBOUND_FAULT_SEED=${seed} replays it)`)
    const random = seededRandom(seed)

    const referenceDir = temp.make()
    const started = Date.now()
    const reference = spawnRebound(["once", "--config", configFor(server, "reference", referenceDir)], referenceDir)
    let working: number | undefined
    reference.child.stderr!.on("data", () => {
      if (working === undefined && workingLine.once.test(reference.output())) working = Date.now()
    })
    const referenceExit = await reference.exit
    assert.strictEqual(referenceExit.code, 0, reference.output())
    const total = Date.now() - started
    const processing = Date.now() - (working ?? started)
    const referenceStore = dumpStore(path.join(referenceDir, "rebound.db"))
    assert.lengthOf(referenceStore.ledger, mails)
    assert.lengthOf(server.files("reference"), 0)
    console.log(`run without faults: ${total} ms, ${processing} ms of it processing`)

    const faultedDir = temp.make()
    // the faulted runs go through a proxy that can hold a QUIT, to kill the processor right after a store commit
    proxy = await quitHoldingProxy(server.port)
    // only the kills after a commit go through it: a process killed while Dovecot indexed the mailbox behind the
    // proxy once left Dovecot's session (and its mailbox lock) hanging for minutes
    const faultedConfig = configFor(server, "faulted", faultedDir)
    const proxiedConfig = configFor(server, "faulted", faultedDir, proxy.port)
    const database = path.join(faultedDir, "rebound.db")
    const caught: Array<{ readonly applied: number; readonly deleted: number }> = []
    // two kills during the start-up; three as soon as a session's store transaction has committed (its mails
    // applied, not yet deleted); five within a sixth of the processing time after the work began; in seeded order
    const moments = shuffled(
      [...Array(2).fill("start-up"), ...Array(3).fill("commit"), ...Array(5).fill("work")] as Array<
        "start-up" | "commit" | "work"
      >,
      random
    )
    for (let kill = 0; kill < kills; kill++) {
      const command = kill % 2 === 0 ? "run" : "once"
      const moment = moments[kill]!
      const delay = moment === "commit" ? 0 : Math.round(random() * (moment === "start-up" ? 3000 : processing / 6))
      const held = moment === "commit" ? proxy.holdNextQuit() : new Promise<void>(() => {})
      const child = spawnRebound([command, "--config", moment === "commit" ? proxiedConfig : faultedConfig], faultedDir)
      if (moment === "work") {
        await Promise.race([
          waitFor("the processor to start working", () => workingLine[command].test(child.output()), 60),
          child.exit
        ])
      }
      if (moment === "commit") await Promise.race([held, child.exit, sleep(60_000)])
      await Promise.race([sleep(delay), child.exit])
      child.child.kill("SIGKILL")
      const exit = await child.exit
      proxy.release()
      // the next process finds the account's lease expired, as it would a real crashed holder's
      await sleep(leaseSeconds * 1000 + 200)
      const applied = ledgerCount(database)
      const deleted = mails - server.files("faulted").length
      caught.push({ applied, deleted })
      console.log(
        `kill ${kill + 1}: rebound ${command} ${moment === "commit" ? "right after a commit" : `${delay} ms after ${moment === "start-up" ? "its start" : "the work began"}`} ` +
          `(${exit.signal ?? `exit ${exit.code}`}), ${applied} mails in the ledger, ${deleted} deleted` +
          (exit.code === 1 ? `\n${child.output().slice(-600)}` : "")
      )
    }
    assert.isTrue(
      caught.some(({ applied }) => applied > 0 && applied < mails),
      `no kill caught the processor mid-work: ${JSON.stringify(caught)}`
    )
    // and at least one between a store commit and the mailbox's: applied mails still in the mailbox, to be
    // recognised by the ledger and deleted without being applied again
    assert.isTrue(
      caught.some(({ applied, deleted }) => applied > deleted),
      `no kill came between a store commit and the QUIT: ${JSON.stringify(caught)}`
    )

    const last = await finish(faultedDir, faultedConfig)
    assert.match(last.output(), /dovecot: \d+ mails retrieved/)
    assert.lengthOf(server.files("faulted"), 0)
    const faultedStore = dumpStore(database)
    assert.lengthOf(faultedStore.ledger, mails)
    assert.deepStrictEqual(faultedStore.ledger, referenceStore.ledger)
    assert.deepStrictEqual(faultedStore.events, referenceStore.events)
    assert.deepStrictEqual(faultedStore.addresses, referenceStore.addresses)
    assert.deepStrictEqual(faultedStore.history, referenceStore.history)
    assert.deepStrictEqual(faultedStore.counters, referenceStore.counters)
    assert.deepStrictEqual(faultedStore.deliveries, referenceStore.deliveries)
    assert.deepStrictEqual(faultedStore.archived, referenceStore.archived)
    // every recipient of every mail once: a doubled event would have shown above, an empty store would here
    assert.isAbove(referenceStore.events.length, mails * 0.9)
    console.log(`crash test total ${Date.now() - started} ms`)
  })
})
