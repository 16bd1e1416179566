import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { layer } from "../../../src/adapters/store/postgres.js"
import { postgresBinDir, postgresInstall, type PostgresServer, startPostgres } from "../../support/postgres.js"
import { skipWithout } from "../../support/services.js"
import { conformance } from "./conformance.js"

const skip = skipWithout(postgresBinDir() !== undefined, "PostgreSQL", postgresInstall)

describe.skipIf(skip)("PostgreSQL store", () => {
  let server: PostgresServer | undefined
  let count = 0
  let url = ""
  beforeAll(async () => {
    server = await startPostgres()
  })
  afterAll(() => server?.stop())

  conformance({
    name: "PostgreSQL",
    layer: () => {
      count += 1
      url = server!.createDatabase(`conformance_${count}`)
      return layer({ url: Redacted.make(url), maxConnections: 4 })
    },
    reopen: () => layer({ url: Redacted.make(url), maxConnections: 4 }),
    pooled: true
  })

  it.live("processes started together on a new database all come up: one migrates, the others wait for it", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 3; round++) {
        const fresh = server!.createDatabase(`together_${round}`)
        const starts = Array.from({ length: 4 }, () =>
          Effect.exit(Effect.scoped(Layer.build(layer({ url: Redacted.make(fresh), maxConnections: 2 }))))
        )
        const exits = yield* Effect.all(starts, { concurrency: "unbounded" })
        assert.deepStrictEqual(
          exits.map((exit) => (Exit.isSuccess(exit) ? "up" : String(exit.cause))),
          ["up", "up", "up", "up"]
        )
      }
    })
  )
})
