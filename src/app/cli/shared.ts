import * as Options from "@effect/cli/Options"
import { Effect, FiberRef, Layer, LogLevel, Option } from "effect"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { loggerLayer } from "../app.js"
import { type AppConfig, loadConfig } from "../config.js"

/** --config FILE, shared by every command that reads the configuration. */
export const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("the configuration file (default: $REBOUND_CONFIG, else ./rebound.config.json if present)"),
  Options.optional
)

/**
 * Loads the configuration named by --config and runs `use` with it, logging as the configuration says. @effect/cli
 * runs a command with --log-level as its minimum log level: a level other than the default (info) set that way
 * wins over the configuration's `log.level`.
 */
export const withConfig = <A, E, R>(
  file: Option.Option<string>,
  use: (config: AppConfig, source: string | null) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(
    Effect.zip(loadConfig(Option.getOrUndefined(file)), FiberRef.get(FiberRef.currentMinimumLogLevel)),
    ([{ config, source }, minimum]) =>
      use(config, source).pipe(
        Effect.provide(
          Layer.merge(loggerLayer(config, minimum === LogLevel.Info ? undefined : minimum), NodeContext.layer)
        )
      )
  )
