/** Runs every benchmark (bench/*.bench.ts) in its own process, one after the other, and prints their figures. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const only = process.argv.slice(2)
const dir = import.meta.dirname
const benches = fs
  .readdirSync(dir)
  .filter((name) => name.endsWith(".bench.ts"))
  .filter((name) => only.length === 0 || only.some((wanted) => name.startsWith(wanted)))
  .sort()
let failed = 0
for (const bench of benches) {
  console.log(`\n== ${bench}`)
  const result = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", path.join(dir, bench)], {
    stdio: "inherit"
  })
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
