import { makeRunMain } from "@effect/platform/Runtime"
import { Context, Deferred, Effect, Exit, type Scope } from "effect"

/**
 * A stop that lets the work in hand finish. Once it is requested, sessions take no further mail, apply and commit
 * what they hold, and the polling loops end instead of waiting for their next turn. The default is never requested:
 * an app that embeds the processor interrupts it, or provides its own.
 */
export class StopSignal extends Context.Reference<StopSignal>()("rebound/App/StopSignal", {
  defaultValue: (): StopSignalService => ({ requested: Effect.succeed(false), await: Effect.never })
}) {}

export interface StopSignalService {
  /** whether the stop has been requested */
  readonly requested: Effect.Effect<boolean>
  /** completes when the stop is requested */
  readonly await: Effect.Effect<void>
}

const signalOf = (deferred: Deferred.Deferred<void>): StopSignalService => ({
  requested: Deferred.isDone(deferred),
  await: Deferred.await(deferred)
})

/** A stop signal and the function that requests it (tests, or an app that stops on its own events). */
export const makeStopSignal = Effect.map(Deferred.make<void>(), (deferred) => ({
  signal: signalOf(deferred),
  request: Deferred.succeed(deferred, undefined).pipe(Effect.asVoid)
}))

/** Grace period after the first SIGTERM/SIGINT: past it, the entrypoint interrupts what is still running. */
export const stopGraceMillis = 30_000

/**
 * How long an interrupted program may take to end: a finalizer that waits for a server (the replies to commands
 * already sent, a QUIT) cannot be interrupted, so past this the process exits at once. Nothing is lost that way
 * either: mails are deleted only after they are durable, and the ledger recognises them on the next run.
 */
export const hardExitMillis = 5_000

let listener: (() => void) | undefined

/**
 * Called by the entrypoint on the first SIGTERM or SIGINT: requests the stop of the command that listens for it and
 * returns true, or returns false when none does (the entrypoint then interrupts at once).
 */
export const requestProcessStop = (): boolean => {
  if (listener === undefined) return false
  listener()
  return true
}

/** A stop signal that the process's first SIGTERM or SIGINT requests, for as long as the scope is open. */
export const processStopSignal: Effect.Effect<StopSignalService, never, Scope.Scope> = Effect.gen(function* () {
  const deferred = yield* Deferred.make<void>()
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      listener = () => Deferred.unsafeDone(deferred, Exit.void)
    }),
    () =>
      Effect.sync(() => {
        listener = undefined
      })
  )
  return signalOf(deferred)
})

/**
 * The entrypoint's runner: @effect/platform-node's `runMain`, except that the first SIGTERM or SIGINT requests the
 * stop of a command that listens for it (`processStopSignal`) instead of interrupting it. A second signal, or the
 * grace period, interrupts; so does the first when no command listens; an interrupted program that has not ended
 * within `hardExitMillis` is ended by `process.exit(1)`. After a signal the process exits with the program's code
 * (0 when it stopped, cleanly or by an interrupt).
 */
export const runMain = makeRunMain(({ fiber, teardown }) => {
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let signalled = false
  let interrupted = false
  const interrupt = () => {
    if (interrupted) return
    interrupted = true
    fiber.unsafeInterruptAsFork(fiber.id())
    setTimeout(() => {
      process.stderr.write(
        `rebound: not stopped ${hardExitMillis / 1000} s after the interrupt (a server that does not answer): exiting now; applied mails are recognised on the next run\n`
      )
      process.exit(1)
    }, hardExitMillis).unref()
  }
  const onSignal = () => {
    if (signalled) return interrupt()
    signalled = true
    if (!requestProcessStop()) return interrupt()
    setTimeout(interrupt, stopGraceMillis).unref()
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  fiber.addObserver((exit) => {
    process.removeListener("SIGINT", onSignal)
    process.removeListener("SIGTERM", onSignal)
    clearInterval(keepAlive)
    teardown(exit, (code) => {
      // a clean stop leaves the code a command set (process.exitCode) as it is
      if (signalled || code !== 0) process.exit(code === 0 ? undefined : code)
    })
  })
})
