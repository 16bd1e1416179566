import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Context, Effect, type Scope, Layer, Redacted, TestClock } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { AccountLeases, layerMemory } from "../../../src/adapters/store/leases.js"
import * as PostgresStore from "../../../src/adapters/store/postgres.js"
import * as SqliteStore from "../../../src/adapters/store/sqlite.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"

/** How a backend's time passes: Effect's Clock (moved by TestClock) or the database server's (real time). */
interface LeaseBackend {
  readonly name: string
  readonly layer: () => Layer.Layer<AccountLeases, unknown>
  /** a second, independent connection to the same leases (another process), when the backend has one */
  readonly other?: () => Layer.Layer<AccountLeases, unknown>
  readonly clock: "effect" | "server"
}

const ttl = 600

/** Lets `millis` pass on the backend's clock. */
const pass = (backend: LeaseBackend, millis: number) =>
  backend.clock === "effect"
    ? TestClock.adjust(millis)
    : Effect.promise(() => new Promise((r) => setTimeout(r, millis)))

const leaseConformance = (backend: LeaseBackend) =>
  describe(`leases: ${backend.name}`, () => {
    const test = (name: string, body: Effect.Effect<void, unknown, AccountLeases | Scope.Scope>) =>
      (backend.clock === "effect" ? it.effect : it.live)(name, () =>
        Effect.provide(body, backend.layer()).pipe(Effect.scoped)
      )

    test(
      "a free lease is taken; another holder is refused and told who holds it and for how long",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        const first = yield* leases.acquire("account:a", "p1", ttl)
        assert.isTrue(first.held)
        const second = yield* leases.acquire("account:a", "p2", ttl)
        assert.isFalse(second.held)
        assert.strictEqual(second.lease.holder, "p1")
        assert.isTrue(second.lease.remainingMillis > 0 && second.lease.remainingMillis <= ttl)
        assert.isTrue((yield* leases.acquire("account:b", "p2", ttl)).held, "another name is independent")
      })
    )

    test(
      "the holder renews and re-acquires its own lease; others cannot renew it",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        yield* leases.acquire("account:a", "p1", ttl)
        yield* pass(backend, ttl / 2)
        assert.isTrue(yield* leases.renew("account:a", "p1", ttl))
        assert.isFalse(yield* leases.renew("account:a", "p2", ttl))
        yield* pass(backend, ttl / 2 + 100)
        // renewed half-way: still held after the first ttl has gone by
        assert.isFalse((yield* leases.acquire("account:a", "p2", ttl)).held)
        assert.isTrue((yield* leases.acquire("account:a", "p1", ttl)).held)
      })
    )

    test(
      "an expired lease is taken over, and its old holder's renewal then fails",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        yield* leases.acquire("account:a", "p1", ttl)
        yield* pass(backend, ttl + 100)
        const [entry] = yield* leases.list("account:a")
        assert.isTrue(entry!.remainingMillis <= 0, "listed as expired")
        assert.isTrue((yield* leases.acquire("account:a", "p2", ttl)).held)
        assert.isFalse(yield* leases.renew("account:a", "p1", ttl))
        assert.strictEqual((yield* leases.acquire("account:a", "p1", ttl)).lease.holder, "p2")
      })
    )

    test(
      "a released lease is free at once; releasing someone else's lease does nothing",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        yield* leases.acquire("account:a", "p1", ttl)
        yield* leases.release("account:a", "p2")
        assert.isFalse((yield* leases.acquire("account:a", "p2", ttl)).held)
        yield* leases.release("account:a", "p1")
        assert.isTrue((yield* leases.acquire("account:a", "p2", ttl)).held)
      })
    )

    test(
      "a claim succeeds once per period, even for the same holder",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        assert.isTrue(yield* leases.claim("job:daily", "p1", ttl))
        assert.isFalse(yield* leases.claim("job:daily", "p1", ttl))
        assert.isFalse(yield* leases.claim("job:daily", "p2", ttl))
        yield* pass(backend, ttl + 100)
        assert.isTrue(yield* leases.claim("job:daily", "p2", ttl))
        assert.isFalse(yield* leases.claim("job:daily", "p1", ttl))
      })
    )

    test(
      "list reads a prefix literally (no LIKE wildcards)",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        yield* leases.acquire("process:a_1", "p1", ttl)
        yield* leases.acquire("process:a_2", "p2", ttl)
        yield* leases.acquire("processXa_3", "p3", ttl)
        yield* leases.acquire("account:a", "p1", ttl)
        const listed = yield* leases.list("process:")
        assert.deepStrictEqual(
          listed.map((lease) => [lease.name, lease.holder]),
          [
            ["process:a_1", "p1"],
            ["process:a_2", "p2"]
          ]
        )
        assert.deepStrictEqual(
          (yield* leases.list("process:a_")).map((lease) => lease.name),
          ["process:a_1", "process:a_2"]
        )
      })
    )

    test(
      "twenty holders racing for one lease: exactly one wins",
      Effect.gen(function* () {
        const leases = yield* AccountLeases
        const attempts = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `p${i}`),
          (holder) => leases.acquire("account:race", holder, ttl),
          { concurrency: "unbounded" }
        )
        const winners = attempts.filter((attempt) => attempt.held)
        assert.strictEqual(winners.length, 1)
        const holder = winners[0]!.lease.holder
        for (const attempt of attempts) if (!attempt.held) assert.strictEqual(attempt.lease.holder, holder)
      })
    )

    if (backend.other !== undefined) {
      const other = backend.other
      test(
        "two connections (two processes) racing for the same leases: each lease has one holder",
        Effect.gen(function* () {
          const here = yield* AccountLeases
          const there = Context.get(yield* Layer.build(other()), AccountLeases)
          const names = Array.from({ length: 30 }, (_, i) => `account:${i}`)
          const results = yield* Effect.all(
            [
              Effect.forEach(names, (name) => here.acquire(name, "here", ttl), { concurrency: 4 }),
              Effect.forEach(names, (name) => there.acquire(name, "there", ttl), { concurrency: 4 })
            ],
            { concurrency: 2 }
          )
          for (const [index] of names.entries()) {
            assert.strictEqual(
              Number(results[0][index]!.held) + Number(results[1][index]!.held),
              1,
              `one holder of ${names[index]}`
            )
          }
          const listed = yield* there.list("account:")
          assert.strictEqual(listed.length, 30)
        })
      )
    }
  })

leaseConformance({ name: "memory", layer: () => layerMemory, clock: "effect" })

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-leases-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
let files = 0
let file = ""
leaseConformance({
  name: "SQLite file",
  layer: () => {
    files += 1
    file = path.join(dir, `leases-${files}.db`)
    return SqliteStore.layer({ filename: file })
  },
  other: () => SqliteStore.layer({ filename: file }),
  clock: "effect"
})

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)
describe.skipIf(skip)("PostgreSQL", () => {
  let server: PostgresServer | undefined
  let databases = 0
  let url = ""
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())
  leaseConformance({
    name: "PostgreSQL",
    layer: () => {
      databases += 1
      url = server!.createDatabase(`leases_${databases}`)
      return PostgresStore.layer({ url: Redacted.make(url), maxConnections: 8 })
    },
    other: () => PostgresStore.layer({ url: Redacted.make(url), maxConnections: 4 }),
    clock: "server"
  })
})
