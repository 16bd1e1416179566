import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { postfixDsn } from "../support/mails.js"

const root = path.resolve(__dirname, "../..")

describe("the library example", () => {
  it("embeds the processor with its own store layer and quarantines a hard bounce", () => {
    assert.isTrue(
      fs.existsSync(path.join(root, "dist/src/index.js")),
      "the package is built by npm ci (prepare) or npm run build"
    )
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-embed-"))
    fs.mkdirSync(path.join(folder, "new"), { recursive: true })
    fs.writeFileSync(
      path.join(folder, "new", "1700000000.1.host"),
      postfixDsn({
        recipients: [{ address: "alice@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 no such user" }]
      })
    )
    const result = spawnSync(process.execPath, ["--import", "tsx", "examples/embed.ts", folder], {
      cwd: root,
      encoding: "utf8",
      timeout: 120_000
    })
    assert.strictEqual(result.status, 0, result.stderr)
    const output = JSON.parse(result.stdout.trim().split("\n").pop()!)
    assert.deepStrictEqual(output, { retrieved: 1, quarantined: ["alice@receiver.example"], status: "quarantined" })
    assert.deepStrictEqual(fs.readdirSync(path.join(folder, "new")), [])
  })
})
