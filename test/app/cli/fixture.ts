import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Either, Redacted, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ledgerKeyOf, Store } from "../../../src/adapters/store/store.js"
import { storeLayer } from "../../../src/app/app.js"
import { classifyBytes } from "../../../src/app/classify.js"
import { rebound } from "../../../src/app/cli.js"
import { CliOutput } from "../../../src/app/cli/format.js"
import { loadConfig } from "../../../src/app/config.js"
import { encodeMessageId, makeTokenVerifier, type SigningKey } from "../../../src/domain/codec.js"
import { arfReport, type Original, postfixDsn, qmailBounce } from "../../support/mails.js"

export const HOUR = 3_600_000
export const DAY = 24 * HOUR
/** When the fixture's bounces arrive; the tests run an hour later. */
export const T0 = Date.UTC(2026, 0, 10, 9)

export const signingDomain = "mail.sender.example"
export const secret = "cli-test-secret-0123456789"
export const signingKey: SigningKey = { id: "k1", secret: Redacted.make(secret) }

export interface Workspace {
  readonly dir: string
  readonly config: string
  readonly database: string
}

/** A temporary folder with a configuration file naming an SQLite store in it (not created yet). */
export const workspace = (overrides: Record<string, unknown> = {}): Workspace => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-cli-"))
  const database = path.join(dir, "data", "rebound.db")
  const config = path.join(dir, "rebound.config.json")
  fs.writeFileSync(
    config,
    JSON.stringify({
      store: { type: "sqlite", path: database },
      signing: { keys: [{ id: signingKey.id, secret }], domain: signingDomain },
      // three hard bounces from one domain within an hour make the third suspect
      quarantine: { outageGuard: { hardBouncesPerHour: 3 } },
      log: { level: "warning" },
      ...overrides
    })
  )
  return { dir, config, database }
}

export const removeWorkspace = (ws: Workspace) => fs.rmSync(ws.dir, { recursive: true, force: true })

const original = (messageId: string, to: string): Original => ({ from: "news@sender.example", to, messageId })

export const userUnknown = (to: string, messageId: string) =>
  postfixDsn({
    recipients: [
      { address: to, status: "5.1.1", diagnostic: `550 5.1.1 <${to}>: Recipient address rejected: User unknown` }
    ],
    original: original(messageId, to)
  })

const mailboxFull = (to: string, messageId: string) =>
  qmailBounce(to, "552 5.2.2 mailbox full", original(messageId, to))

/**
 * Fills the workspace's store through `Store.applyMail` with reports of the real decoder, as the processor does:
 * - 10 days before T0: old@receiver.example, hard (delivery D0);
 * - at T0, delivery D1 (40 messages to r0..r39@receiver.example): r0 hard userunknown, r1 soft mailboxfull,
 *   r2 blocked by a DNSBL (a reason on our side), r3 an abuse complaint;
 * - delivery D2 (10 messages to o0..o9@other.example): o0 and o1 soft mailboxfull;
 * - delivery D4 (5 messages to x0..x4@outage.example): x0, x1, x2 hard within the hour (x2 is held as suspect);
 * - s@signed.example, hard, correlated by a signed Message-ID of delivery D3 (never registered).
 */
export const fill = (ws: Workspace, extra: ReadonlyArray<Uint8Array> = []) =>
  Effect.gen(function* () {
    const { config } = yield* loadConfig(ws.config).pipe(Effect.provide(NodeContext.layer))
    const verifier = makeTokenVerifier([signingKey], { domain: signingDomain })
    let uid = 0
    const apply = (bytes: Uint8Array) =>
      Effect.gen(function* () {
        const report = classifyBytes(bytes, { verifier })
        uid += 1
        return yield* (yield* Store).applyMail({
          key: ledgerKeyOf("inbox", `uid-${uid}`, bytes),
          outcome: report.records.length > 0 ? "applied" : "not-a-bounce",
          report,
          bytes
        })
      })
    const sends = (deliveryId: string, prefix: string, domain: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        messageId: `<${deliveryId.toLowerCase()}-${i}@sender.example>`,
        deliveryId,
        recipient: `${prefix}${i}@${domain}`
      }))
    yield* Effect.gen(function* () {
      const store = yield* Store
      yield* TestClock.setTime(T0 - 10 * DAY)
      yield* store.registerSent([
        { messageId: "<d0-0@sender.example>", deliveryId: "D0", recipient: "old@receiver.example" }
      ])
      yield* apply(userUnknown("old@receiver.example", "<d0-0@sender.example>"))

      yield* TestClock.setTime(T0)
      yield* store.registerSent([
        ...sends("D1", "r", "receiver.example", 40),
        ...sends("D2", "o", "other.example", 10),
        ...sends("D4", "x", "outage.example", 5)
      ])
      yield* apply(userUnknown("r0@receiver.example", "<d1-0@sender.example>"))
      yield* apply(mailboxFull("r1@receiver.example", "<d1-1@sender.example>"))
      yield* apply(
        postfixDsn({
          recipients: [
            {
              address: "r2@receiver.example",
              status: "5.7.1",
              diagnostic: "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"
            }
          ],
          original: original("<d1-2@sender.example>", "r2@receiver.example")
        })
      )
      yield* apply(
        arfReport({
          feedbackType: "abuse",
          rcptTo: "r3@receiver.example",
          original: original("<d1-3@sender.example>", "r3@receiver.example")
        })
      )
      yield* apply(mailboxFull("o0@other.example", "<d2-0@sender.example>"))
      yield* apply(mailboxFull("o1@other.example", "<d2-1@sender.example>"))
      for (const i of [0, 1, 2]) yield* apply(userUnknown(`x${i}@outage.example`, `<d4-${i}@sender.example>`))
      const signed = encodeMessageId(
        { instance: "rebound", deliveryId: "D3", recipientId: "R9" },
        signingKey,
        signingDomain
      )
      yield* apply(userUnknown("s@signed.example", signed))
      for (const bytes of extra) yield* apply(bytes)
    }).pipe(Effect.provide(storeLayer(config)))
    yield* TestClock.setTime(T0 + HOUR)
  })

export interface CliResult {
  readonly stdout: string
  readonly stderr: string
  /** the exit code the process would end with */
  readonly exitCode: number
  /** @effect/cli refused the command line (unknown option, bad choice) */
  readonly rejected: boolean
}

/** Runs `rebound ...args` in this process, capturing standard output, standard error and the exit code. */
export const runCli = (...args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const err: Array<string> = []
    let exitCode = 0
    const console = yield* Console.consoleWith((current) =>
      Effect.succeed<Console.Console>({
        ...current,
        log: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(parts.join(" ") + "\n")),
        error: (...parts: ReadonlyArray<unknown>) => Effect.sync(() => void err.push(parts.join(" ") + "\n"))
      })
    )
    const result = yield* Command.run(rebound, { name: "rebound", version: "test" })(["node", "rebound", ...args]).pipe(
      Effect.provideService(CliOutput, {
        stdout: (text) => void out.push(text),
        stderr: (text) => void err.push(text),
        setExitCode: (code) => void (exitCode = code)
      }),
      Effect.withConsole(console),
      Effect.provide(NodeContext.layer),
      Effect.either
    )
    return {
      stdout: out.join(""),
      stderr: err.join(""),
      exitCode: Either.isLeft(result) ? 1 : exitCode,
      rejected: Either.isLeft(result)
    } satisfies CliResult
  })

/** The lines of a table, each split on runs of two or more spaces. */
export const tableCells = (text: string): Array<Array<string>> =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => line.trim().split(/ {2,}/))
