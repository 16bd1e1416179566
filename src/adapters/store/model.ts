import * as Schema from "effect/Schema"
import type { NormalizedAddress } from "../../domain/address.js"
import type { ReviewStatus } from "../../domain/qualification-log.js"
import type { AddressState, AddressStatus, Transition } from "../../domain/quarantine.js"
import type { BounceType, CampaignReason, CorrelationMethod, MailKind, Reason } from "../../domain/report.js"

/** Identifies one mail taken from a mailbox: the account, the mailbox's unique id, and the SHA-256 of its bytes. */
export interface LedgerKey {
  readonly account: string
  readonly uid: string
  /** lowercase hex */
  readonly sha256: string
}

/** What became of a mail. */
export const MailOutcome = Schema.Literal("applied", "not-a-bounce", "unqualified", "foreign-instance", "failed")
export type MailOutcome = typeof MailOutcome.Type

export interface LedgerEntry {
  readonly key: LedgerKey
  readonly outcome: MailOutcome
  /** why it failed, or a note */
  readonly detail: string | null
  readonly records: number
  readonly size: number
  /** whether its bytes are in the raw archive */
  readonly archived: boolean
  readonly processedAt: number
}

/** How a bounce record was tied to the message that was sent. */
export const CorrelationSource = Schema.Literal(
  /** a signed Message-ID or VERP token whose MAC verified */
  "signed",
  /** the Message-ID of a registered sent message */
  "registered",
  /** no evidence: the latest message registered for the same recipient recently (a guess, marked as such) */
  "recent-recipient",
  /** evidence from the mail that neither verified nor matched a registered message */
  "unverified",
  "none"
)
export type CorrelationSource = typeof CorrelationSource.Type

/** Whom a record counted against. */
export type CountedAgainst = "address" | "domain" | "none"

/** One record of a decoded mail, as stored: every field of the decoder, the rule, and the correlation. */
export interface StoredBounceEvent {
  readonly key: LedgerKey
  readonly recordIndex: number
  readonly receivedAt: number
  readonly mailKind: MailKind
  readonly dialect: string
  readonly reportMessageId: string | null
  readonly reportFrom: string | null
  readonly reportSubject: string | null
  readonly reportDate: string | null
  readonly kind: MailKind
  readonly recipient: string | null
  /** the recipient normalised, when it is an address */
  readonly address: NormalizedAddress | null
  readonly domain: string | null
  readonly originalRecipient: string | null
  readonly action: string | null
  readonly status: string | null
  readonly replyCode: string | null
  readonly diagnostic: string | null
  readonly diagnosticType: string | null
  readonly remoteMta: string | null
  readonly reportingMta: string | null
  readonly lastAttemptDate: string | null
  readonly willRetryUntil: string | null
  readonly type: BounceType
  readonly reason: Reason
  readonly campaignReason: CampaignReason
  readonly rule: string
  readonly feedbackType: string | null
  readonly originalMessageId: string | null
  readonly originalEnvelopeId: string | null
  readonly correlationMethod: CorrelationMethod
  readonly correlationVerified: boolean
  readonly correlationValue: string | null
  readonly correlationInstance: string | null
  readonly correlationDeliveryId: string | null
  readonly correlationRecipientId: string | null
  readonly correlationSource: CorrelationSource
  /** the Message-ID of the sent message it was tied to, when known */
  readonly sentMessageId: string | null
  readonly countedAgainst: CountedAgainst
  /** held by the outage guard */
  readonly suspect: boolean
}

/** A message a sender registered, for correlation and for the outage guard's send counts. */
export interface SentMessage {
  /** without angle brackets */
  readonly messageId: string
  readonly deliveryId: string
  readonly recipient: NormalizedAddress
  readonly domain: string
  readonly sentAt: number
}

/** The state of one sent message in the delivery log (Adobe Campaign's broadLog statuses). */
export const DeliveryState = Schema.Literal("Sent", "Delayed", "Failed", "Complained")
export type DeliveryState = typeof DeliveryState.Type

export interface DeliveryLogEntry {
  /** the sent message's Message-ID, or "signed:<instance>:<delivery id>:<recipient id>" when only signed ids are known */
  readonly messageKey: string
  readonly deliveryId: string | null
  readonly recipient: string | null
  readonly state: DeliveryState
  /** a later event replaces an earlier one only with an equal or higher rank (a late "delayed" never hides a failure) */
  readonly rank: number
  readonly type: BounceType | null
  readonly reason: Reason | null
  readonly text: string | null
  readonly updatedAt: number
}

/** An address with its quarantine state as stored. */
export interface StoredAddressState {
  readonly address: NormalizedAddress
  readonly domain: string
  readonly status: AddressStatus
  readonly state: AddressState
  readonly updatedAt: number
}

/** One line of an address's history: a `Transition` with the address and the mail that caused it. */
export interface HistoryEntry extends Transition {
  readonly address: NormalizedAddress
  readonly mailSha256: string | null
  readonly recordIndex: number | null
}

/** A count in a receiving domain's hourly statistics. */
export interface DomainCount {
  readonly domain: string
  /** hours since the epoch */
  readonly hour: number
  /** "sent", "hard", "soft", "delayed", "delivered", "complaint", or "ours:<reason>" for reasons on our side */
  readonly counter: string
  readonly n: number
}

/** One distinct diagnostic text in the qualification log. */
export interface QualificationEntry {
  /** SHA-256 of the normalised text's key */
  readonly textKey: string
  readonly text: string
  /** one original text, for the operator */
  readonly sample: string
  readonly status: string | null
  readonly replyCode: string | null
  readonly type: BounceType
  readonly reason: Reason
  readonly rule: string
  readonly seen: number
  readonly firstSeen: number
  readonly lastSeen: number
  readonly review: ReviewStatus
  readonly reviewedBy: string | null
  readonly reviewedAt: number | null
  readonly reviewNote: string | null
}

/** Builds the string form of a ledger key (for maps and logs). */
export const ledgerKeyString = (key: LedgerKey): string => `${key.account}\u0000${key.uid}\u0000${key.sha256}`
