import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit, Layer, Redacted, TestClock } from "effect"
import type { StoreError } from "../../../src/adapters/store/errors.js"
import * as MemoryStore from "../../../src/adapters/store/memory.js"
import * as PostgresStore from "../../../src/adapters/store/postgres.js"
import * as SqliteStore from "../../../src/adapters/store/sqlite.js"
import * as WorkQueue from "../../../src/adapters/store/work-queue.js"
import { SmtpWorkQueue, type SmtpWorkInput } from "../../../src/adapters/store/work-queue.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"

interface Backend {
  readonly name: string
  /** a fresh, empty store per call */
  readonly layer: () => Layer.Layer<SmtpWorkQueue, StoreError>
  readonly pooled: boolean
  /** whether claims expire on the database server's clock rather than Effect's */
  readonly serverClock: boolean
}

const mail = (n: number, recipient = `bounce+${n}@bounce.test`): SmtpWorkInput => ({
  queueId: `Q${n}`,
  sender: "",
  recipient,
  receivedAt: 1_000 + n,
  bytes: new TextEncoder().encode(`Return-Path: <>\r\nSubject: mail ${n}\r\n\r\nbody ${n}\r\n`)
})

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : new TextDecoder().decode(bytes))

const conformance = (backend: Backend) =>
  describe(`SmtpWorkQueue on ${backend.name}`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, SmtpWorkQueue>) => Effect.provide(effect, backend.layer())

    it.effect("queues copies durably with their envelope; a claim returns them oldest first, without bytes", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          const first = yield* queue.enqueue([mail(1, "a@bounce.test"), mail(1, "b@bounce.test")])
          const second = yield* queue.enqueue([mail(2)])
          assert.lengthOf(first, 2)
          assert.isTrue(first[0]! < first[1]! && first[1]! < second[0]!)
          const octets = 2 * mail(1).bytes.byteLength + mail(2).bytes.byteLength
          assert.deepStrictEqual(yield* queue.counts, { queued: 3, claimed: 0, octets })

          const claimed = yield* queue.claim({ limit: 10, holder: "p1", leaseMillis: 60_000 })
          assert.deepStrictEqual(
            claimed.map((item) => [item.id, item.recipient, item.queueId, item.claimedBy]),
            [
              [first[0], "a@bounce.test", "Q1", "p1"],
              [first[1], "b@bounce.test", "Q1", "p1"],
              [second[0], "bounce+2@bounce.test", "Q2", "p1"]
            ]
          )
          const until = backend.serverClock ? Date.now() + 60_000 : 60_000
          for (const item of claimed) assert.approximately(item.claimedUntil!, until, backend.serverClock ? 5_000 : 0)
          assert.strictEqual(claimed[0]!.sender, "")
          assert.strictEqual(claimed[0]!.receivedAt, 1_001)
          assert.strictEqual(claimed[0]!.size, mail(1).bytes.byteLength)
          assert.deepStrictEqual(yield* queue.counts, { queued: 3, claimed: 3, octets })

          const bytes = yield* queue.read(claimed.map((item) => item.id))
          assert.strictEqual(text(bytes.get(second[0]!)), text(mail(2).bytes))
          assert.strictEqual(bytes.size, 3)
        })
      )
    )

    it.effect("a claim holds rows until it expires; then another holder takes them over", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          // PostgreSQL keeps time on the server's clock: real (short) leases there, Effect's TestClock elsewhere
          const lease = backend.serverClock ? 400 : 30_000
          const wait = (millis: number) =>
            backend.serverClock
              ? Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
              : TestClock.adjust(millis)
          yield* queue.enqueue([mail(1)])
          yield* queue.enqueue([mail(2)])
          yield* queue.enqueue([mail(3)])
          const held = yield* queue.claim({ limit: 2, holder: "dead", leaseMillis: lease })
          assert.lengthOf(held, 2)
          yield* wait(lease / 4)
          const rest = yield* queue.claim({ limit: 10, holder: "alive", leaseMillis: 3 * lease })
          assert.deepStrictEqual(
            rest.map((item) => item.queueId),
            ["Q3"]
          )
          assert.lengthOf(yield* queue.claim({ limit: 10, holder: "alive", leaseMillis: 3 * lease }), 0)

          if (backend.serverClock) {
            yield* wait(lease)
          } else {
            yield* wait(lease - lease / 4)
            // at the expiry instant the claim still holds
            assert.lengthOf(yield* queue.claim({ limit: 10, holder: "alive", leaseMillis: 3 * lease }), 0)
            yield* wait(1)
          }
          const takenOver = yield* queue.claim({ limit: 10, holder: "alive", leaseMillis: 3 * lease })
          assert.deepStrictEqual(
            takenOver.map((item) => [item.queueId, item.claimedBy]),
            [
              ["Q1", "alive"],
              ["Q2", "alive"]
            ]
          )
          if (!backend.serverClock) assert.strictEqual(takenOver[0]!.claimedUntil, lease + 1 + 3 * lease)
        })
      )
    )

    it.effect("complete deletes rows (once); release frees only the holder's own claims", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          const ids = [
            ...(yield* queue.enqueue([mail(1)])),
            ...(yield* queue.enqueue([mail(2)])),
            ...(yield* queue.enqueue([mail(3)]))
          ]
          yield* queue.claim({ limit: 3, holder: "p1", leaseMillis: 60_000 })
          assert.strictEqual(yield* queue.complete([ids[0]!]), 1)
          assert.strictEqual(yield* queue.complete([ids[0]!]), 0)
          assert.strictEqual((yield* queue.read(ids)).has(ids[0]!), false)

          assert.strictEqual(yield* queue.release([ids[1]!, ids[2]!], "someone-else"), 0)
          assert.strictEqual(yield* queue.release([ids[1]!], "p1"), 1)
          const again = yield* queue.claim({ limit: 10, holder: "p2", leaseMillis: 60_000 })
          assert.deepStrictEqual(
            again.map((item) => item.id),
            [ids[1]]
          )
          assert.deepStrictEqual(yield* queue.counts, {
            queued: 2,
            claimed: 2,
            octets: mail(2).bytes.byteLength + mail(3).bytes.byteLength
          })
        })
      )
    )

    it.effect("ids are never reused, even after the queue was emptied", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          const [a, b] = yield* queue.enqueue([mail(1), mail(2)])
          assert.strictEqual(yield* queue.complete([a!, b!]), 2)
          const [c] = yield* queue.enqueue([mail(3)])
          assert.isTrue(c! > b!, `id ${c} after ${b}`)
        })
      )
    )

    it.effect("the copies of one mail are queued all or none", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          const broken = { ...mail(2), sender: null as unknown as string }
          const exit = yield* Effect.exit(queue.enqueue([mail(1), broken]))
          assert.isTrue(Exit.isFailure(exit))
          assert.deepStrictEqual(yield* queue.counts, { queued: 0, claimed: 0, octets: 0 })
        })
      )
    )

    it.effect("a claim without a positive limit or lease is refused", () =>
      run(
        Effect.gen(function* () {
          const queue = yield* SmtpWorkQueue
          const error = yield* Effect.flip(queue.claim({ limit: 0, holder: "p1", leaseMillis: 1000 }))
          assert.strictEqual(error.reason, "InvalidInput")
          const lease = yield* Effect.flip(queue.claim({ limit: 5, holder: "p1", leaseMillis: 0 }))
          assert.strictEqual(lease.reason, "InvalidInput")
        })
      )
    )

    if (backend.pooled) {
      it.live("concurrent claimers get disjoint rows, and together every row exactly once", () =>
        run(
          Effect.gen(function* () {
            const queue = yield* SmtpWorkQueue
            const queued = yield* Effect.forEach(
              Array.from({ length: 200 }, (_, n) => n),
              (n) => queue.enqueue([mail(n)])
            )
            const holders = ["p1", "p2", "p3", "p4"]
            // one claim each at once first, so every claimer takes part however the scheduler orders the loops below
            const firstClaims = yield* Effect.all(
              holders.map((holder) => queue.claim({ limit: 7, holder, leaseMillis: 600_000 })),
              { concurrency: "unbounded" }
            )
            let total = firstClaims.reduce((sum, items) => sum + items.length, 0)
            // an empty claim only means every free row is locked by another claimer right now: go on until all is taken
            const claimer = (
              holder: string,
              first: ReadonlyArray<{ readonly id: number; readonly claimedBy: string | null }>
            ) =>
              Effect.gen(function* () {
                const mine: Array<number> = first.map((item) => item.id)
                for (const item of first) assert.strictEqual(item.claimedBy, holder)
                while (total < queued.length) {
                  const items = yield* queue.claim({ limit: 7, holder, leaseMillis: 600_000 })
                  for (const item of items) assert.strictEqual(item.claimedBy, holder)
                  mine.push(...items.map((item) => item.id))
                  total += items.length
                  if (items.length === 0) yield* Effect.sleep("5 millis")
                }
                return mine
              })
            const byHolder = yield* Effect.all(
              holders.map((holder, n) => claimer(holder, firstClaims[n])),
              { concurrency: "unbounded" }
            )
            const all = byHolder.flat()
            assert.strictEqual(new Set(all).size, all.length, "a row was claimed twice")
            assert.deepStrictEqual(
              [...all].sort((a, b) => a - b),
              queued.flat().sort((a, b) => a - b)
            )
            // claims made at the same moment were all served, none blocked out by another's locks
            for (const items of firstClaims) assert.strictEqual(items.length, 7)
          })
        )
      )
    }
  })

conformance({
  name: "memory",
  layer: () => WorkQueue.layer.pipe(Layer.provide(MemoryStore.layer())),
  pooled: false,
  serverClock: false
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-work-"))
let files = 0
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

conformance({
  name: "SQLite file",
  layer: () => WorkQueue.layer.pipe(Layer.provide(SqliteStore.layer({ filename: path.join(dir, `q${++files}.db`) }))),
  pooled: false,
  serverClock: false
})

const skipPostgres = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

describe.skipIf(skipPostgres)("PostgreSQL", () => {
  let server: PostgresServer | undefined
  let databases = 0
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())

  conformance({
    name: "PostgreSQL",
    layer: () =>
      WorkQueue.layer.pipe(
        Layer.provide(
          PostgresStore.layer({
            url: Redacted.make(server!.createDatabase(`work_${++databases}`)),
            maxConnections: 6
          })
        )
      ),
    pooled: true,
    serverClock: true
  })
})
