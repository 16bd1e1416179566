import * as Options from "@effect/cli/Options"
import { Effect, Layer, Option } from "effect"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { loggerLayer } from "../app.js"
import { type AppConfig, loadConfig } from "../config.js"

/** --config FILE, shared by every command that reads the configuration. */
export const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("the configuration file (default: $REBOUND_CONFIG, else ./rebound.config.json if present)"),
  Options.optional
)

/** Loads the configuration named by --config and runs `use` with it, logging as the configuration says. */
export const withConfig = <A, E, R>(
  file: Option.Option<string>,
  use: (config: AppConfig, source: string | null) => Effect.Effect<A, E, R>
) =>
  Effect.flatMap(loadConfig(Option.getOrUndefined(file)), ({ config, source }) =>
    use(config, source).pipe(Effect.provide(Layer.merge(loggerLayer(config), NodeContext.layer)))
  )
