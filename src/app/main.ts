import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Logger } from "effect"
import { startupLogger } from "./app.js"
import { rebound } from "./cli.js"
import { packageVersion } from "./http/package-version.js"
import { runMain } from "./stop.js"

const cli = Command.run(rebound, { name: "rebound", version: packageVersion() })

cli(process.argv).pipe(
  // @effect/cli has already printed what is wrong with the command line
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => void (process.exitCode = 1))),
  Effect.provide(NodeContext.layer),
  // until a command installs the configured logger: logs and errors go to stderr, never into command output
  Effect.provide(Logger.replace(Logger.defaultLogger, startupLogger)),
  runMain({ disablePrettyLogger: true })
)
