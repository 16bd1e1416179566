import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { encodeMessageId } from "../../../src/domain/codec.js"
import { fill, removeWorkspace, secret, signingDomain, signingKey, workspace } from "./fixture.js"

const bin = path.resolve(__dirname, "../../../bin/rebound.js")
const { REBOUND_CONFIG: _, ...environment } = process.env

const rebound = (args: ReadonlyArray<string>, options: { env?: Record<string, string>; cwd?: string } = {}) =>
  Effect.sync(() =>
    spawnSync(process.execPath, [bin, ...args], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...environment, ...options.env },
      ...(options.cwd === undefined ? {} : { cwd: options.cwd })
    })
  )

describe("the rebound binary", () => {
  const ws = workspace()
  afterAll(() => removeWorkspace(ws))

  it.effect(
    "lists and decodes from a real process: output on stdout, errors on stderr, exit codes",
    () =>
      Effect.gen(function* () {
        yield* fill(ws)
        const list = yield* rebound([
          "quarantine",
          "list",
          "--status",
          "all",
          "--format",
          "json",
          "--config",
          ws.config
        ])
        assert.strictEqual(list.status, 0, list.stderr)
        assert.lengthOf(JSON.parse(list.stdout), 10)

        const badFormat = yield* rebound(["quarantine", "list", "--format", "xml", "--config", ws.config])
        assert.notStrictEqual(badFormat.status, 0)
        assert.include(badFormat.stderr, "Expected one of the following cases: table, json, csv")

        // no configuration file at all: the keys come from the environment alone
        const empty = path.join(ws.dir, "empty")
        fs.mkdirSync(empty)
        const messageId = encodeMessageId(
          { instance: "rebound", deliveryId: "D1", recipientId: "R1" },
          signingKey,
          signingDomain
        )
        const keys = { REBOUND_SIGNING_KEYS: JSON.stringify([{ id: signingKey.id, secret }]) }
        // a forged token: exit code 1, its row on stdout
        const forged = messageId.replace(/.@/, (m) => (m[0] === "a" ? "b@" : "a@"))
        const bad = yield* rebound(["messageid", "decode", forged], { env: keys, cwd: empty })
        assert.strictEqual(bad.status, 1)
        assert.match(bad.stdout, /bad-signature/)
      }),
    120_000
  )
})
