import { afterAll } from "@effect/vitest"
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
