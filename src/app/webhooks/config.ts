import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** What webhooks announce. */
export const WebhookEventType = Schema.Literal(
  "address.quarantined",
  "address.denylisted",
  "address.released",
  "address.allowlisted",
  "complaint",
  "alert.opened",
  "alert.resolved"
)
export type WebhookEventType = typeof WebhookEventType.Type

const Url = Schema.String.pipe(
  Schema.filter((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), {
    message: () => "must be an http:// or https:// URL"
  })
)

/** Webhook settings. `Schema.decodeUnknownSync(WebhookConfig)({})` gives the defaults (no URL: webhooks off). */
export const WebhookConfig = Schema.Struct({
  urls: Schema.optionalWith(Schema.Array(Url), { default: () => [] }),
  /** the HMAC-SHA256 key receivers verify `X-Rebound-Signature` with */
  secret: Schema.optional(Schema.Redacted(Schema.String.pipe(Schema.minLength(16)))),
  events: Schema.optionalWith(Schema.Array(WebhookEventType), { default: () => WebhookEventType.literals }),
  /** attempts before a delivery is given up (it stays in the outbox, and can be queued again) */
  maxAttempts: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 100)), { default: () => 15 }),
  /** the first retry's delay; each next one doubles, up to `maxBackoffSeconds` */
  initialBackoffSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
  maxBackoffSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 6 * 3600 }),
  timeoutSeconds: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { default: () => 10 }),
  /** how often the outbox and the event feeds are looked at */
  pollMillis: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1000 }),
  /** delivered and given-up rows are deleted after this many days */
  retentionDays: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 30 })
}).pipe(
  Schema.filter((config) => config.urls.length === 0 || config.secret !== undefined, {
    message: () => "webhook URLs need a secret to sign with (WEBHOOK_SECRET)"
  })
)
export type WebhookConfig = typeof WebhookConfig.Type

export const defaultWebhookConfig: WebhookConfig = Schema.decodeUnknownSync(WebhookConfig)({})

/** WEBHOOK_URLS (comma-separated), WEBHOOK_SECRET, WEBHOOK_EVENTS, WEBHOOK_MAX_ATTEMPTS, ... */
export const webhookConfig: Config.Config<WebhookConfig> = Config.nested(
  Config.all({
    urls: Config.array(Config.string(), "URLS").pipe(
      Config.withDefault([]),
      Config.withDescription("URLs that receive the events (comma-separated).")
    ),
    secret: Config.option(
      Config.redacted("SECRET").pipe(Config.withDescription("Key of the HMAC-SHA256 signature (16+ characters)."))
    ),
    events: Config.array(Config.literal(...WebhookEventType.literals)(), "EVENTS").pipe(
      Config.withDefault(WebhookEventType.literals),
      Config.withDescription("Event types to send (comma-separated; default: all).")
    ),
    maxAttempts: Config.integer("MAX_ATTEMPTS").pipe(
      Config.withDefault(defaultWebhookConfig.maxAttempts),
      Config.withDescription("Attempts before a delivery is given up.")
    ),
    initialBackoffSeconds: Config.number("INITIAL_BACKOFF_SECONDS").pipe(
      Config.withDefault(defaultWebhookConfig.initialBackoffSeconds),
      Config.withDescription("Delay before the first retry; doubled each time.")
    ),
    maxBackoffSeconds: Config.number("MAX_BACKOFF_SECONDS").pipe(
      Config.withDefault(defaultWebhookConfig.maxBackoffSeconds),
      Config.withDescription("Longest delay between two attempts.")
    ),
    timeoutSeconds: Config.number("TIMEOUT_SECONDS").pipe(
      Config.withDefault(defaultWebhookConfig.timeoutSeconds),
      Config.withDescription("How long a receiver has to answer.")
    )
  }),
  "WEBHOOK"
).pipe(
  Config.mapOrFail((raw) =>
    Either.mapLeft(
      Schema.decodeUnknownEither(WebhookConfig)({
        ...raw,
        secret: Option.getOrUndefined(Option.map(raw.secret, Redacted.value))
      }),
      (error) => ConfigError.InvalidData(["WEBHOOK"], ParseResult.TreeFormatter.formatErrorSync(error))
    )
  )
)
