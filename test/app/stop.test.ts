/**
 * Stopping: SIGTERM or SIGINT while a POP3 session is receiving. The session takes no further mail, applies and
 * commits the mails it holds (deleting them on the server), and the process exits 0; a second signal interrupts at
 * once, and then nothing of the batch in hand is applied or deleted. The test server holds the reply to one RETR
 * until the signal has been handled, so the signal always lands in the middle of the session's only batch; without
 * PIPELINING the client asks for a mail only once it has taken the one before, so when the server sees "RETR 5" the
 * first four are in hand.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import { encodeMultiline } from "../../src/adapters/mailbox/pop3-codec.js"
import { type CommandContext, loopbackAccount, type Reply, TestPop3Server } from "../support/pop3-server.js"
import {
  backlogMail,
  killLeftovers,
  ledgerCount,
  spawnRebound,
  tempDirs,
  waitFor,
  writeConfig
} from "../faults/harness.js"

const mailCount = 20

/**
 * A server of `mailCount` bounces whose reply to each RETR of `holds` waits for its promise (later replies wait behind
 * it, in order).
 */
const holdingServer = (holds: Readonly<Record<string, Promise<unknown>>>, pipelining = false) => {
  const deletedAtQuit: Array<string> = []
  const server: TestPop3Server = new TestPop3Server({
    mails: Array.from({ length: mailCount }, (_, index) => backlogMail(index)),
    pipelining,
    onCommand: ({ keyword, args, session }: CommandContext): Reply | undefined => {
      const maildrop = session.maildrop ?? server.mails
      if (keyword === "QUIT" && session.authenticated) {
        for (const number of session.deleted) deletedAtQuit.push(maildrop[number - 1]!.uid)
        return undefined
      }
      const mail = keyword === "RETR" ? maildrop[Number(args[0]) - 1] : undefined
      const until = mail === undefined ? undefined : holds[mail.uid]
      if (until === undefined) return undefined
      const reply = `+OK ${mail!.bytes.length} octets\r\n${Buffer.from(encodeMultiline(mail!.bytes)).toString("latin1")}`
      return { _tag: "Hold", until, reply }
    }
  })
  return { server, deletedAtQuit }
}

/** A promise and the function that settles it. */
const gate = () => {
  let open!: () => void
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { opened, open }
}

const configIn = (dir: string, server: TestPop3Server) =>
  writeConfig(dir, {
    store: { type: "sqlite", path: path.join(dir, "rebound.db") },
    accounts: [loopbackAccount(server, { pollSeconds: 1, commandTimeout: 60 })],
    http: null,
    log: { level: "info", format: "json" }
  })

/** `rebound once` after a stop: it exits 0 and has taken every mail, each applied once. */
const nextRunTakesAll = async (server: TestPop3Server, dir: string, config: string) => {
  const next = spawnRebound(["once", "--config", config], dir)
  assert.strictEqual((await next.exit).code, 0, next.output())
  assert.strictEqual(server.mails.length, 0)
  assert.strictEqual(ledgerCount(path.join(dir, "rebound.db")), mailCount)
}

const uids = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => `uid-${String(from + index).padStart(4, "0")}`)

describe("SIGTERM and SIGINT", () => {
  const temp = tempDirs("stop")
  afterAll(async () => {
    await killLeftovers()
    temp.removeAll()
  })

  for (const { command, signal } of [
    { command: "run", signal: "SIGTERM" },
    { command: "once", signal: "SIGINT" }
  ] as const) {
    it(`rebound ${command}, ${signal} in the middle of a batch: the mails in hand are applied and deleted, exit 0`, async () => {
      const { opened, open: release } = gate()
      const { server, deletedAtQuit } = holdingServer({ "uid-0005": opened })
      await server.start()
      const dir = temp.make()
      const rebound = spawnRebound([command, "--config", configIn(dir, server)], dir)
      try {
        await waitFor("RETR of the held mail", () => server.lines().includes("RETR 5"), 90)
        rebound.child.kill(signal)
        await waitFor("the stop to be logged", () => rebound.output().includes("stopping: "))
        release()
        const { code } = await rebound.exit
        assert.strictEqual(code, 0, rebound.output())
        // mails 1 to 4 were waiting for their batch to fill; mail 5 was in hand when the stop came
        assert.deepStrictEqual(deletedAtQuit, uids(1, 5), rebound.output())
        assert.deepStrictEqual(
          server.mails.map((mail) => mail.uid),
          uids(6, mailCount)
        )
        assert.strictEqual(ledgerCount(path.join(dir, "rebound.db")), 5)
        assert.strictEqual(server.lines().filter((line) => line.startsWith("USER")).length, 1, "no further session")
      } finally {
        release()
        rebound.child.kill("SIGKILL")
        await server.stop()
      }
    }, 120_000)
  }

  it("a second signal interrupts: the batch in hand is neither applied nor deleted, and the next run takes it", async () => {
    const { opened, open: release } = gate()
    const { server, deletedAtQuit } = holdingServer({ "uid-0005": opened })
    await server.start()
    const dir = temp.make()
    const config = configIn(dir, server)
    const rebound = spawnRebound(["run", "--config", config], dir)
    try {
      await waitFor("RETR of the held mail", () => server.lines().includes("RETR 5"), 90)
      rebound.child.kill("SIGTERM")
      await waitFor("the stop to be logged", () => rebound.output().includes("stopping: "))
      rebound.child.kill("SIGTERM")
      const { code } = await rebound.exit
      assert.strictEqual(code, 0, rebound.output())
      assert.deepStrictEqual(deletedAtQuit, [])
      assert.strictEqual(server.mails.length, mailCount)
      assert.strictEqual(ledgerCount(path.join(dir, "rebound.db")), 0)
      release()
      await nextRunTakesAll(server, dir, config)
    } finally {
      release()
      rebound.child.kill("SIGKILL")
      await server.stop()
    }
  }, 120_000)

  it("an interrupted process that waits for a silent server exits within seconds, and loses nothing", async () => {
    // with PIPELINING all the RETR are sent at once. Mail 6 comes once the stop is logged: the session takes it and
    // ends, and reads the replies still in flight to stay in step; mail 7's never comes (until the test's end)
    const stopped = gate()
    const { opened, open: release } = gate()
    const { server, deletedAtQuit } = holdingServer({ "uid-0006": stopped.opened, "uid-0007": opened }, true)
    await server.start()
    const dir = temp.make()
    const config = configIn(dir, server)
    const rebound = spawnRebound(["run", "--config", config], dir)
    try {
      await waitFor("RETR of the held mails", () => server.lines().includes("RETR 7"), 90)
      rebound.child.kill("SIGTERM")
      await waitFor("the stop to be logged", () => rebound.output().includes("stopping: "))
      stopped.open()
      // the session waits for mail 7's reply (its command timeout is a minute) in a finalizer, which an interrupt
      // does not cut short
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const interruptedAt = Date.now()
      rebound.child.kill("SIGTERM")
      const { code } = await rebound.exit
      assert.isBelow(Date.now() - interruptedAt, 15_000)
      assert.strictEqual(code, 1, rebound.output())
      assert.include(rebound.output(), "exiting now")
      assert.deepStrictEqual(deletedAtQuit, [])
      release()
      await nextRunTakesAll(server, dir, config)
    } finally {
      stopped.open()
      release()
      rebound.child.kill("SIGKILL")
      await server.stop()
    }
  }, 120_000)
})
