import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** rebound's version from its package.json, found from the sources (src/) or the build (dist/src/). */
export const packageVersion = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let depth = 0; depth < 6; depth++) {
    const file = path.join(dir, "package.json")
    if (fs.existsSync(file)) {
      const json = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string }
      if (json.name === "rebound" && typeof json.version === "string") return json.version
    }
    dir = path.dirname(dir)
  }
  return "unknown"
}
