import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Either,
  Fiber,
  Layer,
  Option,
  Ref,
  Schedule,
  type Scope
} from "effect"
import { randomBytes } from "node:crypto"
import * as os from "node:os"
import type { StoreError } from "../adapters/store/errors.js"
import { AccountLeases, type Lease } from "../adapters/store/leases.js"

/** How this process takes part in sharing work with others on the same store. */
export interface LeaseSettings {
  /** who this process is in the leases table: unique per process (see `holderId`) */
  readonly holder: string
  /** how long a lease lasts without renewal: a dead holder's accounts are taken over within `ttl + ttl / 3` */
  readonly ttl: Duration.Duration
  /** how many leased accounts the processes share (each takes at most its share of them) */
  readonly accounts: number
  /** whether this process counts among those that share the accounts (`rebound run`), or only visits (`once`) */
  readonly member: boolean
}

/** A per-process holder id: the configured instance, host name, pid and a random part (pids are reused). */
export const holderId = (instance: string): string =>
  `${instance}@${os.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`

/**
 * Whether `holder` (a `holderId`) is a process of this machine that no longer runs: its leases need not be waited
 * out, so a single process restarted after a crash (systemd, SIGKILL) resumes at once instead of after the ttl.
 * Same host name and a pid that `kill(pid, 0)` does not find; this process's own pid counts as alive (several holders
 * inside one process in tests). Containers that share a host name but not a pid namespace need distinct host
 * names (docs/scale-out.md).
 */
export const isDeadLocalHolder = (holder: string): boolean => {
  const match = /@([^@:]+):(\d+):[0-9a-f]+$/.exec(holder)
  if (match === null || match[1] !== os.hostname()) return false
  const pid = Number(match[2])
  if (pid === process.pid || !Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH"
  }
}

/**
 * How often a process looks for accounts to take and counts the live processes: every second, or every third of the
 * ttl if that is shorter. An account is taken over within ttl + this after its holder died; a newly started process
 * gets its share within about this (and the current batch of the process that hands it over).
 */
export const lookEvery = (ttl: Duration.Duration): Duration.Duration =>
  Duration.millis(Math.max(10, Math.min(1000, Math.floor(Duration.toMillis(ttl) / 3))))

/** A lease this process holds for as long as the scope that took it lives. */
export interface HeldLease {
  readonly name: string
  /** Whether to go on: false once the lease is lost (or, for an account, to be handed to a newer process). */
  readonly keep: Effect.Effect<boolean>
  /** Completes when the lease is lost. */
  readonly lost: Effect.Effect<void>
}

/** The lease of an account (POP3 or Maildir). */
export const accountLease = (account: string) => `account:${account}`
const processLease = (holder: string) => `process:${holder}`

/**
 * This process's side of the leases: it shows it is alive ("process:<holder>", renewed every `ttl / 3`), holds the
 * accounts it empties, at most its fair share (the leased accounts divided by the live processes, rounded up), and
 * hands over the ones beyond its share when another process starts, so several processes divide the work.
 */
export class Leasing extends Context.Tag("rebound/App/Leasing")<
  Leasing,
  {
    readonly settings: LeaseSettings
    /** how often a process looks for free accounts and counts the live processes */
    readonly retryEvery: Duration.Duration
    /**
     * Takes an account's lease if it is free and within this process's share; renewed while the scope lives,
     * released when it closes. None: another process holds it, or this process has its share.
     */
    readonly account: (name: string) => Effect.Effect<Option.Option<HeldLease>, StoreError, Scope.Scope>
    /** Takes a lease regardless of shares (`rebound once`); Left: the lease as another process holds it. */
    readonly hold: (name: string) => Effect.Effect<Either.Either<HeldLease, Lease>, StoreError, Scope.Scope>
    /** The accounts whose leases this process holds now (what its status board, and so its alerts, speak for). */
    readonly held: Effect.Effect<ReadonlySet<string>>
  }
>() {}

export const make = (settings: LeaseSettings) =>
  Effect.gen(function* () {
    const leases = yield* AccountLeases
    const { holder, ttl } = settings
    const ttlMillis = Duration.toMillis(ttl)
    const renewEvery = Duration.millis(Math.max(10, Math.floor(ttlMillis / 3)))
    const retryEvery = lookEvery(ttl)
    const accounts = yield* Ref.make(new Set<string>())
    const liveProcesses = yield* Ref.make(1)
    const deciding = yield* Effect.makeSemaphore(1)

    const membership = processLease(holder)
    const countLive = Effect.gen(function* () {
      yield* leases.acquire(membership, holder, ttl)
      const live = yield* leases.list("process:")
      const dead = live.filter((lease) => lease.remainingMillis > 0 && isDeadLocalHolder(lease.holder))
      yield* Effect.forEach(dead, (lease) => leases.release(lease.name, lease.holder), { discard: true })
      yield* Ref.set(liveProcesses, live.filter((lease) => lease.remainingMillis > 0).length - dead.length)
    })

    /** Takes `name`; a lease of a dead process of this machine is released first rather than waited out. */
    const acquire = (name: string) =>
      Effect.gen(function* () {
        const attempt = yield* leases.acquire(name, holder, ttl)
        if (attempt.held || !isDeadLocalHolder(attempt.lease.holder)) return attempt
        yield* Effect.logInfo(`lease ${name}: its holder ${attempt.lease.holder} no longer runs, taken over`)
        yield* leases.release(name, attempt.lease.holder)
        return yield* leases.acquire(name, holder, ttl)
      })

    const shareOf = (live: number) => Math.max(1, Math.ceil(settings.accounts / Math.max(1, live)))

    /** Renews `name` every `ttl / 3` until the scope closes; lost when renewal is refused or fails for a whole ttl. */
    const keepAlive = (name: string) =>
      Effect.gen(function* () {
        const lost = yield* Deferred.make<void>()
        const lastRenewed = yield* Ref.make(yield* Clock.currentTimeMillis)
        const renewOnce = Effect.gen(function* () {
          // the time before asking: the server's renewal is later, so the lease lasts at least until then + ttl
          const asked = yield* Clock.currentTimeMillis
          const renewed = yield* leases.renew(name, holder, ttl).pipe(Effect.either)
          if (Either.isRight(renewed) && renewed.right) return yield* Ref.set(lastRenewed, asked)
          if (Either.isRight(renewed)) {
            yield* Effect.logWarning(`lease ${name} was taken by another process`)
            return yield* Deferred.succeed(lost, undefined)
          }
          yield* Effect.logWarning(`renewing lease ${name} failed: ${renewed.left.message}`)
          if (asked - (yield* Ref.get(lastRenewed)) >= ttlMillis) {
            yield* Effect.logWarning(`lease ${name} not renewed for ${Duration.format(ttl)}: given up`)
            yield* Deferred.succeed(lost, undefined)
          }
        })
        const heartbeat = yield* renewOnce.pipe(
          Effect.repeat(Schedule.spaced(renewEvery)),
          Effect.delay(renewEvery),
          Effect.forkScoped
        )
        const isLost = Effect.gen(function* () {
          if (yield* Deferred.isDone(lost)) return true
          return (yield* Clock.currentTimeMillis) - (yield* Ref.get(lastRenewed)) >= ttlMillis
        })
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            yield* Fiber.interrupt(heartbeat)
            if (!(yield* Deferred.isDone(lost))) yield* leases.release(name, holder).pipe(Effect.ignore)
          })
        )
        return { isLost, lost: Deferred.await(lost) }
      })

    const account = (name: string) =>
      Effect.gen(function* () {
        const leaseName = accountLease(name)
        const taken = yield* deciding.withPermits(1)(
          Effect.gen(function* () {
            const full = Effect.map(
              Effect.zip(Ref.get(accounts), Ref.get(liveProcesses)),
              ([held, live]) => held.size >= shareOf(live)
            )
            if (yield* full) return false
            // counted again now: processes started together see each other before they choose
            if (settings.member) yield* countLive.pipe(Effect.ignore)
            if (yield* full) return false
            const attempt = yield* acquire(leaseName)
            if (attempt.held) yield* Ref.update(accounts, (set) => new Set(set).add(name))
            return attempt.held
          })
        )
        if (!taken) return Option.none<HeldLease>()
        yield* Effect.addFinalizer(() =>
          Ref.update(accounts, (set) => {
            const next = new Set(set)
            next.delete(name)
            return next
          })
        )
        const alive = yield* keepAlive(leaseName)
        // beyond its share, a process hands over the accounts that sort last: each process decides the same way
        const withinShare = Effect.gen(function* () {
          const share = shareOf(yield* Ref.get(liveProcesses))
          const held = [...(yield* Ref.get(accounts))].sort()
          return held.indexOf(name) < share
        })
        const keep = Effect.gen(function* () {
          if (yield* alive.isLost) return false
          return yield* withinShare
        })
        return Option.some<HeldLease>({ name: leaseName, keep, lost: alive.lost })
      })

    const hold = (name: string) =>
      Effect.gen(function* () {
        const attempt = yield* acquire(name)
        if (!attempt.held) return Either.left(attempt.lease) as Either.Either<HeldLease, Lease>
        const alive = yield* keepAlive(name)
        return Either.right({
          name,
          keep: Effect.map(alive.isLost, (lost) => !lost),
          lost: alive.lost
        })
      })

    const held: Effect.Effect<ReadonlySet<string>> = Ref.get(accounts)
    if (!settings.member) return Leasing.of({ settings, retryEvery, account, hold, held })
    // membership: the live processes divide the accounts between them
    yield* countLive.pipe(Effect.ignore)
    yield* countLive.pipe(
      Effect.catchAll((error) => Effect.logWarning(`counting live processes failed: ${error.message}`)),
      Effect.repeat(Schedule.spaced(retryEvery)),
      Effect.delay(retryEvery),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => leases.release(membership, holder).pipe(Effect.ignore))

    return Leasing.of({ settings, retryEvery, account, hold, held })
  })

/** This process's leases for as long as the layer lives. */
export const layer = (settings: LeaseSettings): Layer.Layer<Leasing, never, AccountLeases> =>
  Layer.scoped(Leasing, make(settings))

/**
 * Runs `job` once per `period` across every process on the store: each checks every `checkEvery` and the one that
 * claims the lease `name` runs it; the claim lasts the period, so the next run is due a period later, whoever runs it.
 */
export const onceAcrossProcesses = <E, R>(options: {
  readonly name: string
  readonly holder: string
  readonly period: Duration.DurationInput
  readonly checkEvery: Duration.DurationInput
  readonly job: Effect.Effect<unknown, E, R>
}): Effect.Effect<never, never, AccountLeases | R> =>
  Effect.gen(function* () {
    const leases = yield* AccountLeases
    const attempt = Effect.gen(function* () {
      if (!(yield* leases.claim(options.name, options.holder, options.period))) return
      yield* options.job
    }).pipe(Effect.catchAllCause((cause) => Effect.logError(`${options.name} failed`, cause)))
    return yield* attempt.pipe(Effect.repeat(Schedule.spaced(options.checkEvery)), Effect.zipRight(Effect.never))
  })
