import { afterAll, beforeAll, describe } from "@effect/vitest"
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
})
