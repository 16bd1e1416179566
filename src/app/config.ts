import * as FileSystem from "@effect/platform/FileSystem"
import { Config, Data, Duration, Effect, Either, Option, ParseResult, Redacted, Schema, SchemaAST } from "effect"
import { MailboxLimits } from "../adapters/mailbox/limits.js"
import { Pop3Auth, TlsMode } from "../adapters/mailbox/pop3-options.js"
import { SmtpListenerConfig } from "../adapters/smtp/config.js"
import { AlertConfig, defaultAlertConfig } from "./alerts/rules.js"
import { defaultHttpConfig, HttpConfig } from "./http/config.js"
import { defaultWebhookConfig, WebhookConfig } from "./webhooks/config.js"
import { LocalPartCase } from "../domain/address.js"
import { SigningKey } from "../domain/codec.js"
import { QuarantinePolicy } from "../domain/quarantine.js"
import { Rule } from "../domain/rules.js"

const withDefault = <A, I, R>(schema: Schema.Schema<A, I, R>, value: () => NoInfer<A>, description: string) =>
  Schema.optionalWith(schema.annotations({ description }), { default: value })

const PositiveInt = Schema.Int.pipe(Schema.positive())
const Port = Schema.Int.pipe(Schema.between(1, 65535))
/** A duration written as a number of seconds. */
const Seconds = Schema.transform(Schema.Number.pipe(Schema.nonNegative()), Schema.DurationFromSelf, {
  strict: true,
  decode: (seconds) => Duration.seconds(seconds),
  encode: (duration) => Duration.toSeconds(duration)
})

/** What happens to mails that were not applied (not a bounce, unqualified, undecodable). */
export const UnappliedPolicy = Schema.Struct({
  action: withDefault(
    Schema.Literal("archive", "forward", "delete"),
    () => "archive" as const,
    "archive: keep the bytes in the store's archive; forward: send them to an operator over SMTP; delete: keep only the ledger entry"
  ),
  forwardTo: Schema.optional(Schema.String.annotations({ description: "the operator address for action=forward" })),
  forwardWhich: withDefault(
    Schema.Literal("all", "unqualified"),
    () => "all" as const,
    "forward every unapplied mail, or only bounces that could not be qualified"
  ),
  smtpHost: withDefault(Schema.String, () => "127.0.0.1", "the SMTP relay used to forward"),
  smtpPort: withDefault(Port, () => 25, "the port of the SMTP relay")
})
  // the rule below, for editors: the JSON Schema generator leaves out the annotations of a filter over a struct with
  // defaults (a transformation), so they are on the struct
  .annotations({
    description: "what happens to mails that were not applied",
    jsonSchema: {
      if: { properties: { action: { const: "forward" } }, required: ["action"] },
      then: { required: ["forwardTo"], properties: { forwardTo: { pattern: "\\S" } } }
    }
  })
  .pipe(
    // without an address the processor could not forward, and would archive every mail instead, saying nothing
    Schema.filter(
      (policy) =>
        policy.action !== "forward" ||
        (policy.forwardTo !== undefined && policy.forwardTo.trim() !== "") || {
          path: ["forwardTo"],
          message:
            policy.forwardTo === undefined
              ? 'is missing: action "forward" needs the operator address to forward to'
              : 'is empty: action "forward" needs the operator address to forward to'
        }
    )
  )
export type UnappliedPolicy = typeof UnappliedPolicy.Type

const accountCommon = {
  name: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]+$/)).annotations({
    description: "a unique name: letters, digits, '.', '_' and '-'"
  }),
  pollSeconds: Schema.optional(PositiveInt.annotations({ description: "seconds between polls (pop3: 60, others: 5)" })),
  maxMailsPerSession: withDefault(PositiveInt, () => 200, "mails read per session before it commits"),
  maxSecondsPerSession: withDefault(PositiveInt, () => 100, "seconds a session may last before it commits"),
  unapplied: withDefault(
    UnappliedPolicy,
    () => Schema.decodeUnknownSync(UnappliedPolicy)({}),
    "what happens to mails that were not applied"
  )
}

/** A POP3 bounce mailbox. */
export const Pop3Account = Schema.Struct({
  type: Schema.Literal("pop3"),
  ...accountCommon,
  host: Schema.String.annotations({ description: "the POP3 server" }),
  port: Schema.optional(Port.annotations({ description: "995 with tls=implicit, 110 otherwise" })),
  tls: withDefault(TlsMode, () => "implicit" as const, "implicit (port 995), starttls (STLS) or none"),
  auth: Pop3Auth,
  caFile: Schema.optional(Schema.String.annotations({ description: "a PEM file of CAs to trust" })),
  insecure: withDefault(Schema.Boolean, () => false, "accept any certificate (logged as a warning)"),
  servername: Schema.optional(Schema.String),
  connectTimeout: withDefault(Seconds, () => Duration.seconds(30), "seconds to connect and handshake"),
  commandTimeout: withDefault(Seconds, () => Duration.seconds(60), "seconds to wait for any server reply"),
  pipelining: withDefault(Schema.Literal("auto", "off"), () => "auto" as const, "pipeline RETR/DELE when offered"),
  overlapSessions: withDefault(
    Schema.Boolean,
    () => false,
    "log the next session in while the previous one commits (sessions follow one another when the server locks the maildrop)"
  ),
  maxMailSize: MailboxLimits.fields.maxMailSize,
  ignoreSize: MailboxLimits.fields.ignoreSize
})
export type Pop3Account = typeof Pop3Account.Type

/** A local Maildir folder (new/ and cur/). */
export const MaildirAccount = Schema.Struct({
  type: Schema.Literal("maildir"),
  ...accountCommon,
  path: Schema.String.annotations({ description: "the Maildir folder; created when missing" }),
  maxMailSize: MailboxLimits.fields.maxMailSize,
  ignoreSize: MailboxLimits.fields.ignoreSize
})
export type MaildirAccount = typeof MaildirAccount.Type

/** The spool of rebound's own SMTP listener (see "smtp"): its Maildir, or with smtp.spool "store" the work queue. */
export const SmtpAccount = Schema.Struct({
  type: Schema.Literal("smtp"),
  ...accountCommon,
  leaseSeconds: Schema.optional(
    PositiveInt.annotations({
      description:
        "with smtp.spool store: seconds the mails a session claimed stay with this process; if it dies, the other " +
        "processes take them over after this time. Must exceed maxSecondsPerSession (default: it plus 60)"
    })
  )
})
export type SmtpAccount = typeof SmtpAccount.Type

export const Account = Schema.Union(Pop3Account, MaildirAccount, SmtpAccount)
export type Account = typeof Account.Type

/** The embedded default: drop a bounce into ./inbox/new and it is processed. */
export const defaultInboxAccount: Account = Schema.decodeUnknownSync(MaildirAccount)({
  type: "maildir",
  name: "inbox",
  path: "./inbox",
  pollSeconds: 5
})

export const StoreConfig = Schema.Union(
  Schema.Struct({
    type: withDefault(Schema.Literal("sqlite"), () => "sqlite" as const, "sqlite (the default), postgres or memory"),
    path: withDefault(Schema.String, () => "./data/rebound.db", "the database file")
  }),
  Schema.Struct({
    type: Schema.Literal("postgres"),
    url: Schema.Redacted(Schema.String).annotations({ description: "postgres://user:password@host:port/database" }),
    maxConnections: withDefault(PositiveInt, () => 10, "connections in the pool")
  }),
  Schema.Struct({ type: Schema.Literal("memory") })
)
export type StoreConfig = typeof StoreConfig.Type

export const SigningConfig = Schema.Struct({
  keys: withDefault(
    Schema.Array(SigningKey),
    () => [],
    "HMAC keys (id, secret) that sign Message-IDs and VERP addresses; the first signs, all verify"
  ),
  domain: Schema.optional(Schema.String.annotations({ description: "the domain of signed Message-IDs and VERP" })),
  verpLocalPart: withDefault(Schema.String, () => "bounce", "the local part before '+' in VERP addresses"),
  stampHeader: Schema.optional(Schema.String.annotations({ description: "a header senders stamp, e.g. X-Rebound-Id" }))
})
export type SigningConfig = typeof SigningConfig.Type

export const LogConfig = Schema.Struct({
  level: withDefault(
    Schema.Literal("trace", "debug", "info", "warning", "error", "none"),
    () => "info" as const,
    "the lowest level logged"
  ),
  format: withDefault(
    Schema.Literal("auto", "logfmt", "json", "pretty"),
    () => "auto" as const,
    "auto: logfmt on a terminal, JSON otherwise"
  )
})
export type LogConfig = typeof LogConfig.Type

export const ArchiveConfig = Schema.Struct({
  all: withDefault(Schema.Boolean, () => false, "archive the bytes of every mail, not only of unapplied ones"),
  retentionDays: withDefault(PositiveInt, () => 90, "days archived bytes are kept")
})

export const LeaseConfig = Schema.Struct({
  ttlSeconds: withDefault(
    Schema.Number.pipe(Schema.greaterThanOrEqualTo(1)),
    () => 30,
    "seconds a lease lasts unless renewed (every third of it): a dead process's accounts are taken over within 4/3 of it"
  )
})
export type LeaseConfig = typeof LeaseConfig.Type

/** Each account name once: the ledger, the leases and the account's status are keyed by it. */
const uniqueAccountNames = (accounts: ReadonlyArray<Account>): ReadonlyArray<Schema.FilterIssue> => {
  const firstIndex = new Map<string, number>()
  const issues: Array<Schema.FilterIssue> = []
  accounts.forEach((account, index) => {
    const first = firstIndex.get(account.name)
    if (first === undefined) firstIndex.set(account.name, index)
    else
      issues.push({
        path: [index, "name"],
        message: `"${account.name}" is already the name of accounts.${first}: account names must be unique`
      })
  })
  return issues
}

/** The whole of rebound.config.json. */
export const AppConfig = Schema.Struct({
  $schema: Schema.optional(Schema.String),
  instance: withDefault(
    Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,32}$/)),
    () => "rebound",
    "this instance's name, signed into Message-IDs; mails of other instances are left in shared mailboxes"
  ),
  store: withDefault(
    StoreConfig,
    () => ({ type: "sqlite" as const, path: "./data/rebound.db" }),
    "where state is kept"
  ),
  accounts: withDefault(
    // JSON Schema has no keyword for unique names; the empty jsonSchema keeps the description in the published one
    Schema.Array(Account).pipe(Schema.filter(uniqueAccountNames, { jsonSchema: {} })),
    () => [defaultInboxAccount],
    "the bounce mailboxes to empty (default: a Maildir on ./inbox, polled every 5 s)"
  ),
  quarantine: withDefault(QuarantinePolicy, () => Schema.decodeUnknownSync(QuarantinePolicy)({}), "address rules"),
  localPartCase: withDefault(LocalPartCase, () => "lowercase" as const, "how local parts of addresses compare"),
  archive: withDefault(ArchiveConfig, () => Schema.decodeUnknownSync(ArchiveConfig)({}), "raw mail archive"),
  rules: withDefault(Schema.Array(Rule), () => [], "qualification rules that run before the built-in ones"),
  signing: withDefault(SigningConfig, () => Schema.decodeUnknownSync(SigningConfig)({}), "signing keys"),
  leases: withDefault(
    LeaseConfig,
    () => Schema.decodeUnknownSync(LeaseConfig)({}),
    "how several processes on one store share the accounts and the once-only jobs (docs/scale-out.md)"
  ),
  log: withDefault(LogConfig, () => Schema.decodeUnknownSync(LogConfig)({}), "logging"),
  http: withDefault(
    Schema.NullOr(HttpConfig),
    () => defaultHttpConfig,
    "the HTTP API and dashboard (docs/http-api.md), on 127.0.0.1:8025 by default; null turns it off"
  ),
  webhooks: withDefault(
    WebhookConfig,
    () => defaultWebhookConfig,
    "signed POSTs on quarantine, denylist, release, complaint and alert events (docs/http-api.md)"
  ),
  alerts: withDefault(AlertConfig, () => defaultAlertConfig, "bounce-rate, outage-guard and account alerts"),
  smtp: Schema.optional(
    SmtpListenerConfig.annotations({
      description: "rebound's own SMTP listener for the bounce domains (docs/smtp.md); read by accounts of type smtp"
    })
  )
})
export type AppConfig = typeof AppConfig.Type
export type AppConfigInput = typeof AppConfig.Encoded

/** A configuration that cannot be used, naming the key and the problem. */
export class ConfigFileError extends Data.TaggedError("ConfigFileError")<{
  readonly reason: "Unreadable" | "NotJson" | "Invalid"
  readonly message: string
}> {}

const constantCase = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()

interface Leaf {
  readonly path: ReadonlyArray<string>
  readonly kind: "string" | "number" | "boolean" | "json"
}

const leafKind = (ast: SchemaAST.AST): Leaf["kind"] | "struct" => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return "string"
    case "NumberKeyword":
      return "number"
    case "BooleanKeyword":
      return "boolean"
    case "Literal":
      return typeof ast.literal === "number" ? "number" : typeof ast.literal === "boolean" ? "boolean" : "string"
    case "Refinement":
      return leafKind(ast.from)
    case "Transformation":
      return leafKind(ast.from)
    case "Declaration":
      return "string"
    case "TypeLiteral":
      return "struct"
    case "Union": {
      const kinds = new Set(ast.types.filter((type) => type._tag !== "UndefinedKeyword").map(leafKind))
      return kinds.size === 1 ? [...kinds][0]! : "json"
    }
    default:
      return "json"
  }
}

/** Every key of the config that an environment variable can set, with its variable's value type. */
const leaves = (ast: SchemaAST.AST, path: ReadonlyArray<string>): Array<Leaf> => {
  const encoded = SchemaAST.encodedAST(ast)
  if (encoded._tag === "Union") {
    const members = encoded.types.filter((type) => type._tag !== "UndefinedKeyword")
    if (members.length > 1 && members.every((member) => member._tag === "TypeLiteral")) {
      // a tagged union of sections (store: sqlite | postgres): every member's keys can be set
      const merged = new Map(
        members.flatMap((member) => leaves(member, path)).map((leaf) => [leaf.path.join("."), leaf])
      )
      return [...merged.values()]
    }
  }
  if (encoded._tag !== "TypeLiteral") {
    const kind = leafKind(encoded)
    return [{ path, kind: kind === "struct" ? "json" : kind }]
  }
  return encoded.propertySignatures.flatMap((property) => {
    if (typeof property.name !== "string" || property.name === "$schema") return []
    const inner =
      property.type._tag === "Union" ? property.type.types.find((t) => t._tag !== "UndefinedKeyword") : property.type
    return leaves(inner ?? property.type, [...path, property.name])
  })
}

/** The environment variable that overrides a config key: REBOUND_ and the path in CONSTANT_CASE. */
export const environmentName = (path: ReadonlyArray<string>) => ["REBOUND", ...path.map(constantCase)].join("_")

/** Every environment override, for `rebound config check` and the docs. */
export const environmentVariables = (): ReadonlyArray<{ readonly name: string; readonly kind: Leaf["kind"] }> =>
  leaves(AppConfig.ast, []).map((leaf) => ({ name: environmentName(leaf.path), kind: leaf.kind }))

const setPath = (
  target: Record<string, unknown>,
  path: ReadonlyArray<string>,
  value: unknown
): Record<string, unknown> => {
  const [head, ...rest] = path
  if (head === undefined) return target
  const current = target[head]
  return {
    ...target,
    [head]:
      rest.length === 0
        ? value
        : setPath(
            typeof current === "object" && current !== null ? (current as Record<string, unknown>) : {},
            rest,
            value
          )
  }
}

const coerce = (leaf: Leaf, raw: string): Either.Either<unknown, string> => {
  switch (leaf.kind) {
    case "string":
      return Either.right(raw)
    case "number":
      return raw.trim() !== "" && Number.isFinite(Number(raw))
        ? Either.right(Number(raw))
        : Either.left("is not a number")
    case "boolean":
      return /^(true|false|1|0|yes|no)$/i.test(raw.trim())
        ? Either.right(/^(true|1|yes)$/i.test(raw.trim()))
        : Either.left("is not a boolean (true/false)")
    case "json":
      return Either.try({ try: () => JSON.parse(raw) as unknown, catch: () => "is not valid JSON" })
  }
}

/** Applies the REBOUND_* environment variables (read through Effect's Config) over the file's JSON. */
export const withEnvironment = (input: Record<string, unknown>) =>
  Effect.gen(function* () {
    let merged = input
    for (const leaf of leaves(AppConfig.ast, [])) {
      const name = environmentName(leaf.path)
      const raw = yield* Config.option(Config.string(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))
      if (Option.isNone(raw)) continue
      const value = coerce(leaf, raw.value)
      if (Either.isLeft(value)) {
        return yield* new ConfigFileError({ reason: "Invalid", message: `${name} ${value.left}` })
      }
      merged = setPath(merged, leaf.path, value.right)
    }
    return merged
  })

/** Decodes and validates a configuration; the error names each bad key and its problem. */
export const decodeConfig = (input: unknown): Effect.Effect<AppConfig, ConfigFileError> =>
  Schema.decodeUnknown(AppConfig, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError(
      (error) =>
        new ConfigFileError({
          reason: "Invalid",
          message: ParseResult.ArrayFormatter.formatErrorSync(error)
            // optional keys add an "Expected undefined" alternative to every problem: it says nothing
            .filter((issue) => !issue.message.startsWith("Expected undefined"))
            .map((issue) => `${issue.path.length === 0 ? "(root)" : issue.path.join(".")}: ${issue.message}`)
            .join("\n")
        })
    )
  )

/** The config file used when none is named: ./rebound.config.json, if it exists. */
export const defaultConfigFile = "rebound.config.json"

/**
 * Loads the configuration: the JSON file (REBOUND_CONFIG or the given path, else ./rebound.config.json when it
 * exists, else the embedded defaults), the REBOUND_* environment over it, then validation.
 */
export const loadConfig = (file?: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const named =
      file ??
      Option.getOrUndefined(
        yield* Config.option(Config.string("REBOUND_CONFIG")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
      )
    const path =
      named ??
      ((yield* fs.exists(defaultConfigFile).pipe(Effect.orElseSucceed(() => false))) ? defaultConfigFile : undefined)
    let input: Record<string, unknown> = {}
    if (path !== undefined) {
      const text = yield* fs
        .readFileString(path)
        .pipe(
          Effect.mapError(
            (error) => new ConfigFileError({ reason: "Unreadable", message: `cannot read ${path}: ${error.message}` })
          )
        )
      const parsed = yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: (error) => new ConfigFileError({ reason: "NotJson", message: `${path} is not JSON: ${String(error)}` })
      })
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return yield* new ConfigFileError({ reason: "Invalid", message: `${path} must hold a JSON object` })
      }
      input = parsed as Record<string, unknown>
    }
    const merged = yield* withEnvironment(input)
    const config = yield* decodeConfig(merged).pipe(
      Effect.mapError(
        (error) =>
          new ConfigFileError({ reason: error.reason, message: `${path ?? "configuration"}:\n${error.message}` })
      )
    )
    return { config, source: path ?? null }
  })

/** The configuration as JSON with every secret replaced by "<redacted>", for `rebound config check`. */
export const printable = (config: AppConfig): unknown =>
  JSON.parse(
    JSON.stringify(config, (_, value: unknown) => {
      if (Redacted.isRedacted(value)) return "<redacted>"
      if (Duration.isDuration(value)) return Duration.toSeconds(value)
      return value
    })
  )

/** The poll interval of an account: its own, or 60 s for POP3 and 5 s for local folders. */
export const pollInterval = (account: Account): Duration.Duration =>
  Duration.seconds(account.pollSeconds ?? (account.type === "pop3" ? 60 : 5))
