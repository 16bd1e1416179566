import { afterAll, assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layer } from "../../../src/adapters/store/sqlite.js"
import { conformance } from "./conformance.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-sqlite-"))
let count = 0
const file = () => path.join(dir, "data", `store-${count}.db`)

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

conformance({
  name: "SQLite file",
  layer: () => {
    count += 1
    return layer({ filename: file() })
  },
  reopen: () => layer({ filename: file() }),
  pooled: false
})

describe("SQLite file settings", () => {
  const pragma = (name: string) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<Record<string, unknown>>(`PRAGMA ${name}`)).pipe(
      Effect.map((rows) => Object.values(rows[0]!)[0])
    )

  it.effect("a new file gets 16 KB pages and WAL; an existing file keeps its page size", () =>
    Effect.gen(function* () {
      const fresh = path.join(dir, "settings", "fresh.db")
      const settings = Effect.all([pragma("page_size"), pragma("journal_mode"), pragma("synchronous")])
      assert.deepStrictEqual(yield* settings.pipe(Effect.provide(layer({ filename: fresh }))), [16384, "wal", 2])
      assert.deepStrictEqual(yield* settings.pipe(Effect.provide(layer({ filename: fresh, pageSize: 4096 }))), [
        16384,
        "wal",
        2
      ])
      const small = path.join(dir, "settings", "small.db")
      assert.deepStrictEqual(yield* settings.pipe(Effect.provide(layer({ filename: small, pageSize: 4096 }))), [
        4096,
        "wal",
        2
      ])
      assert.deepStrictEqual(yield* settings.pipe(Effect.provide(layer({ filename: small }))), [4096, "wal", 2])
    })
  )
})
