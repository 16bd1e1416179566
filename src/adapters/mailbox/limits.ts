import * as Config from "effect/Config"
import * as Schema from "effect/Schema"
import { type MailboxEntry, MailboxError } from "./mailbox.js"

/** Per-session limits shared by every mailbox adapter. */
export const MailboxLimits = Schema.Struct({
  /** mails larger than this many octets stay in the mailbox and are reported as "TooLarge" */
  maxMailSize: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 64 * 1024 * 1024 }),
  /** retrieve mails whatever their size */
  ignoreSize: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  /** list at most this many mails per session, so a session commits its deletions regularly */
  maxMailsPerSession: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1000 })
})
export type MailboxLimits = typeof MailboxLimits.Type

/** The limits when none are given. */
export const defaultLimits: MailboxLimits = MailboxLimits.make({})

/** The limits read from config (MAX_MAIL_SIZE, IGNORE_SIZE, MAX_MAILS_PER_SESSION). */
export const limitsConfig: Config.Config<MailboxLimits> = Config.all({
  maxMailSize: Config.integer("MAX_MAIL_SIZE").pipe(
    Config.withDefault(defaultLimits.maxMailSize),
    Config.validate({ message: "must be a positive number of octets", validation: (n) => n > 0 }),
    Config.withDescription("Mails larger than this many octets stay in the mailbox and are reported.")
  ),
  ignoreSize: Config.boolean("IGNORE_SIZE").pipe(
    Config.withDefault(defaultLimits.ignoreSize),
    Config.withDescription("Retrieve mails whatever their size.")
  ),
  maxMailsPerSession: Config.integer("MAX_MAILS_PER_SESSION").pipe(
    Config.withDefault(defaultLimits.maxMailsPerSession),
    Config.validate({ message: "must be positive", validation: (n) => n > 0 }),
    Config.withDescription("At most this many mails are read per session before its deletions are committed.")
  )
})

/** The "TooLarge" error for an entry above the limit, or undefined when it may be retrieved. */
export const sizeCheck = (entry: MailboxEntry, limits: MailboxLimits): MailboxError | undefined =>
  limits.ignoreSize || entry.size <= limits.maxMailSize
    ? undefined
    : new MailboxError({
        reason: "TooLarge",
        message: `mail ${entry.uid} has ${entry.size} octets, more than maxMailSize ${limits.maxMailSize}; it stays in the mailbox`
      })
