import * as Schema from "effect/Schema"

/** What a mail is, as far as bounce processing is concerned. */
export const MailKind = Schema.Literal("bounce", "delay", "delivered", "complaint", "auto-reply", "not-bounce")
export type MailKind = typeof MailKind.Type

/** How a failure counts against an address. */
export const BounceType = Schema.Literal("hard", "soft", "ignored")
export type BounceType = typeof BounceType.Type

/** The reason vocabulary of docs/REASONS.md (the names sisimai uses, so users can compare). */
export const Reason = Schema.Literal(
  "userunknown",
  "hostunknown",
  "hasmoved",
  "notaccept",
  "mailboxfull",
  "mesgtoobig",
  "exceedlimit",
  "suspend",
  "filtered",
  "rejected",
  "blocked",
  "badreputation",
  "requireptr",
  "authfailure",
  "notcompliantrfc",
  "policyviolation",
  "securityerror",
  "spamdetected",
  "virusdetected",
  "contenterror",
  "norelaying",
  "speeding",
  "toomanyconn",
  "expired",
  "networkerror",
  "systemerror",
  "systemfull",
  "syntaxerror",
  "mailererror",
  "failedstarttls",
  "suppressed",
  "onhold",
  "undefined",
  "delivered",
  "feedback",
  "vacation"
)
export type Reason = typeof Reason.Type

/** Adobe Campaign's failure reasons, for users who migrate from it. */
export const CampaignReason = Schema.Literal(
  "User unknown",
  "Invalid domain",
  "Unreachable",
  "Account disabled",
  "Mailbox full",
  "Refused",
  "Not defined",
  "Error ignored"
)
export type CampaignReason = typeof CampaignReason.Type

/** Which piece of evidence tied a record to the message that was sent. */
export const CorrelationMethod = Schema.Literal("verp", "envelope-id", "message-id", "x-header", "text", "none")
export type CorrelationMethod = typeof CorrelationMethod.Type

/** The ids carried by a signed Message-ID or VERP address. */
export const SignedIds = Schema.Struct({
  instance: Schema.String,
  deliveryId: Schema.String,
  recipientId: Schema.String
})
export type SignedIds = typeof SignedIds.Type

/** The result of correlating one record with the message that was sent. */
export const Correlation = Schema.Struct({
  method: CorrelationMethod,
  /** true when a signed Message-ID or VERP token was found and its MAC verified */
  verified: Schema.Boolean,
  /** the value that matched: a Message-ID, an envelope id, a VERP address or an X-header value */
  value: Schema.NullOr(Schema.String),
  ids: Schema.NullOr(SignedIds)
})
export type Correlation = typeof Correlation.Type

export const noCorrelation: Correlation = { method: "none", verified: false, value: null, ids: null }

/** One failed (or delayed, delivered, complained-about) recipient of a report. */
export const BounceRecord = Schema.Struct({
  kind: MailKind,
  recipient: Schema.NullOr(Schema.String),
  originalRecipient: Schema.NullOr(Schema.String),
  action: Schema.NullOr(Schema.String),
  /** RFC 3463 enhanced status code, e.g. "5.1.1" */
  status: Schema.NullOr(Schema.String),
  /** SMTP reply code, e.g. "550" */
  replyCode: Schema.NullOr(Schema.String),
  diagnostic: Schema.NullOr(Schema.String),
  diagnosticType: Schema.NullOr(Schema.String),
  remoteMta: Schema.NullOr(Schema.String),
  reportingMta: Schema.NullOr(Schema.String),
  lastAttemptDate: Schema.NullOr(Schema.String),
  willRetryUntil: Schema.NullOr(Schema.String),
  type: BounceType,
  reason: Reason,
  campaignReason: CampaignReason,
  /** the qualification rule that decided type and reason */
  rule: Schema.String,
  feedbackType: Schema.NullOr(Schema.String),
  originalMessageId: Schema.NullOr(Schema.String),
  originalEnvelopeId: Schema.NullOr(Schema.String),
  correlation: Correlation
})
export type BounceRecord = typeof BounceRecord.Type

/** Everything the decoder learnt from one mail. */
export const BounceReport = Schema.Struct({
  kind: MailKind,
  /** the decoder that recognised the mail: "rfc3464", "arf", "auto-reply", "qmail", ... or "none" */
  dialect: Schema.String,
  subject: Schema.NullOr(Schema.String),
  from: Schema.NullOr(Schema.String),
  messageId: Schema.NullOr(Schema.String),
  date: Schema.NullOr(Schema.String),
  reportingMta: Schema.NullOr(Schema.String),
  arrivalDate: Schema.NullOr(Schema.String),
  originalEnvelopeId: Schema.NullOr(Schema.String),
  originalMessageId: Schema.NullOr(Schema.String),
  records: Schema.Array(BounceRecord)
})
export type BounceReport = typeof BounceReport.Type
