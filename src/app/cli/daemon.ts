import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import { Effect, Either, Option } from "effect"
import { MailboxError } from "../../adapters/mailbox/mailbox.js"
import { accountHandles, leasedCoreLayer } from "../app.js"
import { daemon, trustNotice } from "../daemon.js"
import { accountLease, Leasing } from "../leasing.js"
import { Processor, type Progress, SessionGuard, type SessionResult } from "../processor.js"
import { processStopSignal, StopSignal, stopGraceMillis } from "../stop.js"
import { configOption, withConfig } from "./shared.js"

const write = (text: string) => Effect.sync(() => void process.stdout.write(text))
const writeError = (text: string) => Effect.sync(() => void process.stderr.write(text))

const run = Command.make("run", { config: configOption }, ({ config }) =>
  withConfig(config, (loaded, source) =>
    Effect.zipRight(
      Effect.logInfo(`rebound starting with ${source ?? "the embedded defaults"}`),
      Effect.scoped(
        Effect.flatMap(processStopSignal, (stop) => daemon(loaded).pipe(Effect.provideService(StopSignal, stop)))
      )
    )
  )
).pipe(
  Command.withDescription(
    "Run the daemon: poll every configured account on its schedule, serve the HTTP API and dashboard (127.0.0.1:8025 by default) and the SMTP listener when configured, run the daily job; until SIGTERM/SIGINT: sessions take no further mail, apply and commit the mails they hold, then the process exits 0 (a second signal, or 30 s, interrupts: applied mails are still committed, the rest stay in the mailbox)."
  )
)

/** A progress line on a terminal, plain lines otherwise. */
const progressReporter = (tty: boolean) => {
  let started = 0
  let lastPrint = 0
  return (progress: Progress) =>
    Effect.sync(() => {
      const now = Date.now()
      if (progress.done === 0) started = now
      const final = progress.done === progress.total
      if (!final && now - lastPrint < (tty ? 100 : 2000)) return
      lastPrint = now
      const seconds = Math.max((now - started) / 1000, 0.001)
      const rate = progress.done / seconds
      const eta = rate > 0 ? (progress.total - progress.done) / rate : 0
      if (tty) {
        const width = 30
        const filled = progress.total === 0 ? width : Math.round((progress.done / progress.total) * width)
        process.stderr.write(
          `\r${progress.account} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${progress.done}/${progress.total} ${rate.toFixed(0)} mails/s ETA ${eta.toFixed(0)}s   ${final ? "\n" : ""}`
        )
      } else if (progress.total > 0) {
        process.stderr.write(
          `${progress.account}: ${progress.done}/${progress.total} mails, ${rate.toFixed(0)} mails/s, ETA ${eta.toFixed(0)}s\n`
        )
      }
    })
}

const summary = (account: string, results: ReadonlyArray<SessionResult>) => {
  const sum = (pick: (result: SessionResult) => number) => results.reduce((total, result) => total + pick(result), 0)
  const outcomes: Record<string, number> = {}
  for (const result of results)
    for (const [outcome, count] of Object.entries(result.outcomes))
      outcomes[outcome] = (outcomes[outcome] ?? 0) + (count ?? 0)
  const detail = Object.entries(outcomes)
    .map(([outcome, count]) => `${outcome} ${count}`)
    .join(", ")
  return `${account}: ${sum((r) => r.retrieved)} mails retrieved (${detail || "none"}), ${sum((r) => r.deleted)} deleted, ${sum((r) => r.left)} left in the mailbox, ${results.length} session(s)\n`
}

const once = Command.make(
  "once",
  {
    config: configOption,
    account: Args.text({ name: "ACCOUNT" }).pipe(
      Args.withDescription("only this account (default: every account)"),
      Args.optional
    )
  },
  ({ config, account }) =>
    withConfig(config, (loaded) =>
      Effect.gen(function* () {
        const only = Option.getOrUndefined(account)
        if (only !== undefined && !loaded.accounts.some((candidate) => candidate.name === only)) {
          yield* writeError(`rebound: no account named ${only}\n`)
          return yield* Effect.sync(() => void (process.exitCode = 2))
        }
        const handles = yield* accountHandles(loaded, only)
        const processor = yield* Processor
        const leasing = yield* Leasing
        const report = progressReporter(process.stderr.isTTY === true)
        yield* Effect.logInfo(trustNotice(loaded))
        const stop = yield* processStopSignal
        yield* Effect.forkScoped(
          Effect.zipRight(
            stop.await,
            Effect.logInfo(
              `stopping: the session in hand applies and commits the mails it holds (at most ${stopGraceMillis / 1000} s, or at a second signal); the accounts not yet emptied are skipped`
            )
          )
        )
        let failed = false
        for (const handle of handles) {
          if (yield* stop.requested) {
            yield* write(`${handle.account.name}: skipped, stop requested\n`)
            continue
          }
          // an account another live process is emptying is skipped, not waited for
          const lease =
            handle.account.type === "smtp"
              ? Either.right({ keep: Effect.succeed(true) })
              : yield* leasing
                  .hold(accountLease(handle.account.name))
                  .pipe(
                    Effect.catchAll((error) =>
                      Effect.zipRight(writeError(`${handle.account.name}: ${error.message}\n`), Effect.fail(error))
                    )
                  )
          if (Either.isLeft(lease)) {
            const seconds = Math.max(0, Math.ceil(lease.left.remainingMillis / 1000))
            yield* write(
              `${handle.account.name}: skipped, held by ${lease.left.holder} (lease ends in ${seconds} s unless renewed)\n`
            )
            continue
          }
          const results = yield* processor.drain(handle, report).pipe(
            Effect.provideService(SessionGuard, { keep: lease.right.keep }),
            // at the stop, the session in hand takes no further mail, and a wait between sessions ends
            Effect.provideService(StopSignal, stop),
            Effect.catchAll((error) =>
              Effect.zipRight(
                Effect.zipRight(
                  writeError(`${handle.account.name}: failed: ${error.message}\n`),
                  Effect.sync(() => void (failed = true))
                ),
                Effect.succeed([] as ReadonlyArray<SessionResult>)
              )
            )
          )
          yield* write(summary(handle.account.name, results))
        }
        if (failed) yield* Effect.sync(() => void (process.exitCode = 1))
      }).pipe(Effect.scoped, Effect.provide(leasedCoreLayer(loaded, false)))
    )
).pipe(
  Command.withDescription(
    "Empty every account (or one) once and exit: sessions until each mailbox holds nothing new; a progress bar on a terminal. SIGTERM/SIGINT: the session in hand applies and commits the mails it holds, the other accounts are skipped, exit 0."
  )
)

const testConnection = Command.make(
  "test-connection",
  { config: configOption, account: Args.text({ name: "ACCOUNT" }).pipe(Args.withDescription("the account to try")) },
  ({ config, account }) =>
    withConfig(config, (loaded) =>
      Effect.gen(function* () {
        const [handle] = yield* accountHandles(loaded, account)
        if (handle === undefined) {
          yield* writeError(`rebound: no account named ${account}\n`)
          return yield* Effect.sync(() => void (process.exitCode = 2))
        }
        const result = yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* handle.mailbox.open
            const stat = yield* session.stat
            return { capabilities: session.capabilities, stat }
          })
        ).pipe(Effect.either)
        if (result._tag === "Left") {
          const error = result.left
          yield* writeError(`${account}: ${error instanceof MailboxError ? `${error.reason}: ` : ""}${error.message}\n`)
          return yield* Effect.sync(() => void (process.exitCode = 1))
        }
        const { capabilities, stat } = result.right
        yield* write(
          [
            `${account}: connected (${capabilities.kind}, ${capabilities.secure ? "secure" : "NOT ENCRYPTED"}, authentication ${capabilities.authentication})`,
            `pipelining: ${capabilities.pipelining ? "yes" : "no"}`,
            ...(capabilities.loginDelaySeconds === undefined
              ? []
              : [`login delay: ${capabilities.loginDelaySeconds} s`]),
            ...(capabilities.expire === undefined ? [] : [`expire: ${capabilities.expire}`]),
            `mailbox: ${stat.count} mails, ${stat.size} octets`,
            `capabilities: ${capabilities.raw.join(" | ")}`,
            ""
          ].join("\n")
        )
      }).pipe(Effect.scoped)
    )
).pipe(
  Command.withDescription(
    "Connect to an account, authenticate, and report its capabilities and mailbox size; deletes nothing."
  )
)

export const daemonCommands = [run, once, testConnection] as const
