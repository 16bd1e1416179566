import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Either, Option } from "effect"
import {
  decodeMessageId,
  decodeVerp,
  encodeMessageId,
  encodeVerp,
  type SigningKey,
  type TokenRejected,
  type VerifiedToken
} from "../../domain/codec.js"
import type { SignedIds } from "../../domain/report.js"
import type { AppConfig } from "../config.js"
import { configOption } from "./shared.js"
import { CliError, type Column, printErr, printOut, renderRows, reportFailure, setExitCode } from "./format.js"
import { formatOption, loadCliConfig } from "./options.js"

const keyIdOption = Options.text("key-id").pipe(
  Options.withDescription("the id of the signing key to use (default: the first configured key; decode: all of them)"),
  Options.optional
)
const domainOption = (what: string) =>
  Options.text("domain").pipe(Options.withDescription(`${what} (default: signing.domain)`), Options.optional)

const idsOptions = {
  delivery: Options.text("delivery").pipe(Options.withDescription("the delivery (campaign, mailing) id")),
  recipient: Options.text("recipient").pipe(Options.withDescription("the recipient's id in that delivery")),
  instance: Options.text("instance").pipe(
    Options.withDescription("the rebound instance that will read the bounces (default: instance)"),
    Options.optional
  )
}

const noKeys =
  'no signing keys are configured: set signing.keys in the configuration file, or REBOUND_SIGNING_KEYS=\'[{"id":"k1","secret":"at least 16 characters"}]\''

/** The keys a command signs or verifies with: all configured keys, or the one `--key-id` names. */
const keysOf = (config: AppConfig, keyId: Option.Option<string>) =>
  Effect.gen(function* () {
    const keys = config.signing.keys
    if (Option.isNone(keyId)) return keys
    const key = keys.find((candidate) => candidate.id === keyId.value)
    if (key === undefined) {
      const known = keys.length === 0 ? noKeys : `the configured keys are ${keys.map((k) => k.id).join(", ")}`
      return yield* new CliError({ reason: "Signing", message: `no signing key has the id "${keyId.value}"; ${known}` })
    }
    return [key]
  })

const signingKey = (config: AppConfig, keyId: Option.Option<string>) =>
  Effect.flatMap(keysOf(config, keyId), (keys): Effect.Effect<SigningKey, CliError> => {
    const key = keys[0]
    return key === undefined ? Effect.fail(new CliError({ reason: "Signing", message: noKeys })) : Effect.succeed(key)
  })

/** The domain given on the command line, else the configured signing domain. */
const domainOf = (domain: Option.Option<string>, config: AppConfig): string | undefined =>
  Option.getOrUndefined(Option.orElse(domain, () => Option.fromNullable(config.signing.domain)))

const requireDomain = (domain: Option.Option<string>, config: AppConfig) => {
  const chosen = domainOf(domain, config)
  return chosen === undefined || chosen.trim() === ""
    ? Effect.fail(new CliError({ reason: "Usage", message: "name the domain with --domain, or set signing.domain" }))
    : Effect.succeed(chosen.trim())
}

const idsFrom = (
  config: AppConfig,
  options: { readonly delivery: string; readonly recipient: string; readonly instance: Option.Option<string> }
): SignedIds => ({
  instance: Option.getOrElse(options.instance, () => config.instance),
  deliveryId: options.delivery,
  recipientId: options.recipient
})

/** One decoded value: the ids it carries, and whether its MAC verified with one of our keys. */
interface Decoded {
  readonly input: string
  readonly result: Either.Either<VerifiedToken, TokenRejected>
}

const carried = (decoded: Decoded): SignedIds | null =>
  Either.match(decoded.result, { onLeft: (error) => error.claimed, onRight: (token) => token.ids })

const decodedColumns: ReadonlyArray<Column<Decoded>> = [
  { key: "input", header: "INPUT", value: (d) => d.input },
  { key: "verified", header: "VERIFIED", value: (d) => Either.isRight(d.result) },
  {
    key: "keyId",
    header: "KEY",
    value: (d) => Either.match(d.result, { onLeft: (error) => error.keyId, onRight: (token) => token.keyId })
  },
  { key: "instance", header: "INSTANCE", value: (d) => carried(d)?.instance ?? null },
  { key: "deliveryId", header: "DELIVERY", value: (d) => carried(d)?.deliveryId ?? null },
  { key: "recipientId", header: "RECIPIENT", value: (d) => carried(d)?.recipientId ?? null },
  { key: "rejection", header: "REJECTION", value: (d) => (Either.isLeft(d.result) ? d.result.left.reason : null) },
  { key: "problem", header: "PROBLEM", value: (d) => (Either.isLeft(d.result) ? d.result.left.message : null) }
]

/** Prints decoded values; exit code 1 when any of them did not verify. */
const printDecoded = (format: "table" | "json" | "csv", decoded: ReadonlyArray<Decoded>, keys: number) =>
  Effect.gen(function* () {
    if (keys === 0) yield* printErr(`rebound: ${noKeys}\n`)
    yield* printOut(renderRows(format, decodedColumns, decoded))
    if (decoded.some((d) => Either.isLeft(d.result))) yield* setExitCode(1)
  })

const messageIdEncode = Command.make(
  "encode",
  {
    config: configOption,
    keyId: keyIdOption,
    domain: domainOption("the domain after the @ of the Message-ID"),
    ...idsOptions
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        const key = yield* signingKey(config, options.keyId)
        const domain = yield* requireDomain(options.domain, config)
        yield* printOut(encodeMessageId(idsFrom(config, options), key, domain) + "\n")
      })
    )
).pipe(Command.withDescription("Print a signed Message-ID <payload.mac@domain> for one recipient of a delivery."))

const messageIdDecode = Command.make(
  "decode",
  {
    config: configOption,
    keyId: keyIdOption,
    domain: domainOption("the domain the Message-ID must have"),
    format: formatOption,
    values: Args.text({ name: "MESSAGE_ID" }).pipe(
      Args.withDescription("a Message-ID (with or without <>) or a bare payload.mac stamp"),
      Args.atLeast(1)
    )
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        const keys = yield* keysOf(config, options.keyId)
        const domain = domainOf(options.domain, config)
        const decoded = options.values.map((input) => ({
          input,
          result: decodeMessageId(input, keys, domain === undefined ? {} : { domain })
        }))
        yield* printDecoded(options.format, decoded, keys.length)
      })
    )
).pipe(
  Command.withDescription(
    "Print the ids a signed Message-ID carries and whether its MAC verified; exit code 1 if one did not."
  )
)

const localPartOption = Options.text("local-part").pipe(
  Options.withDescription("the local part before the + (default: signing.verpLocalPart, bounce)"),
  Options.optional
)

const verpEncode = Command.make(
  "encode",
  {
    config: configOption,
    keyId: keyIdOption,
    domain: domainOption("the domain of the VERP address"),
    localPart: localPartOption,
    ...idsOptions
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        const key = yield* signingKey(config, options.keyId)
        const domain = yield* requireDomain(options.domain, config)
        const localPart = Option.getOrElse(options.localPart, () => config.signing.verpLocalPart)
        yield* printOut(encodeVerp(idsFrom(config, options), key, { localPart, domain }) + "\n")
      })
    )
).pipe(Command.withDescription("Print a signed VERP envelope sender localpart+token@domain for one recipient."))

const verpDecode = Command.make(
  "decode",
  {
    config: configOption,
    keyId: keyIdOption,
    domain: domainOption("the domain the VERP address must have"),
    localPart: localPartOption,
    format: formatOption,
    values: Args.text({ name: "ADDRESS" }).pipe(
      Args.withDescription("a VERP address, bare, in <>, or with a display name"),
      Args.atLeast(1)
    )
  },
  (options) =>
    reportFailure(
      Effect.gen(function* () {
        const config = yield* loadCliConfig(options.config)
        const keys = yield* keysOf(config, options.keyId)
        const domain = domainOf(options.domain, config)
        const localPart = Option.getOrElse(options.localPart, () => config.signing.verpLocalPart)
        const decoded = options.values.map((input) => ({
          input,
          result: decodeVerp(input, keys, { localPart, ...(domain === undefined ? {} : { domain }) })
        }))
        yield* printDecoded(options.format, decoded, keys.length)
      })
    )
).pipe(
  Command.withDescription(
    "Print the ids a VERP address carries and whether its MAC verified; exit code 1 if one did not."
  )
)

/** `rebound messageid encode|decode`. */
export const messageIdCommand = Command.make("messageid").pipe(
  Command.withDescription("Signed Message-IDs: make one, or read and verify one."),
  Command.withSubcommands([messageIdEncode, messageIdDecode])
)

/** `rebound verp encode|decode`. */
export const verpCommand = Command.make("verp").pipe(
  Command.withDescription("Signed VERP envelope senders: make one, or read and verify one."),
  Command.withSubcommands([verpEncode, verpDecode])
)
