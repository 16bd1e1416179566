import { Context, Duration, Effect, Fiber, Layer } from "effect"
import { Store } from "../adapters/store/store.js"
import { accountHandles, leasedCoreLayer, smtpListenerLayer } from "./app.js"
import { type AppConfig, pollInterval } from "./config.js"
import { Leasing, onceAcrossProcesses } from "./leasing.js"
import { Processor } from "./processor.js"
import { StopSignal } from "./stop.js"

/** The start-up lines that say how this instance decides whom a bounce may change. */
export const trustNotice = (config: AppConfig): string =>
  config.signing.keys.length === 0
    ? "no signing keys configured: the failed recipient named in a bounce is trusted (anyone can mail a forged bounce to a public MX; configure signing keys to prevent it)"
    : `signing keys configured (${config.signing.keys.map((key) => key.id).join(", ")}): only bounces correlated by a verified signature or a registered sent message change address states`

/**
 * The whole app of a configuration: polls every account on its schedule, serves the HTTP API and the SMTP listener
 * when configured, runs the daily job, until a stop is requested (`StopSignal`: `rebound run` requests it at the
 * first SIGTERM or SIGINT). Then each session in hand applies and commits what it holds, and it returns.
 */
export const daemon = (config: AppConfig) =>
  Effect.gen(function* () {
    yield* Effect.logInfo(trustNotice(config))
    // the daemon's own services are loaded here, not at start-up: `once` and the other commands never use them
    const [{ SmtpListener }, alerts, http, webhooks] = yield* Effect.promise(() =>
      Promise.all([
        import("../adapters/smtp/listener.js"),
        import("./alerts/alerts.js"),
        import("./http/server.js"),
        import("./webhooks/webhooks.js")
      ])
    )
    if (config.smtp !== undefined) {
      const listener = yield* Layer.build(smtpListenerLayer(config.smtp, config, { keys: config.signing.keys }))
      const { address, spool, spoolDir } = Context.get(listener, SmtpListener)
      const where = spool === "store" ? "the store's SMTP work table" : spoolDir
      yield* Effect.logInfo(
        `SMTP listener on ${address.host}:${address.port} for ${config.smtp.domains.join(", ")}, spool ${where}`
      )
      if (!config.accounts.some((account) => account.type === "smtp")) {
        yield* Effect.logWarning('the SMTP listener spools mail, but no account of type "smtp" reads the spool')
      }
    }
    if (config.http !== null) yield* Layer.build(http.layer(config.http))
    // webhooks and alerts run while the daemon's scope lives
    yield* Layer.build(alerts.layer(config.alerts).pipe(Layer.provideMerge(webhooks.layer(config.webhooks))))
    const handles = yield* accountHandles(config)
    const processor = yield* Processor
    const store = yield* Store
    const stop = yield* StopSignal
    const polls: Array<Fiber.RuntimeFiber<void>> = []
    for (const handle of handles) {
      yield* Effect.logInfo(`polling every ${Duration.format(pollInterval(handle.account))}`).pipe(
        Effect.annotateLogs({ account: handle.account.name, type: handle.account.type })
      )
      // each poll reads the StopSignal this runs with
      polls.push(yield* Effect.forkScoped(processor.run(handle, pollInterval(handle.account))))
    }
    // the daily job runs once a day across every process on the store, in whichever claims it
    const leasing = yield* Leasing
    yield* Effect.forkScoped(
      onceAcrossProcesses({
        name: "job:daily",
        holder: leasing.settings.holder,
        period: "24 hours",
        checkEvery: "1 minute",
        job: store.maintenance
      })
    )
    yield* stop.await
    yield* Effect.logInfo("stopping: each session in hand applies and commits what it holds")
    yield* Fiber.joinAll(polls)
    yield* Effect.logInfo("stopped")
  }).pipe(Effect.scoped, Effect.provide(leasedCoreLayer(config, true)))
