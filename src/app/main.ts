import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { createRequire } from "node:module"
import { rebound } from "./cli.js"

const { version } = createRequire(import.meta.url)("../../package.json") as { version: string }

const cli = Command.run(rebound, { name: "rebound", version })

cli(process.argv).pipe(Effect.provide(NodeContext.layer), NodeRuntime.runMain({ disablePrettyLogger: true }))
