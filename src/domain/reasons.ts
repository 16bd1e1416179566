/**
 * The reason vocabulary (docs/REASONS.md): what each reason means, how it counts against an address (hard, soft,
 * ignored) and its Adobe Campaign failure reason. The names are sisimai's (BSD-2-Clause, https://libsisimai.org).
 */
import type { BounceType, CampaignReason, Reason } from "./report.js"

/** How a reason relates to the failure class of its codes. */
export type FailureClass = "permanent" | "temporary" | "unknown"

/** What each reason means, in one line. */
export const reasonDescriptions: { readonly [R in Reason]: string } = {
  userunknown: "The local part of the recipient address does not exist",
  hostunknown: "The domain part of the recipient address does not exist (no such host or domain)",
  hasmoved: "The mailbox has moved and mail is not forwarded; the address is no longer valid",
  notaccept: "The destination does not accept mail at all (null MX, RFC 7504 521/556)",
  mailboxfull: "The recipient's mailbox is over quota",
  mesgtoobig: "The message is larger than the destination accepts",
  exceedlimit: "The message exceeds a per-mailbox administrative limit (size, header size)",
  suspend: "The recipient's account exists but is disabled, suspended or inactive",
  filtered: "The recipient's own filter or settings refused the message, or the address was refused after DATA",
  rejected: "The sender (envelope from, its domain, its authentication) was refused",
  blocked: "The sending IP address or host was refused (block list, HELO, policy on the client)",
  badreputation: "The sending IP address or domain has a poor reputation",
  requireptr: "The sending IP address has no (or a mismatching) reverse DNS record",
  authfailure: "SPF, DKIM or DMARC checks failed",
  notcompliantrfc: "The message does not comply with RFC 5322 (duplicate headers, malformed header fields)",
  policyviolation: "The message violates a policy of the destination (attachments, list membership, content rules)",
  securityerror: "A security problem: authentication required or failed, certificate, or an unspecified x.7.x",
  spamdetected: "The destination's spam filter refused the message",
  virusdetected: "The destination's virus scanner refused the message",
  contenterror: "The content or its encoding is not acceptable (media, conversion, malformed MIME)",
  norelaying: "The server refused to relay the message",
  speeding: "The sender is sending too fast (rate limited)",
  toomanyconn: "Too many connections or recipients at once",
  expired: "Delivery kept failing and the message expired in the queue (or delivery is delayed)",
  networkerror: "A DNS or network problem, such as a routing loop or a lookup failure",
  systemerror: "A problem of the destination mail system (configuration, local error, loop)",
  systemfull: "The destination mail system is out of storage",
  syntaxerror: "The SMTP session failed on a syntax error or an unexpected command",
  mailererror: "A local delivery program (procmail, maildrop, pipe) failed",
  failedstarttls: "STARTTLS or TLS was required and failed",
  suppressed: "The sending service suppressed the message (the address is on its suppression list)",
  onhold: "The reason could not be decided, but the failure carries a diagnostic to look at",
  undefined: "The reason could not be decided and there is nothing to decide it from",
  delivered: "The message was delivered (a positive DSN)",
  feedback: "A complaint from the recipient's mailbox provider (ARF feedback report)",
  vacation: "An automatic reply (out of office)"
}

/** The reasons that say the address itself is bad: a hard bounce whatever the code class. */
const alwaysHard: ReadonlySet<Reason> = new Set<Reason>(["userunknown", "hostunknown", "hasmoved"])

/** The reasons that are no failure at all. */
const neverFailure: ReadonlySet<Reason> = new Set<Reason>(["delivered", "feedback", "vacation"])

/**
 * How a reason counts against the address: hard for userunknown, hostunknown, hasmoved and notaccept (unless the
 * code says temporary, 4xx); ignored for delivered, feedback, vacation and every delay; soft for the rest.
 */
export const bounceType = (reason: Reason, failure: FailureClass, delayed = false): BounceType => {
  if (delayed || neverFailure.has(reason)) return "ignored"
  if (alwaysHard.has(reason)) return "hard"
  if (reason === "notaccept") return failure === "temporary" ? "soft" : "hard"
  return "soft"
}

/** The Adobe Campaign failure reason of each reason. */
export const campaignReasons: { readonly [R in Reason]: CampaignReason } = {
  userunknown: "User unknown",
  hasmoved: "User unknown",
  hostunknown: "Invalid domain",
  notaccept: "Invalid domain",
  suspend: "Account disabled",
  mailboxfull: "Mailbox full",
  mesgtoobig: "Refused",
  exceedlimit: "Refused",
  filtered: "Refused",
  rejected: "Refused",
  blocked: "Refused",
  badreputation: "Refused",
  requireptr: "Refused",
  authfailure: "Refused",
  notcompliantrfc: "Refused",
  policyviolation: "Refused",
  securityerror: "Refused",
  spamdetected: "Refused",
  virusdetected: "Refused",
  contenterror: "Refused",
  norelaying: "Refused",
  suppressed: "Refused",
  feedback: "Refused",
  speeding: "Unreachable",
  toomanyconn: "Unreachable",
  expired: "Unreachable",
  networkerror: "Unreachable",
  systemerror: "Unreachable",
  systemfull: "Unreachable",
  failedstarttls: "Unreachable",
  mailererror: "Unreachable",
  syntaxerror: "Not defined",
  onhold: "Not defined",
  undefined: "Not defined",
  delivered: "Error ignored",
  vacation: "Error ignored"
}

/** The Adobe Campaign failure reason for a reason. */
export const campaignReason = (reason: Reason): CampaignReason => campaignReasons[reason]

/**
 * Reasons that a later step may still refine (sisimai's "ShouldBeRetried"): a dialect decoder's finding of one of
 * these does not end the qualification.
 */
export const refinableReasons: ReadonlySet<Reason> = new Set<Reason>([
  "undefined",
  "onhold",
  "systemerror",
  "securityerror",
  "expired",
  "networkerror",
  "hostunknown",
  "userunknown"
])

/** Whether a reason decides anything (sisimai's IsExplicit): not undefined and not onhold. */
export const isExplicitReason = (reason: Reason | null | undefined): reason is Reason =>
  reason != null && reason !== "undefined" && reason !== "onhold"
