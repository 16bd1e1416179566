import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import { Effect, Either, Option } from "effect"
import type { StoreError } from "../../adapters/store/errors.js"
import type { StoreServices } from "../../adapters/store/store.js"
import { normalizeDomain } from "../../domain/address.js"
import { loggerLayer, storeLayer } from "../app.js"
import { type AppConfig, loadConfig } from "../config.js"
import { CliError, type Format, formats } from "./format.js"

/** `--format table|json|csv`. */
export const formatOption = Options.choice("format", formats).pipe(
  Options.withDescription("table: aligned columns; json: one JSON document; csv: RFC 4180 with a header line"),
  Options.withDefault<Format>("table")
)

/** `--limit N`: at most N rows. */
export const limitOption = (rows: number) =>
  Options.integer("limit").pipe(Options.withDescription("print at most this many rows"), Options.withDefault(rows))

/** The value of `--limit`, refused below 1. */
export const checkedLimit = (limit: number): Effect.Effect<number, CliError> =>
  limit >= 1
    ? Effect.succeed(limit)
    : Effect.fail(new CliError({ reason: "Usage", message: "--limit must be at least 1" }))

/** A point in time given as a duration back from now (`7d`) or a date (`2026-01-31`, `2026-01-31T08:00Z`). */
export const timeOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("DURATION_OR_DATE"),
    Options.withDescription(
      `${description}: a duration back from now (30m, 12h, 7d, 2w) or an ISO 8601 date or date-time (UTC unless it names an offset)`
    ),
    Options.optional
  )

const unitMillis: Record<string, number> = {
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000
}

const durationSyntax = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i
const dateSyntax = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i

/** Reads a DURATION_OR_DATE value as milliseconds since the epoch, or says why it cannot. */
export const parseTime = (text: string, now: number): Either.Either<number, string> => {
  const input = text.trim()
  const duration = durationSyntax.exec(input)
  if (duration !== null) {
    const unit = unitMillis[duration[2]!.toLowerCase()]
    if (unit === undefined) return Either.left(`"${text}": unknown unit "${duration[2]}" (use s, m, h, d or w)`)
    return Either.right(now - Math.round(Number(duration[1]) * unit))
  }
  const date = dateSyntax.exec(input)
  if (date === null) return Either.left(`"${text}" is neither a duration (7d) nor a date (2026-01-31T08:00Z)`)
  const [, year, month, day, hour = "00", minute = "00", second = "00", fraction = "", zone = "Z"] = date
  const offset = zone.toUpperCase() === "Z" ? "Z" : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone
  const millis = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second}${fraction}${offset}`)
  // Date.parse rolls 2026-02-30 over into March: only a date that reads back the same is one
  const check = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)))
  if (
    Number.isNaN(millis) ||
    check.getUTCMonth() !== Number(month) - 1 ||
    check.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    return Either.left(`"${text}" is not a valid date`)
  }
  return Either.right(millis)
}

/** The `[from, to)` range of `--since` and `--until`; `since` falls back to `defaultSince`, `until` to now. */
export const timeRange = (
  since: Option.Option<string>,
  until: Option.Option<string>,
  now: number,
  defaultSince?: string
): Effect.Effect<{ readonly from: number | undefined; readonly to: number | undefined }, CliError> =>
  Effect.gen(function* () {
    const read = (name: string, value: Option.Option<string>) =>
      Option.match(value, {
        onNone: () => Effect.succeed(undefined),
        onSome: (text) =>
          Either.match(parseTime(text, now), {
            onLeft: (problem) => Effect.fail(new CliError({ reason: "Usage", message: `--${name}: ${problem}` })),
            onRight: (millis) => Effect.succeed(millis)
          })
      })
    const from = yield* read(
      "since",
      Option.orElse(since, () => Option.fromNullable(defaultSince))
    )
    const to = yield* read("until", until)
    if (from !== undefined && to !== undefined && from >= to) {
      return yield* new CliError({ reason: "Usage", message: "--since must be before --until" })
    }
    return { from, to }
  })

/** A receiving domain as the store keeps it (lower case, IDNA). */
export const domainFilter = (domain: Option.Option<string>): Effect.Effect<string | undefined, CliError> =>
  Option.match(domain, {
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Either.match(normalizeDomain(text.replace(/^@/, "")), {
        onLeft: (problem) =>
          Effect.fail(new CliError({ reason: "Usage", message: `--domain: "${text}" is not a domain: ${problem}` })),
        onRight: (normalized) => Effect.succeed(normalized)
      })
  })

/** Loads the configuration (`--config`, REBOUND_CONFIG, ./rebound.config.json, REBOUND_* overrides). */
export const loadCliConfig = (file: Option.Option<string>) =>
  loadConfig(Option.getOrUndefined(file)).pipe(
    Effect.map(({ config }) => config),
    Effect.mapError((error) => new CliError({ reason: "Config", message: error.message }))
  )

/**
 * Runs `body` against the configured store, logging to standard error. An SQLite file that does not exist is an
 * error rather than a new empty store: a command that reads state should not invent it.
 */
export const withStore = <A, R>(
  config: AppConfig,
  body: Effect.Effect<A, CliError | StoreError, R>
): Effect.Effect<A, CliError, FileSystem.FileSystem | Exclude<R, StoreServices>> =>
  Effect.gen(function* () {
    if (config.store.type === "sqlite" && config.store.path !== ":memory:") {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(config.store.path).pipe(Effect.orElseSucceed(() => false))
      if (!exists) {
        return yield* new CliError({
          reason: "Store",
          message: `no store at ${config.store.path}: run rebound there first, or name the configuration with --config`
        })
      }
    }
    return yield* body.pipe(
      Effect.provide(storeLayer(config)),
      Effect.catchTag("StoreError", (error) => Effect.fail(new CliError({ reason: "Store", message: error.message })))
    )
  }).pipe(Effect.provide(loggerLayer(config)))
