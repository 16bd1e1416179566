import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"

/** Why a mailbox operation failed. */
export type MailboxErrorReason =
  /** the server could not be reached (DNS, refused, reset before the greeting) */
  | "Connect"
  /** TLS handshake or certificate verification failed, or STLS was required and not offered */
  | "Tls"
  /** the credentials or the token were refused (RFC 2449 [AUTH], or any -ERR to PASS/APOP/AUTH) */
  | "Auth"
  /** another session holds the mailbox lock (RFC 2449 [IN-USE]) */
  | "InUse"
  /** the server wants more time between logins (RFC 2449 [LOGIN-DELAY]) */
  | "LoginDelay"
  /** a temporary server-side failure (RFC 3206 [SYS/TEMP]) */
  | "SysTemp"
  /** a permanent server-side failure (RFC 3206 [SYS/PERM]) */
  | "SysPerm"
  /** the server did not answer within the command timeout */
  | "Timeout"
  /** the server's bytes do not follow the protocol (garbage, an over-long line, a missing terminator) */
  | "Protocol"
  /** the server answered -ERR without a response code that says more */
  | "ServerError"
  /** the mail is larger than maxMailSize; it stays in the mailbox */
  | "TooLarge"
  /** the message was removed from the mailbox since it was listed */
  | "NotFound"
  /** the connection or the session is gone (dropped, already committed, abandoned mid-transfer) */
  | "Closed"
  /** a local file system operation failed (Maildir) */
  | "Io"
  /** the options are invalid */
  | "Config"

const retryableReasons: ReadonlySet<MailboxErrorReason> = new Set<MailboxErrorReason>([
  "Connect",
  "InUse",
  "LoginDelay",
  "SysTemp",
  "Timeout",
  "ServerError",
  "Closed",
  "Io"
])

/** The one error of the Mailbox port. */
export class MailboxError extends Data.TaggedError("MailboxError")<{
  readonly reason: MailboxErrorReason
  readonly message: string
  readonly cause?: unknown
}> {
  /** Whether a later session may succeed without a change of configuration. */
  get retryable(): boolean {
    return retryableReasons.has(this.reason)
  }
}

/** One message in a mailbox. */
export interface MailboxEntry {
  /** stable unique id: the POP3 UIDL, or the Maildir unique name */
  readonly uid: string
  /** size in octets as the mailbox reports it (POP3 LIST, Maildir file size) */
  readonly size: number
  /** POP3 message number within this session */
  readonly number?: number
}

/** One result of `retrieveMany`: the mail's bytes, or why this one mail was not retrieved. */
export type RetrieveResult =
  | { readonly _tag: "Retrieved"; readonly entry: MailboxEntry; readonly bytes: Uint8Array }
  | { readonly _tag: "Skipped"; readonly entry: MailboxEntry; readonly error: MailboxError }

/** Mail count and total size, as POP3 STAT reports them. */
export interface MailboxStat {
  readonly count: number
  readonly size: number
}

/** What the mailbox offers, for `rebound test-connection` and for logs. */
export interface MailboxCapabilities {
  readonly kind: "pop3" | "maildir" | "smtp-queue" | "simulated"
  /** whether the transport is encrypted (TLS) or local */
  readonly secure: boolean
  /** whether `retrieveMany` sends its commands without waiting (RFC 2449 PIPELINING) */
  readonly pipelining: boolean
  /** the authentication used: "USER", "APOP", "SASL PLAIN", "SASL XOAUTH2", ..., or "none" */
  readonly authentication: string
  /** the server's own words: POP3 CAPA lines, or a description of the local mailbox */
  readonly raw: ReadonlyArray<string>
  /** RFC 2449 LOGIN-DELAY: the minimum number of seconds between logins, if announced */
  readonly loginDelaySeconds?: number
  /** RFC 2449 EXPIRE: days the server keeps retrieved mail ("never", or 0 when it deletes after RETR) */
  readonly expire?: number | "never"
}

/**
 * An open mailbox session. Operations run one at a time: while a `retrieveMany` or `retrieveStream` stream runs,
 * any other operation but `markDeleted` waits for it to end (so do not call one from inside its consumer).
 * Deletions are only recorded by `markDeleted`; they take effect on `commit`. Closing the session's scope without
 * `commit` deletes nothing.
 */
export interface MailboxSession {
  readonly capabilities: MailboxCapabilities
  readonly stat: Effect.Effect<MailboxStat, MailboxError>
  /** the entries of the mailbox, at most `maxMailsPerSession` of them, in mailbox order */
  readonly list: Effect.Effect<ReadonlyArray<MailboxEntry>, MailboxError>
  /**
   * As `list`, leaving out the entries whose uid is in `skip` (the mails of a session that still ends, see
   * `overlappingSessions`): at most `maxMailsPerSession` others. Mailboxes that do not overlap sessions may leave it
   * out; the processor then filters what `list` gives.
   */
  readonly listSkipping?: (skip: ReadonlySet<string>) => Effect.Effect<ReadonlyArray<MailboxEntry>, MailboxError>
  /** one whole mail in memory; fails with "TooLarge" (and leaves it) above maxMailSize unless ignoreSize is set */
  readonly retrieve: (entry: MailboxEntry) => Effect.Effect<Uint8Array, MailboxError>
  /** one mail as it arrives, in constant memory; must be run to its end before the next operation */
  readonly retrieveStream: (entry: MailboxEntry) => Stream.Stream<Uint8Array, MailboxError>
  /**
   * Many mails in order, pipelined when the server allows it. A mail that cannot be retrieved on its own
   * (too large, gone, an -ERR for it) comes out as "Skipped"; the stream fails only when the session is lost.
   */
  readonly retrieveMany: (entries: Iterable<MailboxEntry>) => Stream.Stream<RetrieveResult, MailboxError>
  /** records the entry for deletion on commit */
  readonly markDeleted: (entry: MailboxEntry) => Effect.Effect<void, MailboxError>
  /** applies the deletions and ends the session (POP3: DELE each, then QUIT) */
  readonly commit: Effect.Effect<void, MailboxError>
}

/** The bounce mailbox port: open a scoped session; its scope closing without commit is an abort. */
export class Mailbox extends Context.Tag("rebound/Mailbox/Mailbox")<
  Mailbox,
  {
    readonly open: Effect.Effect<MailboxSession, MailboxError, Scope.Scope>
    /**
     * Whether the processor may open the next session while the previous one still applies its last mails and
     * commits (the next one skips the previous one's mails). For a POP3 server that lets two sessions into one
     * maildrop (Dovecot by default), the next login and listing then overlap the end of the previous session; a
     * server that locks the maildrop refuses the login, and the processor waits for the previous session and does
     * not try again. Absent: one session after the other.
     */
    readonly overlappingSessions?: boolean
  }
>() {}
