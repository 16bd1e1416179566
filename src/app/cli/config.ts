import * as Command from "@effect/cli/Command"
import { Effect, JSONSchema, Option } from "effect"
import { AppConfig, environmentVariables, loadConfig, printable } from "../config.js"
import { trustNotice } from "../daemon.js"
import { configOption } from "./shared.js"

const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

/** The JSON Schema of rebound.config.json, for editors ("$schema": "./rebound.config.schema.json"). */
export const configJsonSchema = () => JSONSchema.make(AppConfig)

const check = Command.make("check", { config: configOption }, ({ config }) =>
  loadConfig(Option.getOrUndefined(config)).pipe(
    Effect.flatMap(({ config: loaded, source }) =>
      write(
        [
          `# configuration: ${source ?? "none found: the embedded defaults"}, with the REBOUND_* environment over it`,
          `# ${trustNotice(loaded)}`,
          JSON.stringify(printable(loaded), null, 2),
          ""
        ].join("\n")
      )
    ),
    Effect.catchTag("ConfigFileError", (error) =>
      Effect.zipRight(
        Effect.sync(() => void process.stderr.write(`rebound: invalid configuration\n${error.message}\n`)),
        Effect.sync(() => void (process.exitCode = 1))
      )
    )
  )
).pipe(
  Command.withDescription(
    "Validate the configuration and print the effective one (file, environment overrides, defaults) with secrets hidden; exit 1 when it is invalid."
  )
)

const schema = Command.make("schema", {}, () => write(JSON.stringify(configJsonSchema(), null, 2) + "\n")).pipe(
  Command.withDescription("Print the JSON Schema of rebound.config.json.")
)

const environment = Command.make("env", {}, () =>
  write(
    environmentVariables()
      .map((variable) => `${variable.name}\t${variable.kind}`)
      .join("\n") + "\n"
  )
).pipe(
  Command.withDescription(
    "List the environment variables that override configuration keys (json: a JSON value, e.g. REBOUND_ACCOUNTS)."
  )
)

export const configCommand = Command.make("config").pipe(
  Command.withDescription("Check the configuration, print its JSON Schema or its environment variables."),
  Command.withSubcommands([check, schema, environment])
)
