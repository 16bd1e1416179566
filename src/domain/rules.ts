/**
 * The built-in qualification rules, as data: an ordered table that `qualify` walks until a rule matches.
 *
 * The message tables, the status-code table and the order of decision are ported from sisimai
 * (https://github.com/sisimai/go-sisimai: reason/why-*.go, reason/find.go, lda/, rhost/for-*.go, smtp/status),
 * Copyright (C) 2014-2025 azumakuniyuki and sisimai development team, distributed under the BSD 2-Clause License.
 * See docs/REASONS.md for the license text and for what each reason means.
 */
import * as Schema from "effect/Schema"
import { Reason } from "./report.js"

/**
 * Text that matches when any string of `any` occurs, or the strings of one of `sequences` occur in that order, or
 * one of `patterns` (regular expressions) matches, and none of `unless` occurs. Matching is on the lower-cased
 * diagnostic with runs of white space folded to one space; strings are compared lower-cased.
 */
export const TextMatch = Schema.Struct({
  any: Schema.optional(Schema.Array(Schema.String)),
  sequences: Schema.optional(Schema.Array(Schema.Array(Schema.String))),
  patterns: Schema.optional(Schema.Array(Schema.String)),
  unless: Schema.optional(Schema.Array(Schema.String))
})
export type TextMatch = typeof TextMatch.Type

const Strings = Schema.Array(Schema.String)
const ReasonOrNone = Schema.Union(Reason, Schema.Literal(""))

/**
 * What a rule requires; every condition given must hold. Code patterns: `5.1.1`, `5.7.*`, `*.2.2`, `5.7.850-899`;
 * reply codes `550`, `5**`, `*21`.
 */
export const RuleMatch = Schema.Struct({
  /** the diagnostic matches one of these */
  text: Schema.optional(Schema.Array(TextMatch)),
  /** the diagnostic also matches one of these */
  alsoText: Schema.optional(Schema.Array(TextMatch)),
  /** the diagnostic matches none of these */
  notText: Schema.optional(Schema.Array(TextMatch)),
  status: Schema.optional(Strings),
  notStatus: Schema.optional(Strings),
  /** the reason the status code stands for (the status table below); "" when it stands for none */
  statusReason: Schema.optional(Schema.Array(ReasonOrNone)),
  notStatusReason: Schema.optional(Schema.Array(ReasonOrNone)),
  replyCode: Schema.optional(Strings),
  notReplyCode: Schema.optional(Strings),
  /** the SMTP command the failure answered (RCPT, DATA, MAIL, EHLO, HELO, CONN, ...); "" when unknown */
  command: Schema.optional(Strings),
  notCommand: Schema.optional(Strings),
  /** Action: failed, delayed, ... */
  action: Schema.optional(Strings),
  /** the Diagnostic-Code type (SMTP, X-UNIX, X-POSTFIX, ...); "" when absent */
  diagnosticType: Schema.optional(Strings),
  notDiagnosticType: Schema.optional(Strings),
  /** the reason a dialect decoder proposed */
  hint: Schema.optional(Schema.Array(Reason)),
  /** the mail service of the remote side (see `services`) */
  service: Schema.optional(Strings),
  /** the remote MTA's host name ends with one of these */
  remoteMta: Schema.optional(Strings),
  /** a status code is present (true) or absent (false) */
  hasStatus: Schema.optional(Schema.Boolean),
  /** the status code decides nothing by itself: none, a generic one, or one of a reason that may be refined */
  vagueStatus: Schema.optional(Schema.Boolean)
})
export type RuleMatch = typeof RuleMatch.Type

/** A qualification rule: when `match` holds, the failure is `reason`; `name` is reported with each record. */
export const Rule = Schema.Struct({
  name: Schema.NonEmptyTrimmedString,
  reason: Reason,
  match: RuleMatch
})
export type Rule = typeof Rule.Type

// ---------------------------------------------------------------------------------------------------------------
// Message tables: what each reason's diagnostics say (sisimai reason/why-*.go, IncludedIn).

export const reasonText = {
  authfailure: {
    any: [
      "//spf.pobox.com",
      "bad spf records for",
      "dmarc policy",
      "doesn't meet the required authentication level",
      "please inspect your spf settings",
      "sender policy framework (spf) fail",
      "sender policy framework violation",
      "spf (sender policy framework) domain authentication fail",
      "spf check: fail",
      "the 5322.from address doesn't meet the authentication requirements defined for the sender"
    ],
    sequences: [
      [" is not allowed to send mail.", "_401"],
      ["is not allowed to send from <", " per it's spf record"]
    ]
  },
  badreputation: {
    any: [
      "a poor email reputation score",
      "has been temporarily rate limited due to ip reputation",
      "ip/domain reputation problems",
      "likely suspicious due to the very low reputation",
      "none/bad reputation",
      "temporarily deferred due to unexpected volume or user complaints",
      "the sending mta's poor reputation"
    ]
  },
  blocked: {
    any: [
      " said: 550 blocked",
      "//www.spamcop.net/bl.",
      "bad sender ip address",
      "banned sending ip",
      "blacklisted by",
      "blocked using ",
      "blocked - see http",
      "dnsbl:attrbl",
      "client host rejected: abus detecte gu_eib_02",
      "client host rejected: abus detecte gu_eib_04",
      "client host rejected: may not be mail exchanger",
      "client host rejected: was not authenticated",
      "confirm this mail server",
      "connection dropped",
      "connection refused by",
      "connection reset by peer",
      "connection was dropped by remote host",
      "connections not accepted from ip addresses on spamhaus xbl",
      "currently sending spam see: ",
      "domain does not exist:",
      "dynamic/zombied/spam ips blocked",
      "error: no valid recipients from ",
      "esmtp not accepting connections",
      "extreme bad ip profile",
      "go away",
      "helo command rejected:",
      "host network not allowed",
      "hosts with dynamic ip",
      "invalid ip for sending mail of domain",
      "is in a black list",
      "is not allowed to send mail from",
      "mailfrom domain is listed in spamhaus",
      "no access from mail server",
      "no matches to nameserver query",
      "not currently accepting mail from your ip",
      "part of their network is on our block list",
      "please use the smtp server of your isp",
      "refused - see http",
      "rejected - multi-blacklist",
      "rejected because the sending mta or the sender has not passed validation",
      "rejecting open proxy",
      "sender ip address rejected",
      "server access forbidden by your ip ",
      "service not available, closing transmission channel",
      "smtp error from remote mail server after initial connection:",
      "sorry, that domain isn't in my list of allowed rcpthosts",
      "sorry, your remotehost looks suspiciously like spammer",
      "temporarily deferred due to unexpected volume or user complaints",
      "to submit messages to this e-mail system has been rejected",
      "too many spams from your ip",
      "too many unwanted messages have been sent from the following ip address above",
      "was blocked by ",
      "we do not accept mail from dynamic ips",
      "you are not allowed to connect",
      "you are sending spam",
      "your ip address is listed in the rbl",
      "your network is temporary blacklisted",
      "your server requires confirmation"
    ],
    sequences: [
      ["(", "@", ":blocked)"],
      ["access from ip address ", " blocked"],
      ["client host ", " blocked using"],
      ["connections will not be accepted from ", " because the ip is in spamhaus's list"],
      ["dnsbl:rbl ", ">_is_blocked"],
      ["email blocked by ", ".barracudacentral.org"],
      ["email blocked by ", "spamhaus"],
      ["host ", " refused to talk to me: ", " blocked"],
      ["ip ", " is blocked by earthlink"],
      ["is in an ", "rbl on "],
      ["mail server at ", " is blocked"],
      ["mail from ", " refused:"],
      ["mail from ", " refused, see ", "orbs"],
      ["message from ", " rejected based on blacklist"],
      ["messages from ", " temporarily deferred due to user complaints"],
      ["server ip ", " listed as abusive"],
      ["sorry! your ip address", " is blocked by rbl"],
      ["the domain ", " is blacklisted"],
      ["the email ", " is blacklisted"],
      ["the ip", " is blacklisted"],
      ["veuillez essayer plus tard. service refused, please try later. ", "103"],
      ["veuillez essayer plus tard. service refused, please try later. ", "510"],
      ["your access ip", " has been rejected"],
      ["your sender's ip address is listed at ", ".abuseat.org"]
    ]
  },
  contenterror: {
    any: [
      "duplicate header",
      "header size exceeds maximum permitted",
      "improper use of 8-bit data in message header",
      "message header size, or recipient list, exceeds policy limit",
      "message mime complexity exceeds the policy maximum",
      "routing loop detected -- too many received: headers",
      "this message contain invalid mime headers",
      "this message contain improperly-formatted binary content",
      "this message contain text that uses unnecessary base64 encoding"
    ]
  },
  exceedlimit: { any: ["message header size exceeds limit", "message too large"] },
  expired: {
    any: [
      "connection timed out",
      "could not find a gateway for",
      "delivery attempts will continue to be",
      "delivery expired",
      "delivery time expired",
      "failed to deliver to domain ",
      "giving up on",
      "have been failing for a long time",
      "has been delayed",
      "it has not been collected after",
      "message expired after sitting in queue for",
      "message expired, cannot connect to remote server",
      "message expired, connection refulsed",
      "message timed out",
      "retry time not reached for any host after a long failure period",
      "server did not respond",
      "this message has been in the queue too long",
      "unable to deliver message after multiple retries",
      "was not reachable within the allowed queue period",
      "your message could not be delivered for more than"
    ],
    sequences: [["could not be delivered for", " days"]]
  },
  failedstarttls: { any: ["starttls is required to send mail", "tls required but not supported"] },
  filtered: {
    any: [
      "account is protected by",
      "bounced address",
      "has restricted sms e-mail",
      "is not accepting any mail",
      "message filtered",
      "message rejected due to user rules",
      "not found recipient account",
      "recipient id refuse to receive mail",
      "recipient is only accepting mail from specific email addresses",
      "refused due to recipient preferences",
      "user not found",
      "user refuses to receive this mail",
      "user reject",
      "you have been blocked by the recipient"
    ]
  },
  hasmoved: { any: [" has been replaced by "] },
  hostunknown: {
    any: [
      "domain does not exist",
      "domain is not reachable",
      "domain must exist",
      "host or domain name not found",
      "host unknown",
      "host unreachable",
      "mail domain mentioned in email address is unknown",
      "name or service not known",
      "no such domain",
      "recipient address rejected: unknown domain name",
      "recipient domain must exist",
      "the account or domain may not exist",
      "unknown host",
      "unroutable address",
      "unrouteable address"
    ],
    sequences: [["553 ", " does not exist"]]
  },
  mailboxfull: {
    any: [
      "452 insufficient disk space",
      "account disabled temporarly for exceeding receiving limits",
      "boite du destinataire pleine",
      "exceeded storage allocation",
      "full mailbox",
      "mailbox exceeds allowed size",
      "mailbox size limit exceeded",
      "mailbox would exceed maximum allowed storage",
      "mailfolder is full",
      "no space left on device",
      "not sufficient disk space",
      "quota violation for",
      "too much mail data",
      "user has exceeded quota, bouncing mail",
      "user has too many messages on the server",
      "user's space has been used up"
    ],
    sequences: [
      ["account is ", " quota"],
      ["disk", "quota"],
      ["enough ", " space"],
      ["mailbox ", "exceeded", " limit"],
      ["mailbox ", "full"],
      ["mailbox ", "quota"],
      ["maildir ", "quota"],
      ["over ", "quota"],
      ["quota ", "exceeded"]
    ]
  },
  mailererror: {
    any: [
      " || exit ",
      "procmail: ",
      "bin/procmail",
      "bin/maidrop",
      "command failed: ",
      "command died with status ",
      "command output:",
      "mailer error",
      "pipe to |/",
      "x-unix; "
    ]
  },
  mesgtoobig: {
    any: [
      "exceeded maximum inbound message size",
      "exceeded the maximum incoming message size",
      "line limit exceeded",
      "max message size exceeded",
      "message file too big",
      "message length exceeds administrative limit",
      "message size exceeds fixed limit",
      "message size exceeds fixed maximum message size",
      "message size exceeds maximum value",
      "message too big",
      "message too large for this ",
      "size limit",
      "taille limite du message atteinte"
    ]
  },
  networkerror: {
    any: [
      "could not connect and send the mail to",
      "dns records for the destination computer could not be found",
      "hop count exceeded - possible mail loop",
      "host is unreachable",
      "host name lookup failure",
      "host not found, try again",
      "mail forwarding loop for ",
      "malformed name server reply",
      "malformed or unexpected name server reply",
      "maximum forwarding loop count exceeded",
      "message looping",
      "message probably in a routing loop",
      "no route to host",
      "too many hops",
      "unable to resolve route ",
      "unrouteable mail domain"
    ]
  },
  norelaying: {
    any: [
      "as a relay",
      "email address is not verified.",
      "insecure mail relay",
      "is not permitted to relay through this server without authentication",
      "mail server requires authentication when attempting to send to a non-local e-mail address",
      "no relaying",
      "not a gateway",
      "not allowed to relay through this machine",
      "not an open relay, so get lost",
      "not local host",
      "relay access denied",
      "relay denied",
      "relay not permitted",
      "relaying denied",
      "relaying mail to ",
      "specified domain is not allowed",
      "that domain isn't in my list of allowed rcpthost",
      "this system is not configured to relay mail",
      "unable to relay ",
      "we don't handle mail for"
    ]
  },
  notaccept: {
    any: [
      "does not accept mail (nullmx)",
      "host/domain does not accept mail",
      "host does not accept mail",
      "mail receiving disabled",
      "name server: .: host not found",
      "no mx record found for domain=",
      "no route for current request",
      "smtp protocol returned a permanent error"
    ]
  },
  notcompliantrfc: {
    any: [
      "duplicate header",
      "this message is not rfc 5322 compliant",
      "https://support.google.com/mail/?p=rfcmessagenoncompliant"
    ],
    sequences: [[" multiple ", " header"]]
  },
  policyviolation: {
    any: [
      "an illegal attachment on your message",
      "because the recipient is not accepting mail with ",
      "by non-member to a members-only list",
      "closed mailing list",
      "denied by policy",
      "email not accepted for policy reasons",
      "email rejected due to security policies",
      "header are not accepted",
      "header error",
      "local policy violation",
      "message bounced due to organizational settings",
      "message given low priority",
      "message not accepted for policy reasons",
      "message rejected due to local policy",
      "messages with multiple addresses",
      "rejected for policy reasons",
      "protocol violation",
      "the email address used to send your message is not subscribed to this group",
      "the message was rejected by organization policy",
      "this message was blocked because its content presents a potential",
      "we do not accept messages containing images or other attachments",
      "you're using a mass mailer"
    ],
    sequences: [["you have exceeded the", "allowable number of posts without solving a captcha"]]
  },
  rejected: {
    any: [
      "access denied (in reply to mail from command)",
      "access denied (sender blacklisted)",
      "address rejected",
      "administrative prohibition",
      "batv failed to verify",
      "batv validation failure",
      "backscatter protection detected an invalid or expired email address",
      "because the sender isn't on the recipient's list of senders to accept mail from",
      "bogus mail from",
      "can't determine purported responsible address",
      "connections not accepted from servers without a valid sender domain",
      "denied [bouncedeny]",
      "denied by secumail valid-address-filter",
      "delivery not authorized, message refused",
      "does not exist e2110",
      "domain of sender address ",
      "email address is on senderfilterconfig list",
      "emetteur invalide",
      "empty envelope senders not allowed",
      "envelope blocked - ",
      "error: no third-party dsns",
      "from: domain is invalid. please provide a valid from:",
      "fully qualified email address required",
      "invalid domain, see <url:",
      "invalid sender",
      "is not a registered gateway user",
      "mail from not owned by user",
      "message rejected: email address is not verified",
      "mx records for ",
      "null sender is not allowed",
      "recipient addresses rejected : access denied",
      "recipient not accepted. (batv: no tag",
      "returned mail not accepted here",
      "rfc 1035 violation: recursive cname records for",
      "rule imposed mailbox access for",
      "sending this from a different address or alias using the ",
      "sender address has been blacklisted",
      "sender email address rejected",
      "sender is in my black list",
      "sender is spammer",
      "sender not pre-approved",
      "sender rejected",
      "sender domain is empty",
      "sender verify failed",
      "sender was rejected",
      "spam reporting address",
      "syntax error: empty email address",
      "the message has been rejected by batv defense",
      "this server does not accept mail from",
      "transaction failed unsigned dsn for",
      "unroutable sender address",
      "you are not allowed to post to this mailing list",
      "you are sending to/from an address that has been blacklisted",
      "your access to submit messages to this e-mail system has been rejected",
      "your email address has been blacklisted"
    ],
    unless: ["5.1.0 address rejected", "recipient address rejected", "sender ip address rejected"]
  },
  requireptr: {
    any: [
      "access denied. ip name lookup failed",
      "all mail servers must have a ptr record with a valid reverse dns entry",
      "bad dns ptr resource record",
      "cannot find your hostname",
      "cannot resolve your address.",
      "client host rejected: cannot find your hostname",
      "fix reverse dns for ",
      "ips with missing ptr records",
      "no ptr record found.",
      "please get a custom reverse dns name from your isp for your host",
      "ptr record setup",
      "reverse dns failed",
      "reverse dns required",
      "sender ip reverse lookup rejected",
      "the ip address sending this message does not have a ptr record setup",
      "the corresponding forward dns entry does not point to the sending ip",
      "this system will not accept messages from servers/devices with no reverse dns",
      "unresolvable relay host name",
      "we do not accept mail from hosts with dynamic ip or generic dns ptr-records"
    ],
    sequences: [
      ["domain ", " mismatches client ip"],
      ["dns lookup failure: ", " try again later"],
      ["reverse dns lookup for host ", " failed permanently"],
      ["server access ", " forbidden by invalid rdns record of your mail server"],
      ["service permits ", " unverifyable sending ips"]
    ]
  },
  securityerror: {
    any: [
      "account not subscribed to ses",
      "authentication credentials invalid",
      "authentication failure",
      "authentication required",
      "authentication turned on in your email client",
      "executable files are not allowed in compressed files",
      "insecure mail relay",
      "recipient address rejected: access denied",
      "sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
      "unauthenticated senders not allowed",
      "verification failure",
      "you are not authorized to send mail, authentication is required"
    ],
    sequences: [
      ["authentication failed; server ", " said: "],
      ["authentification invalide", "305"],
      ["authentification requise", "402"],
      ["domain ", " is a dead domain"],
      ["user ", " is not authorized to perform ses:sendrawemail on resource"]
    ]
  },
  spamdetected: {
    any: [
      " - spam",
      "//www.spamhaus.org/help/help_spam_16.htm",
      "//dsbl.org/help/help_spam_16.htm",
      "//mail.163.com/help/help_spam_16.htm",
      "554 5.7.0 reject, id=",
      "appears to be unsolicited",
      "blacklisted url in message",
      "block for spam",
      "blocked by policy: no spam please",
      "blocked by spamassassin",
      "blocked for abuse. see http://att.net/blocks",
      "cannot be forwarded because it was detected as spam",
      "considered unsolicited bulk e-mail (spam) by our mail filters",
      "content filter rejection",
      "cyberoam anti spam engine has identified this email as a bulk email",
      "denied due to spam list",
      "high probability of spam",
      "is classified as spam and is rejected",
      "listed in work.drbl.imedia.ru",
      "the mail server detected your message as spam and has prevented delivery.",
      "mail appears to be unsolicited",
      "mail content denied",
      "may consider spam",
      "message considered as spam or virus",
      "message contains spam or virus",
      "message content rejected",
      "message detected as spam",
      "message filtered",
      "message filtered. please see the faqs section on spam",
      "message filtered. refer to the troubleshooting page at ",
      "message looks like spam",
      "message is being rejected as it seems to be a spam",
      "message refused by mailmarshal spamprofiler",
      "message refused by trustwave seg spamprofiler",
      "message rejected as spam",
      "message rejected because of unacceptable content",
      "message rejected due to suspected spam content",
      "message rejected for policy reasons",
      "message was rejected for possible spam/virus content",
      "our email server thinks this email is spam",
      "our system has detected that this message is ",
      "probable spam",
      "reject bulk.advertising",
      "rejected: spamassassin score ",
      "rejected - bulk email",
      "rejecting banned content",
      "rejecting mail content",
      "related to content with spam-like characteristics",
      "sender domain listed at ",
      "sending address not accepted due to spam filter",
      "spam blocked",
      "spam check",
      "spam content matched",
      "spam detected",
      "spam email",
      "spam email not accepted",
      "spam message rejected.",
      "spam not accepted",
      "spam refused",
      "spam rejection",
      "spam score ",
      "spambouncer identified spam",
      "spamming not allowed",
      "too many spam complaints",
      "too much spam.",
      "the email message was detected as spam",
      "the message has been rejected by spam filtering engine",
      "the message was rejected due to classification as bulk mail",
      "the content of this message looked like spam",
      "this message appears to be spam",
      "this message has been identified as spam",
      "this message has been scored as spam with a probability",
      "this message was classified as spam",
      "this message was rejected by recurrent pattern detection system",
      "transaction failed spam message not queued",
      "we dont accept spam",
      "your email appears similar to spam we have received before",
      "your email breaches local uribl policy",
      "your email had spam-like ",
      "your email is considered spam",
      "your email is probably spam",
      "your email was detected as spam",
      "your message as spam and has prevented delivery",
      "your message has been temporarily blocked by our filter",
      "your message has been rejected because it appears to be spam",
      "your message has triggered a spam block",
      "your message may contain the spam contents",
      "your message failed several antispam checks"
    ],
    sequences: [
      ["greylisted", " please try again in"],
      ["mail score (", " over "],
      ["mail rejete. mail rejected. ", "506"],
      ["our filters rate at and above ", " percent probability of being spam"],
      ["rejected by ", " (spam)"],
      ["rejected due to spam ", "classification"],
      ["rejected due to spam ", "content"],
      ["rule imposed as ", " is blacklisted on"],
      ["spam ", " exceeded"],
      ["this message scored ", " spam points"]
    ]
  },
  speeding: {
    any: [
      "mail sent from your ip address has been temporarily rate limited",
      "please try again slower",
      "receiving mail at a rate that prevents additional messages from being delivered"
    ]
  },
  suspend: {
    any: [
      " is currently suspended",
      " temporary locked",
      "archived recipient",
      "boite du destinataire archivee",
      "email account that you tried to reach is disabled",
      "has been suspended",
      "inactive account",
      "invalid/inactive user",
      "is a deactivated mailbox",
      "is unavailable: user is terminated",
      "mailbox currently suspended",
      "mailbox disabled",
      "mailbox is frozen",
      "mailbox temporarily disabled",
      "mailbox unavailable or access denied",
      "recipient rejected: temporarily inactive",
      "recipient suspend the service",
      "the email account that you tried to reach is inactive",
      "this account has been disabled or discontinued",
      "this account has been temporarily suspended",
      "this address no longer accepts mail",
      "this mailbox is disabled",
      "user or domain is disabled",
      "user suspended",
      "vdelivermail: account is locked email bounced"
    ]
  },
  systemerror: {
    any: [
      "aliasing/forwarding loop broken",
      "can't create user output file",
      "could not load drd for domain",
      "internal error reading data",
      "internal server error: operation now in progress",
      "interrupted system call",
      "it encountered an error while being processed",
      "it would create a mail loop",
      "local configuration error",
      "local error in processing",
      "loop was found in the mail exchanger",
      "loops back to myself",
      "mail system configuration error",
      "queue file write error",
      "recipient deferred because there is no mdb",
      "remote server is misconfigured",
      "server configuration error",
      "service currently unavailable",
      "system config error",
      "temporary local problem",
      "timeout waiting for input",
      "transaction failed "
    ],
    sequences: [["unable to connect ", "daemon"]]
  },
  systemfull: {
    any: ["mail system full", "requested mail action aborted: exceeded storage allocation"]
  },
  toomanyconn: {
    any: [
      "all available ips are at maximum connection limit",
      "connection rate limit exceeded",
      "exceeds per-domain connection limit for",
      "has exceeded the max emails per hour ",
      "throttling failure: daily message quota exceeded",
      "throttling failure: maximum sending rate exceeded",
      "too many connections",
      "too many connections from your host.",
      "too many concurrent smtp connections",
      "too many errors from your ip",
      "too many recipients",
      "too many smtp sessions for this host",
      "trop de connexions, ",
      "we have already made numerous attempts to deliver this message"
    ]
  },
  userunknown: {
    any: [
      "#5.1.1 bad address",
      "550 address invalid",
      "5.1.0 address rejected.",
      "address does not exist",
      "address not present in directory",
      "address unknown",
      "can't accept user",
      "does not exist.",
      "destination addresses were unknown",
      "destination server rejected recipients",
      "email address does not exist",
      "email address could not be found",
      "invalid address",
      "invalid mailbox",
      "invalid mailbox path",
      "invalid recipient",
      "is not a known user",
      "is not a valid mailbox",
      "is not an active address at this host",
      "mailbox does not exist",
      "mailbox invalid",
      "mailbox is inactive",
      "mailbox is unavailable",
      "mailbox not present",
      "mailbox not found",
      "mailbox unavaiable",
      "nessun utente simile in questo indirizzo",
      "no account by that name here",
      "no existe dicha persona",
      "no existe ese usuario ",
      "no mail box available for this user",
      "no mailbox by that name is currently available",
      "no mailbox found",
      "no such address here",
      "no such mailbox",
      "no such person at this address",
      "no such recipient",
      "no such user",
      "no thank you rejected: account unavailable",
      "no valid recipients, bye",
      "not a valid recipient",
      "not a valid user here",
      "not a local address",
      "not email addresses",
      "recipient address rejected. (in reply to rcpt to command)",
      "recipient address rejected: access denied",
      "recipient address rejected: invalid user",
      "recipient address rejected: invalid-recipient",
      "recipient address rejected: unknown user",
      "recipient address rejected: userunknown",
      "recipient does not exist",
      "recipient is not accepted",
      "recipient is not local",
      "recipient not exist",
      "recipient not found",
      "recipient not ok",
      "recipient refuses to accept your mail",
      "recipient unknown",
      "requested action not taken: mailbox unavailable",
      "resolver.adr.recipient notfound",
      "sorry, user unknown",
      "sorry, badrcptto",
      "sorry, no mailbox here by that name",
      "sorry, your envelope recipient has been denied",
      "that domain or user isn't in my list of allowed rcpthosts",
      "the email account that you tried to reach does not exist",
      "the following recipients was undeliverable",
      "the user's email name is not found",
      "there is no one at this address",
      "this address no longer accepts mail",
      "this email address is wrong or no longer valid",
      "this recipient is in my badrecipientto list",
      "this recipient is not in my validrcptto list",
      "this spectator does not exist",
      "unknown mailbox",
      "unknown recipient",
      "unknown user",
      "user does not exist",
      "user missing home directory",
      "user not active",
      "user not exist",
      "user not found",
      "user not known",
      "user unknown",
      "utilisateur inconnu !",
      "vdeliver: invalid or unknown virtual user",
      "weil die adresse nicht gefunden wurde oder keine e-mails empfangen kann",
      "your envelope recipient is in my badrcptto list"
    ],
    sequences: [
      ["<", "> not found"],
      ["<", ">... blocked by "],
      ["account ", " does not exist at the organization"],
      ["adresse d au moins un destinataire invalide. invalid recipient.", "416"],
      ["adresse d au moins un destinataire invalide. invalid recipient.", "418"],
      ["bad", "recipient"],
      ["mailbox ", "does not exist"],
      ["mailbox ", "unavailable or access denied"],
      ["no ", " in name directory"],
      ["non", "existent user"],
      ["rcpt <", " does not exist"],
      ["rcpt (", "t exist "],
      ["recipient ", " was not found in"],
      ["recipient address rejected: user ", "  does not exist"],
      ["recipient address rejected: user unknown in ", "  table"],
      ["said: 550", "5.1.1 ", " user unknown "],
      ["this user doesn't have a ", " account"],
      ["unknown e", "mail address"],
      ["unknown local", "part"],
      ["user ", " was not found"],
      ["user ", " does not exist"],
      ["user (", ") unknown"]
    ]
  },
  vacation: {
    any: ["i am away on vacation", "i am away until", "i am out of the office", "i will be traveling for work on"]
  },
  virusdetected: {
    any: [
      "it has a potentially executable attachment",
      "the message was rejected because it contains prohibited virus or spam content",
      "this form of attachment has been used by recent viruses or other malware",
      "virus detected",
      "virus phishing/malicious_url detected",
      "your message was infected with a virus"
    ]
  }
} satisfies Partial<Record<Reason, TextMatch>>

// ---------------------------------------------------------------------------------------------------------------
// What an enhanced status code stands for (sisimai smtp/status Name). Codes not listed stand for no reason:
// x.0.0, 4.3.0, 4.4.0, 4.5.0, 4.7.0 and the like decide nothing by themselves.

export const statusReasons: ReadonlyMap<string, Reason> = new Map<string, Reason>([
  ["2.1.5", "delivered"],
  ["4.1.6", "hasmoved"],
  ["4.1.7", "rejected"],
  ["4.1.8", "rejected"],
  ["4.1.9", "systemerror"],
  ["4.2.1", "blocked"],
  ["4.2.2", "mailboxfull"],
  ["4.2.3", "exceedlimit"],
  ["4.2.4", "filtered"],
  ["4.3.1", "systemfull"],
  ["4.3.2", "notaccept"],
  ["4.3.3", "systemerror"],
  ["4.3.5", "systemerror"],
  ["4.4.1", "expired"],
  ["4.4.2", "networkerror"],
  ["4.4.3", "systemerror"],
  ["4.4.4", "networkerror"],
  ["4.4.5", "systemfull"],
  ["4.4.6", "networkerror"],
  ["4.4.7", "expired"],
  ["4.4.8", "networkerror"],
  ["4.5.3", "systemerror"],
  ["4.5.5", "systemerror"],
  ["4.6.0", "contenterror"],
  ["4.6.2", "contenterror"],
  ["4.6.5", "contenterror"],
  ["4.7.1", "blocked"],
  ["4.7.2", "blocked"],
  ["4.7.5", "securityerror"],
  ["4.7.6", "securityerror"],
  ["4.7.7", "securityerror"],
  ["4.7.12", "securityerror"],
  ["4.7.15", "securityerror"],
  ["4.7.16", "mesgtoobig"],
  ["4.7.24", "authfailure"],
  ["4.7.25", "requireptr"],
  ["4.7.26", "authfailure"],
  ["5.1.0", "userunknown"],
  ["5.1.1", "userunknown"],
  ["5.1.2", "hostunknown"],
  ["5.1.3", "userunknown"],
  ["5.1.4", "filtered"],
  ["5.1.6", "hasmoved"],
  ["5.1.7", "rejected"],
  ["5.1.8", "rejected"],
  ["5.1.9", "systemerror"],
  ["5.1.10", "notaccept"],
  ["5.2.0", "filtered"],
  ["5.2.1", "filtered"],
  ["5.2.2", "mailboxfull"],
  ["5.2.3", "exceedlimit"],
  ["5.2.4", "filtered"],
  ["5.3.0", "systemerror"],
  ["5.3.1", "systemfull"],
  ["5.3.2", "notaccept"],
  ["5.3.3", "systemerror"],
  ["5.3.4", "mesgtoobig"],
  ["5.3.5", "systemerror"],
  ["5.4.0", "networkerror"],
  ["5.4.3", "systemerror"],
  ["5.4.4", "hostunknown"],
  ["5.5.2", "syntaxerror"],
  ["5.5.3", "toomanyconn"],
  ["5.5.4", "systemerror"],
  ["5.5.5", "systemerror"],
  ["5.5.6", "syntaxerror"],
  ["5.6.0", "contenterror"],
  ["5.6.1", "contenterror"],
  ["5.6.2", "contenterror"],
  ["5.6.3", "contenterror"],
  ["5.6.5", "contenterror"],
  ["5.6.6", "contenterror"],
  ["5.6.7", "contenterror"],
  ["5.6.8", "contenterror"],
  ["5.6.9", "contenterror"],
  ["5.7.0", "securityerror"],
  ["5.7.1", "securityerror"],
  ["5.7.2", "securityerror"],
  ["5.7.3", "securityerror"],
  ["5.7.4", "securityerror"],
  ["5.7.5", "securityerror"],
  ["5.7.6", "securityerror"],
  ["5.7.7", "securityerror"],
  ["5.7.8", "securityerror"],
  ["5.7.9", "securityerror"],
  ["5.7.10", "securityerror"],
  ["5.7.11", "securityerror"],
  ["5.7.13", "suspend"],
  ["5.7.14", "securityerror"],
  ["5.7.15", "securityerror"],
  ["5.7.16", "mesgtoobig"],
  ["5.7.17", "hasmoved"],
  ["5.7.18", "hasmoved"],
  ["5.7.19", "securityerror"],
  ["5.7.20", "authfailure"],
  ["5.7.21", "authfailure"],
  ["5.7.22", "authfailure"],
  ["5.7.23", "authfailure"],
  ["5.7.24", "authfailure"],
  ["5.7.25", "requireptr"],
  ["5.7.26", "authfailure"],
  ["5.7.27", "notaccept"],
  ["5.7.28", "spamdetected"],
  ["5.7.29", "authfailure"],
  ["5.7.30", "failedstarttls"]
])

// ---------------------------------------------------------------------------------------------------------------
// Mail services recognised by the host of the remote MTA, the reporting MTA, or the recipient's domain
// (sisimai rhost/lib.go RhostClass).

export interface Service {
  readonly name: string
  readonly hosts: ReadonlyArray<string>
}

export const services: ReadonlyArray<Service> = [
  { name: "Aol", hosts: [".mail.aol.com", ".mx.aol.com"] },
  { name: "Apple", hosts: [".mail.icloud.com", ".apple.com", ".me.com"] },
  { name: "Cloudflare", hosts: [".mx.cloudflare.net"] },
  { name: "Cox", hosts: ["cox.net"] },
  { name: "Facebook", hosts: [".facebook.com"] },
  { name: "FrancePTT", hosts: [".laposte.net", ".orange.fr", ".wanadoo.fr"] },
  { name: "GoDaddy", hosts: ["smtp.secureserver.net", "mailstore1.secureserver.net"] },
  { name: "Google", hosts: ["aspmx.l.google.com", "gmail-smtp-in.l.google.com"] },
  { name: "GSuite", hosts: ["googlemail.com"] },
  { name: "IUA", hosts: [".email.ua"] },
  { name: "KDDI", hosts: [".ezweb.ne.jp", "msmx.au.com"] },
  { name: "MessageLabs", hosts: [".messagelabs.com"] },
  {
    name: "Microsoft",
    hosts: [".prod.outlook.com", ".protection.outlook.com", ".onmicrosoft.com", ".exchangelabs.com"]
  },
  { name: "Mimecast", hosts: [".mimecast.com"] },
  { name: "NTTDOCOMO", hosts: ["mfsmax.docomo.ne.jp"] },
  { name: "Outlook", hosts: [".hotmail.com"] },
  { name: "Spectrum", hosts: ["charter.net"] },
  { name: "Tencent", hosts: [".qq.com"] },
  { name: "YahooInc", hosts: [".yahoodns.net"] },
  { name: "Zoho", hosts: [".zoho.com", ".zohomail.com", ".zoho.eu"] }
]

// ---------------------------------------------------------------------------------------------------------------
// Building blocks of the table.

type Match = RuleMatch
const rule = (name: string, reason: Reason, match: Match): Rule => ({ name, reason, match })
const text = (...matches: ReadonlyArray<TextMatch>): ReadonlyArray<TextMatch> => matches
const any = (...strings: ReadonlyArray<string>): TextMatch => ({ any: strings })
const pattern = (...patterns: ReadonlyArray<string>): TextMatch => ({ patterns })

/** The SMTP commands sent before DATA: a filter reading the message cannot have answered them (sisimai). */
const beforeData = ["CONN", "EHLO", "HELO", "MAIL", "RCPT"]
/** Diagnostics that are no SMTP reply: the exit status of a local program (RFC 3464 section 2.3.6). */
const notSmtp = ["X-UNIX"]

/** Local delivery agents and what their errors say (sisimai lda/lib.go). */
const localAgents: ReadonlyArray<{
  readonly agent: string
  readonly markers: ReadonlyArray<string>
  readonly messages: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]>
}> = [
  {
    agent: "dovecot",
    markers: ["your message to <", "> was automatically rejected:"],
    messages: [
      ["mailboxfull", ["not enough disk space", "quota exceeded", "quota exceeded (mailbox for user is full)"]],
      ["userunknown", ["mailbox doesn't exist: "]]
    ]
  },
  {
    agent: "mail.local",
    markers: ["mail.local: "],
    messages: [
      ["mailboxfull", ["disc quota exceeded", "mailbox full or quota exceeded"]],
      ["systemerror", ["temporary file write error"]],
      ["userunknown", [": invalid mailbox path", ": unknown user:", ": user missing home directory", ": user unknown"]]
    ]
  },
  {
    agent: "procmail",
    markers: ["procmail: ", "/procmail "],
    messages: [
      ["mailboxfull", ["quota exceeded while writing", "user over quota"]],
      ["systemerror", ["service unavailable"]],
      ["systemfull", ["no space left to finish writing"]]
    ]
  },
  {
    agent: "maildrop",
    markers: ["maildrop: "],
    messages: [
      ["mailboxfull", ["maildir over quota."]],
      ["userunknown", ["cannot find system user", "invalid user specified."]]
    ]
  },
  {
    agent: "vpopmail",
    markers: ["vdelivermail: "],
    messages: [
      ["filtered", ["user does not exist, but will deliver to "]],
      ["mailboxfull", ["domain is over quota", "user is over quota"]],
      ["suspend", ["account is locked email bounced"]],
      ["userunknown", ["sorry, no mailbox here by that name."]]
    ]
  },
  {
    agent: "vmailmgr",
    markers: ["vdeliver: "],
    messages: [
      ["mailboxfull", ["delivery failed due to system quota violation"]],
      [
        "userunknown",
        [
          "invalid or unknown base user or domain",
          "invalid or unknown virtual user",
          "user name does not refer to a virtual user"
        ]
      ]
    ]
  }
]

const ldaRules: ReadonlyArray<Rule> = localAgents.flatMap(({ agent, markers, messages }) => [
  ...messages.map(([reason, strings]) =>
    rule(`lda.${agent}.${reason}`, reason, {
      command: ["", "DATA"],
      text: text({ any: markers }),
      alsoText: text({ any: strings })
    })
  ),
  rule(`lda.${agent}.mailererror`, "mailererror", { command: ["", "DATA"], text: text({ any: markers }) })
])

/** A regular expression alternative for the numbers from..to (small ranges of error codes). */
const numberRange = (from: number, to: number): string =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i)).join("|")

// Google: reply code and status are compared without their class digit (sisimai rhost/for-google.go).
const google = (reason: Reason, entries: ReadonlyArray<readonly [string, string, string]>): Array<Rule> =>
  entries.map(([reply, status, message], i) =>
    rule(`rhost.google.${reason}.${i + 1}`, reason, {
      service: ["Google"],
      replyCode: [`*${reply.slice(1)}`],
      status: [`*${status.slice(1)}`],
      text: text(any(message))
    })
  )

const googleRules: ReadonlyArray<Rule> = [
  ...google("authfailure", [
    ["451", "4.7.24", "the spf record of the sending domain"],
    ["550", "5.7.24", "the spf record of the sending domain"],
    ["421", "4.7.26", "senders to authenticate with either spf or dkim"],
    ["550", "5.7.26", "senders to authenticate with either spf or dkim"],
    ["550", "5.7.26", "fails to pass spf checks for an spf record with a hard fail"],
    ["550", "5.7.26", "has an spf record with a hard fail policy"],
    ["451", "4.7.26", "is not accepted due to domain's dmarc policy"],
    ["550", "5.7.26", "is not accepted due to domain's dmarc policy"],
    ["550", "5.7.1", "fails to pass authentication checks"],
    ["550", "5.7.26", "fails to pass authentication checks"],
    ["421", "4.7.27", "senders to authenticate with spf"],
    ["421", "4.7.27", "senders to authenticate their email with spf"],
    ["550", "5.7.27", "senders to authenticate with spf"],
    ["421", "4.7.30", "senders to authenticate their email with dkim"],
    ["550", "5.7.30", "senders to authenticate with dkim"],
    ["421", "4.7.32", "aligned with either the authenticated spf or dkim"],
    ["421", "5.7.32", "aligned with either the authenticated spf or dkim"],
    ["421", "4.7.40", "to add a dmarc record to "]
  ]),
  ...google("badreputation", [
    ["421", "4.7.0", "very low reputation of the sending ip address"],
    ["421", "4.7.0", "very low reputation of the sending domain"],
    ["550", "5.7.1", "due to the very low reputation of the sending ip address"],
    ["550", "5.7.1", "due to the very low reputation of the sending domain"]
  ]),
  ...google("blocked", [
    ["421", "4.7.0", "ip not in whitelist for rcpt domain"],
    ["421", "4.7.0", "try again later, closing connection."],
    ["501", "5.5.4", "empty helo/ehlo argument not allowed"],
    ["501", "5.5.4", "helo/ehlo argument is invalid"],
    ["421", "4.7.0", "an unusual rate of unsolicited mail"],
    ["421", "4.7.28", "an unusual rate of mail"],
    ["550", "5.7.1", "an unusual rate of unsolicited mail"],
    ["550", "5.7.28", "an unusual rate of unsolicited mail"]
  ]),
  ...google("exceedlimit", [
    ["552", "5.2.3", "exceeded google's message size limits"],
    ["552", "5.3.4", "exceeds google's limit of limit attachments."],
    ["552", "5.3.4", "your message exceeded google's message header size limits"],
    ["552", "5.3.4", "bytes per individual header size"],
    ["552", "5.3.4", "exceeds google's header name limit of"],
    ["552", "5.3.4", "exceeds google's message header size limit"]
  ]),
  ...google("expired", [
    ["421", "4.7.0", "connection expired"],
    ["451", "4.4.2", "timeout - closing connection"]
  ]),
  ...google("failedstarttls", [
    ["530", "5.7.0", "must issue a starttls command first"],
    ["454", "5.5.1", "starttls may not be repeated"],
    ["421", "4.7.0", "tls required for rcpt domain"],
    ["421", "4.7.29", "senders to use tls/ssl for smtp"],
    ["550", "5.7.29", "senders to use tls/ssl for smtp"]
  ]),
  ...google("mailboxfull", [
    ["452", "4.2.2", "inbox is out of storage space"],
    ["552", "5.2.2", "inbox is out of storage space and inactive"],
    ["452", "4.2.2", "is over quota"],
    ["552", "5.2.2", "is over quota"],
    ["550", "5.7.1", "email quota exceeded"]
  ]),
  ...google("mesgtoobig", [
    ["552", "5.3.4", "exceeded google's message size limits"],
    ["552", "5.3.4", "exceeds google's message size limit of"]
  ]),
  ...google("networkerror", [
    ["554", "5.4.6", "message exceeded 50 hops"],
    ["554", "5.6.0", "message exceeded 50 hops"]
  ]),
  ...google("norelaying", [
    ["550", "5.7.0", "mail relay denied"],
    ["550", "5.7.1", "invalid credentials for relay"],
    ["550", "5.7.1", "is not authorized to send email directly to our servers"]
  ]),
  ...google("notcompliantrfc", [
    ["550", "5.7.1", "missing a valid address in the from: header"],
    ["550", "5.7.1", "multiple addresses in from: header are not accepted"],
    ["550", "5.7.1", "is not rfc 5322 compliant"],
    ["550", "5.7.1", "missing a valid message-id: header"],
    ["550", "5.7.1", "contains a unicode character in a disallowed header"],
    ["550", "5.7.1", "encoded-word syntax is not permitted"],
    ["553", "5.1.7", "is not a valid rfc 5321 address"],
    ["554", "5.6.0", "mail message is malformed"]
  ]),
  ...google("policyviolation", [
    ["552", "5.7.0", "illegal attachment on your message"],
    ["552", "5.7.0", "blocked because its content presents a potential security issue"],
    ["550", "5.7.1", "you are sending to (or from) has a policy that prohibited"],
    ["421", "4.7.28", "sending messages with the same message-id:"]
  ]),
  ...google("rejected", [
    ["550", "5.7.0", "mail sending denied"],
    ["550", "5.7.1", "unauthenticated email is not accepted"]
  ]),
  ...google("requireptr", [
    ["421", "4.7.0", "does not have a ptr record"],
    ["421", "4.7.23", " have a ptr record, or the ptr record"],
    ["550", "5.7.1", "does not meet ipv6 sending guidelines regarding ptr records and authentication"],
    ["550", "5.7.25", "does not have a ptr record"],
    ["550", "5.7.25", "does not match the ip address of the hostname"]
  ]),
  ...google("securityerror", [
    ["454", "4.7.0", "too many login attempts"],
    ["501", "5.5.2", "cannot decode response"],
    ["503", "5.7.0", "no identity changes permitted"],
    ["530", "5.5.1", "authentication required."],
    ["530", "5.7.0", "authentication required."],
    ["535", "5.7.1", "application-specific password required"],
    ["535", "5.7.9", "application-specific password required"],
    ["535", "5.7.1", "please log in with your web browser"],
    ["534", "5.7.9", "please log in with your web browser"],
    ["534", "5.7.14", "please log in through your web browser"],
    ["535", "5.7.1", "username and password not accepted"],
    ["535", "5.7.8", "username and password not accepted"]
  ]),
  ...google("spamdetected", [
    ["421", "4.7.0", "due to the nature of the content or the links within"],
    ["550", "5.7.1", "likely unsolicited mail"]
  ]),
  ...google("speeding", [
    ["450", "4.2.1", "is receiving mail too quickly"],
    ["450", "4.2.1", "peak smtp relay limit exceeded for customer"],
    ["450", "4.2.1", "rate that prevents additional messages from being delivered"],
    ["550", "5.2.1", "rate that prevents additional messages from being delivered"],
    ["550", "5.4.5", "daily sending quota exceeded"],
    ["550", "5.4.5", "daily user sending limit exceeded"],
    ["550", "5.4.5", "daily smtp relay limit exceeded for"],
    ["550", "5.7.1", "daily smtp relay limit exceeded for"],
    ["550", "5.7.1", "daily smtp relay sending limit exceeded for"],
    ["550", "5.7.1", "this mail has been rate limited"]
  ]),
  ...google("suspend", [
    ["550", "5.2.1", "account that you tried to reach is disabled"],
    ["550", "5.2.1", "account that you tried to reach is inactive"]
  ]),
  ...google("syntaxerror", [
    ["451", "4.5.0", "smtp protocol violation"],
    ["454", "4.5.0", "smtp protocol violation"],
    ["525", "5.7.10", "smtp protocol violation"],
    ["535", "5.5.4", "optional argument not permitted"],
    ["501", "5.7.11", "syntax error"],
    ["501", "5.5.2", "syntax error"],
    ["555", "5.5.2", "syntax error"],
    ["502", "5.5.1", "too many unrecognized commands, goodbye"],
    ["502", "5.5.1", "unimplemented command"],
    ["502", "5.5.1", "unrecognized command"],
    ["503", "5.5.1", "bad sequence of commands"],
    ["503", "5.5.1", "ehlo/helo first"],
    ["503", "5.5.1", "mail first"],
    ["503", "5.5.1", "rcpt first"],
    ["503", "5.5.1", "no data after bdat"],
    ["504", "5.7.4", "unrecognized authentication type"],
    ["504", "5.7.4", "xoauth is no longer supported"],
    ["554", "5.7.0", "too many unauthenticated commands"]
  ]),
  ...google("systemerror", [
    ["421", "4.3.0", "temporary system problem"],
    ["421", "4.7.0", "temporary system problem"],
    ["421", "4.4.5", "server busy"],
    ["451", "4.3.0", "multiple destination domains per transaction is unsupported"],
    ["451", "4.3.0", "mail server has temporarily rejected this message"],
    ["451", "4.3.0", "mail server temporarily rejected message"],
    ["452", "4.5.3", "domain policy size per transaction exceeded"],
    ["454", "4.7.0", "cannot authenticate due to temporary system problem"]
  ]),
  ...google("toomanyconn", [
    ["452", "4.5.3", "your message has too many recipients"],
    ["550", "5.5.3", "too many recipients for this sender"]
  ]),
  ...google("userunknown", [
    ["550", "5.1.1", "the email account that you tried to reach does not exist"],
    ["553", "5.1.2", "we weren't able to find the recipient domain"],
    ["553", "5.1.3", "is not a valid rfc 5321 address"]
  ])
]

// Microsoft: the exact status (or a range of details) and a message (sisimai rhost/for-microsoft.go).
// A status with a three-digit detail (5.7.509, 4.4.312) is Microsoft's own: such a rule needs no host to apply.
const microsoft = (reason: Reason, entries: ReadonlyArray<readonly [string, string]>): Array<Rule> =>
  entries.map(([status, message], i) =>
    rule(`rhost.microsoft.${reason}.${i + 1}`, reason, {
      ...(/\.\d{3}/.test(status) ? {} : { service: ["Microsoft"] }),
      status: [status],
      text: text(any(message))
    })
  )

const microsoftRules: ReadonlyArray<Rule> = [
  ...microsoft("authfailure", [
    ["4.7.26", "must pass either spf or dkim validation, this message is not signed"],
    ["5.7.23", "the message was rejected because of sender policy framework violation"],
    ["5.7.509", "does not pass dmarc verification"],
    ["5.7.515", "doesn't meet the required authentication level"]
  ]),
  ...microsoft("badreputation", [["4.7.650", "has been temporarily rate limited due to ip reputation"]]),
  ...microsoft("blocked", [
    ["4.4.2", "connection dropped"],
    ["4.7.850-899", "access denied, please try again later"],
    ["5.7.25", "must have a reverse dns record"],
    ["5.7.506", "access denied, bad helo"],
    ["5.7.507", "access denied, rejected by recipient"],
    ["5.7.510", "does not accept email over ipv6"],
    ["5.7.511", "access denied, banned sender"],
    ["5.7.513", "using customer block list"],
    ["5.7.606-649", "access denied, banned sending ip "],
    ["4.7.500-699", "access denied, please try again later"],
    ["5.5.4", "invalid domain name"],
    ["5.7.1", "part of their network is on our block list (s3150)"]
  ]),
  ...microsoft("contenterror", [
    ["5.3.0", "too many related errors"],
    ["5.6.11", "invalid characters"],
    ["5.4.11", "agent generated message depth exceeded"],
    ["5.5.6", "invalid message content"]
  ]),
  ...microsoft("exceedlimit", [["5.2.3", "resolver.rst.recipsizelimit; message too large for this recipient"]]),
  ...microsoft("mesgtoobig", [
    ["5.3.4", "message size exceeds fixed maximum message size"],
    ["5.3.4", "message too big for system"]
  ]),
  ...microsoft("expired", [
    ["4.4.1", "connection timed out"],
    ["4.4.7", "message delayed"],
    ["4.4.7", "queue expired; message expired"],
    ["4.4.7", "message expired"],
    ["5.4.300", "message expired"],
    ["5.4.316", "message expired"]
  ]),
  ...microsoft("failedstarttls", [
    ["4.4.8", " failed mta-sts validation"],
    ["5.4.8", " failed mta-sts validation"],
    ["4.4.317", "starttls is required to send mail"],
    ["5.4.317", "starttls is required to send mail"],
    ["4.7.5", "remote certificate failed mta-sts validation"],
    ["5.7.5", "remote certificate failed mta-sts validation"],
    ["5.7.51", "restrictdomainstoipaddresses or restrictdomainstocertificate"],
    ["4.7.321", "starttls-not-supported:"],
    ["5.7.321", "starttls-not-supported:"],
    ["5.7.322", "certificate-expired:"],
    ["4.7.323", "tlsa-invalid:"],
    ["5.7.323", "tlsa-invalid:"],
    ["4.7.324", "dnssec-invalid:"],
    ["5.7.324", "dnssec-invalid:"],
    ["4.7.325", "certificate-host-mismatch:"],
    ["5.7.325", "certificate-host-mismatch:"]
  ]),
  ...microsoft("mailboxfull", [["5.2.2", "mailbox full"]]),
  ...microsoft("networkerror", [
    ["5.4.4", "smtpsend.dns.nonexistentdomain; nonexistent domain"],
    ["5.4.6", "hop count exceeded - possible mail loop"],
    ["4.4.312", "dns query failed"],
    ["5.4.312", "dns query failed"],
    ["4.4.316", "connection refused"],
    ["5.4.316", "connection refused"],
    ["5.4.4", "invalid arguments"],
    ["5.4.6", "routing loop detected"],
    ["5.4.14", "routing loop detected"]
  ]),
  ...microsoft("norelaying", [
    ["5.7.1", "unable to relay"],
    ["5.7.1", "client was not authenticated"],
    ["5.4.1", "relay access denied"],
    ["5.7.64", "tenantattribution; relay access denied"],
    ["5.4.310", "does not exist"]
  ]),
  ...microsoft("notaccept", [
    ["4.3.2", "system not accepting network messages"],
    ["4.4.4", "hosted tenant which has no mail-enabled subscriptions"],
    ["5.3.2", "storedrv.deliver: missing or bad storedriver mdb properties"]
  ]),
  ...microsoft("policyviolation", [
    ["5.0.350", "x-dg-ref header is too long"],
    ["5.0.350", "requested action not taken: policy violation detected (as345)"],
    ["5.7.900-999", "delivery not authorized, message refused"]
  ]),
  ...microsoft("rejected", [
    ["5.1.7", "invalid address"],
    ["5.1.7", "unknown sender address"],
    ["5.1.0", "sender denied"],
    ["5.1.8", "access denied, bad outbound sender"],
    ["5.7.1", "delivery not authorized"],
    ["5.7.12", "sender was not authenticated by organization"],
    ["5.7.124", "sender not in allowed-senders list"],
    ["5.7.133", "sender not authenticated for group"],
    ["5.7.134", "sender was not authenticated for mailbox"],
    ["5.7.13", "sender was not authenticated for public folder"],
    ["5.7.135", "sender was not authenticated for public folder"],
    ["5.7.136", "sender was not authenticated"],
    ["5.7.501-503", "access denied, spam abuse detected"],
    ["5.7.512", "access denied, message must be rfc 5322 section 3.6.2 compliant"],
    ["5.7.750", "service unavailable. client blocked from sending from unregistered domains"],
    ["5.7.501-503", "access denied, banned sender"]
  ]),
  ...microsoft("securityerror", [
    ["5.7.3", "cannot achieve exchange server authentication"],
    ["5.7.3", "not authorized"],
    ["5.7.1", "client was not authenticated"],
    ["5.7.57", "client was not authenticated to send anonymous mail during mail from"]
  ]),
  ...microsoft("spamdetected", [["5.2.1", "content filter agent quarantined this message"]]),
  ...microsoft("toomanyconn", [
    ["5.5.3", "too many recipients"],
    ["4.3.2", "storedrv.deliver; recipient thread limit exceeded"],
    ["4.5.3", "too many recipients"],
    ["4.7.652", "has exceeded the maximum number of connections"]
  ]),
  ...microsoft("speeding", [
    ["5.1.90", "reached your daily limit for message recipients"],
    ["5.2.2", "submission quota exceeded"],
    ["5.2.121", "recipient's per hour message receive limit"],
    ["5.2.122", "recipient's per hour message receive limit"],
    ["5.2.122", "the recipient has exceeded their limit for"],
    ["5.7.508", "has exceeded permitted limits within"],
    ["5.7.700-749", "tenant has exceeded threshold"],
    ["5.7.700-749", "traffic not accepted from this ip"]
  ]),
  ...microsoft("suspend", [
    ["5.7.504", "recipient address rejected: access denied"],
    ["5.7.505", "access denied, banned recipient"],
    ["5.2.1", "mailbox cannot be accessed"]
  ]),
  ...microsoft("syntaxerror", [
    ["5.3.3", "unrecognized command"],
    ["5.5.2", "send hello first"]
  ]),
  ...microsoft("systemerror", [
    ["4.3.2", "service not available"],
    ["4.3.2", "service not active"],
    ["5.3.5", "system incorrectly configured"],
    ["5.3.190", "when journaling archive is disabled"],
    ["5.0.0", "helo / ehlo requires domain address"],
    ["5.1.4", "destination mailbox address ambiguous"],
    ["5.2.4", "mailing list expansion problem"],
    ["5.2.14", "misconfigured forwarding address"],
    ["4.4.22-28", "message failed to be replicated:"],
    ["4.4.3", "temporary server error. please try again later attr18"],
    ["4.7.0", "temporary server error. please try again later. prx4 nexthop:"],
    ["4.4.318", "(suspiciousremoteservererror)"],
    ["5.4.318", "(suspiciousremoteservererror)"],
    ["4.7.500", "server busy. please try again later from "],
    ["4.7.700", "pfa agent busy, please try again."]
  ]),
  ...microsoft("systemfull", [["4.3.1", "insufficient system resources"]]),
  ...microsoft("userunknown", [
    ["5.1.1", "resolver.adr.exrecipnotfound; not found"],
    ["5.1.1", "user unknown"],
    ["5.1.3", "storedrv.submit; invalid recipient address"],
    ["5.1.4-5", "recipient address reserved by rfc 2606"],
    ["5.1.6", "recipient addresses in single label domains not accepted"],
    ["5.1.1", "bad destination mailbox address"],
    ["5.1.10", "recipient not found"],
    ["5.4.1", "recipient address rejected: access denied"],
    ["5.5.0", "requested action not taken: mailbox unavailable"],
    ["5.1.2", "invalid x.400 address"],
    ["5.1.351", "remote server returned unknown recipient or mailbox unavailable"]
  ]),
  // Outlook.com postmaster error codes, with the reply code they come with
  ...(
    [
      ["rp-001", "421", "badreputation"],
      ["rp-002", "421", "badreputation"],
      ["rp-003", "421", "badreputation"],
      ["sc-001", "550", "badreputation"],
      ["sc-002", "550", "policyviolation"],
      ["sc-003", "550", "blocked"],
      ["sc-004", "550", "blocked"],
      ["dy-001", "550", "blocked"],
      ["dy-002", "550", "virusdetected"],
      ["ou-001", "550", "blocked"],
      ["ou-002", "550", "badreputation"]
    ] as const
  ).map(([code, reply, reason]) =>
    rule(`rhost.microsoft.${code}`, reason, {
      service: ["Microsoft"],
      status: ["*.*.*"],
      replyCode: [reply],
      text: text(any(code))
    })
  )
]

/** A rule per message of a service whose messages alone decide (sisimai rhost modules with a message table). */
const messagesOf = (
  service: string,
  table: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]>,
  extra: Match = {}
): Array<Rule> =>
  table.map(([reason, messages]) =>
    rule(`rhost.${service.toLowerCase()}.${reason}`, reason, {
      ...extra,
      service: [service],
      text: text(any(...messages))
    })
  )

/** A rule per error code of a service: `pattern` finds the code in the lower-cased diagnostic. */
const codesOf = (
  service: string,
  table: ReadonlyArray<readonly [string, Reason]>,
  toPattern: (code: string) => string
): Array<Rule> =>
  table.map(([code, reason]) =>
    rule(`rhost.${service.toLowerCase()}.${code.toLowerCase()}`, reason, {
      service: [service],
      text: text(pattern(toPattern(code.toLowerCase())))
    })
  )

const serviceRules: ReadonlyArray<Rule> = [
  ...messagesOf("Aol", [
    ["hostunknown", ["host or domain name not found"]],
    ["notaccept", ["type=mx: malformed or unexpected name server reply"]]
  ]),
  ...messagesOf("Apple", [
    ["authfailure", ["s dmarc policy", "blocked for failing both spf and dkim autentication checks"]],
    [
      "blocked",
      [
        "rejected due to having a domain present in the spamhaus",
        "rejected due to listing in spamhaus",
        "blocked - see https://support.proofpoint.com/dnsbl-lookup",
        "not accepting connections"
      ]
    ],
    ["hasmoved", ["recipient no longer on server"]],
    ["mailboxfull", ["user is over quota"]],
    ["norelaying", ["relay access denied"]],
    ["notaccept", ["host/domain does not accept mail"]],
    ["policyviolation", ["due to local policy"]],
    ["rejected", ["sender address rejected"]],
    ["speeding", ["due to excessive volume"]],
    ["userunknown", ["inactive email address", "user does not exist", "unknown or illegal alias"]]
  ]),
  ...messagesOf("Cloudflare", [
    ["blocked", ["found on one or more dnsbls"]],
    ["systemerror", ["upstream error"]]
  ]),
  ...codesOf(
    "Cox",
    [
      ["CXBL", "blocked"],
      ["CXDNS", "requireptr"],
      ["CXSNDR", "authfailure"],
      ["CXSMTP", "rejected"],
      ["CXCNCT", "toomanyconn"],
      ["CXMXRT", "toomanyconn"],
      ["CDRBL", "blocked"],
      ["CXTHRT", "securityerror"],
      ["CXMJ", "securityerror"],
      ["IPBL0001", "blocked"],
      ["IPBL0010", "blocked"],
      ["IPBL0100", "blocked"],
      ["IPBL0011", "blocked"],
      ["IPBL0101", "blocked"],
      ["IPBL0110", "blocked"],
      ["IPBL0111", "blocked"],
      ["IPBL1000", "blocked"],
      ["IPBL1001", "blocked"],
      ["IPBL1010", "blocked"],
      ["IPBL1011", "blocked"],
      ["IPBL1100", "blocked"],
      ["IPBL1101", "blocked"],
      ["IPBL1110", "blocked"],
      ["IPBL1111", "blocked"],
      ["IPBL00001", "blocked"],
      ["URLBL011", "spamdetected"],
      ["URLBL101", "spamdetected"],
      ["URLBL110", "spamdetected"],
      ["URLBL1001", "spamdetected"]
    ],
    (code) => `aup#${code}(?:\\s|$)`
  ),
  ...messagesOf("Cox", [
    ["blocked", ["cox too many bad commands from", "too many invalid recipients"]],
    ["requireptr", ["dns check failure - try again later", "rejected - no rdns"]],
    ["policyviolation", ["esmtp no data before greeting", "attachment extension is forbidden"]],
    ["rejected", ["sender rejected"]],
    ["systemerror", ["esmtp server temporarily not available"]],
    [
      "toomanyconn",
      ["too many sessions from", "requested action aborted: try again later", "message threshold exceeded"]
    ],
    ["userunknown", ["recipient rejected"]]
  ]),
  ...codesOf(
    "Facebook",
    [
      ["POL-P7", "authfailure"],
      ["POL-P1", "blocked"],
      ["POL-P2", "blocked"],
      ["POL-P3", "blocked"],
      ["POL-P4", "blocked"],
      ["POL-T1", "blocked"],
      ["POL-T2", "blocked"],
      ["POL-T3", "blocked"],
      ["MSG-P2", "contenterror"],
      ["RCP-P2", "filtered"],
      ["RCP-P3", "filtered"],
      ["MSG-P1", "mesgtoobig"],
      ["INT-P2", "mesgtoobig"],
      ["MSG-P3", "notcompliantrfc"],
      ["DNS-P1", "rejected"],
      ["DNS-P2", "rejected"],
      ["DNS-T1", "rejected"],
      ["DNS-P3", "requireptr"],
      ["DNS-T2", "requireptr"],
      ["POL-P6", "spamdetected"],
      ["RCP-T4", "suspend"],
      ["RCP-T1", "systemerror"],
      ["CON-T1", "toomanyconn"],
      ["CON-T2", "toomanyconn"],
      ["CON-T3", "toomanyconn"],
      ["CON-T4", "toomanyconn"],
      ["MSG-T1", "toomanyconn"],
      ["RCP-P1", "userunknown"],
      ["INT-P1", "userunknown"],
      ["INT-P3", "userunknown"],
      ["INT-P4", "userunknown"],
      ["POL-P5", "virusdetected"]
    ],
    (code) => `(?<![a-z])${code}(?![a-z0-9])`
  ),
  ...codesOf(
    "FrancePTT",
    [
      ["101", "blocked"],
      ["102", "blocked"],
      ["103", "blocked"],
      ["104", "toomanyconn"],
      ["305", "securityerror"],
      ["401", "authfailure"],
      ["402", "securityerror"],
      ["403", "rejected"],
      ["405", "rejected"],
      ["415", "rejected"],
      ["416", "userunknown"],
      ["417", "mailboxfull"],
      ["420", "suspend"],
      ["421", "rejected"],
      ["426", "suspend"],
      ["505", "systemerror"],
      ["506", "spamdetected"],
      ["510", "blocked"],
      ["514", "mesgtoobig"],
      ["517", "authfailure"],
      ["630", "policyviolation"],
      ["999", "blocked"]
    ],
    (code) => `(?:lpn|ofr|ouk)[a-z0-9]*[-_]?${code}(?![0-9])`
  ),
  ...messagesOf("FrancePTT", [["authfailure", ["spf/dns de votre nom de domaine"]]]),
  ...codesOf(
    "GoDaddy",
    [
      ["IB401", "securityerror"],
      ["IB501", "notcompliantrfc"],
      ["IB502", "notcompliantrfc"],
      ["IB506", "rejected"],
      ["IB508", "authfailure"],
      ["IB108", "requireptr"],
      ["IB212", "spamdetected"],
      ["IB705", "virusdetected"],
      ["IB605", "toomanyconn"],
      ["IB007", "toomanyconn"],
      ["IB101", "speeding"],
      ["IB110", "blocked"],
      ["IB111", "blocked"],
      ["IB112", "blocked"],
      ["IB113", "blocked"],
      ["IB504", "speeding"],
      ["IB510", "speeding"],
      ["IB607", "speeding"],
      ["IB103", "badreputation"],
      ["IB104", "blocked"],
      ["IB105", "blocked"],
      ["IB106", "blocked"]
    ],
    (code) => ` ${code}(?![0-9])`
  ),
  ...messagesOf("GoDaddy", [
    ["blocked", ["rbl reject", "www.spamhaus.org/query/bl?ip="]],
    ["expired", ["has been in the queue too long", "delivery timeout"]],
    ["mailboxfull", ["account storage limit"]],
    ["spamdetected", ["message rejected for spam or virus content"]],
    ["suspend", ["account disabled"]],
    ["systemerror", ["message is looping"]],
    ["userunknown", ["recipient not found", "account does not exist"]]
  ]),
  // Google Workspace: NXDOMAIN is an unknown host only when the failure is permanent, a network error otherwise.
  rule("rhost.gsuite.hostunknown", "hostunknown", {
    service: ["GSuite"],
    status: ["2.*.*", "5.*.*"],
    replyCode: ["2**", "5**"],
    text: text(any(" responded with code nxdomain", "domain name not found"))
  }),
  rule("rhost.gsuite.networkerror", "networkerror", {
    service: ["GSuite"],
    notStatus: ["5.*.*"],
    notReplyCode: ["5**"],
    text: text(any(" had no relevant answers.", "responded with code nxdomain", "domain name not found"))
  }),
  ...messagesOf("GSuite", [
    ["notaccept", ["null mx"]],
    ["userunknown", ["because the address couldn't be found. check for typos or unnecessary spaces and try again."]]
  ]),
  ...codesOf(
    "IUA",
    [
      ["1", "norelaying"],
      ["2", "userunknown"],
      ["3", "suspend"],
      ["4", "mailboxfull"],
      ["5", "toomanyconn"],
      ["6", "norelaying"],
      ["7", "blocked"],
      ["8", "rejected"],
      ["9", "blocked"],
      ["10", "filtered"]
    ],
    (code) => `\\.i\\.ua/err/${code}/`
  ),
  ...messagesOf("KDDI", [
    ["filtered", ["550 : user unknown"]],
    ["userunknown", [">: user unknown"]]
  ]),
  ...messagesOf("MessageLabs", [
    ["authfailure", ["domain authentication fail"]],
    ["badreputation", ["connection rejected by policy"]],
    [
      "blocked",
      [
        "mail rejected because your ip is in the pbl",
        "your ip address has been ",
        "your ip address (ip-addr) has been blocked",
        "your email address (addr) has been blocked"
      ]
    ],
    ["contenterror", ["stray linefeeds in message"]],
    ["failedstarttls", ["tls/sslv3 connection required"]],
    ["norelaying", [" as a relay, "]],
    ["notcompliantrfc", ["550 requested action aborted [4]", "has detected that this message is not rfc 5322"]],
    [
      "rejected",
      [
        "sender envelope domain not allowed for sender ip address",
        "your domain has been blocked",
        "your email address has been blocked",
        "your envelope sender is in my badmailfrom list",
        "your email address has been blacklisted",
        "your domain has been blacklisted"
      ]
    ],
    ["securityerror", ["please turn on smtp authentication in your mail client"]],
    ["spamdetected", ["message filtered", "filtered by outbound scanning"]],
    ["toomanyconn", ["too many recipients received this hour", "too many messages"]],
    ["userunknown", ["no such user", "invalid recipient", "mailbox is not allowed", "recipient mailbox is not allowed"]]
  ]),
  ...(
    [
      ["authfailure", "550", "spf sender invalid - envelope rejected"],
      ["authfailure", "550", "dkim sender invalid - envelope rejected"],
      ["authfailure", "550", "dmarc sender invalid - envelope rejected"],
      ["badreputation", "451", "internal resources are temporarily unavailable"],
      ["badreputation", "550", "local ct ip reputation - (reject)"],
      ["blocked", "421", "sender address blocked"],
      ["blocked", "451", "recipient temporarily unavailable"],
      ["blocked", "451", "ip temporarily blacklisted"],
      ["expired", "550", "journal messages past the expiration"],
      ["failedstarttls", "553", "this route requires encryption (tls)"],
      ["failedstarttls", "553", "this route requires tls version 1.2 or greater"],
      ["failedstarttls", "553", "this route requires high-strength ciphers"],
      ["failedstarttls", "554", "configuration is invalid for this certificate"],
      ["mesgtoobig", "554", "maximum email size exceeded"],
      ["networkerror", "451", "the incorrect hostname used for inbounds"],
      ["networkerror", "550", "the incorrect hostname used for inbounds"],
      ["networkerror", "554", "mail loop detected"],
      ["norelaying", "451", "open relay not allowed"],
      ["norelaying", "451", "open relay is not allowed"],
      ["notaccept", "451", "account inbounds disabled"],
      ["onhold", "451", "account outbounds disabled"],
      ["onhold", "451", "hostname is not authorized"],
      ["onhold", "550", "journal message past expiration"],
      ["policyviolation", "550", "anti-spoofing policy - inbound not allowed"],
      ["policyviolation", "550", "rejected by header-based anti-spoofing policy"],
      ["policyviolation", "550", "message bounced due to content examination policy"],
      ["policyviolation", "554", "host network not allowed"],
      ["policyviolation", "554", "host network, not allowed"],
      ["rejected", "550", "administrative prohibition envelope blocked"],
      ["rejected", "550", "envelope blocked - user entry"],
      ["rejected", "550", "envelope blocked - user domain entry"],
      ["rejected", "550", "rejected by header-based manually blocked senders - block for manual block"],
      ["rejected", "550", "rejected by header-based blocked senders - block policy for header from"],
      ["rejected", "550", "envelope rejected - block policy for envelope from address"],
      ["securityerror", "535", "incorrect authentication data"],
      ["securityerror", "550", "submitter failed to disabled"],
      ["securityerror", "550", "submitter failed to authenticate"],
      ["systemerror", "451", "unable to process connection at this time"],
      ["systemerror", "451", "message ended early"],
      ["systemerror", "451", "unable to process command"],
      ["systemerror", "451", "unable to process an email at this time"],
      ["toomanyconn", "451", "account service is temporarily unavailable"],
      ["toomanyconn", "452", "too many recipients"],
      ["toomanyconn", "550", "exceeding outbound thread limit"],
      ["userunknown", "501", "invalid address"],
      ["userunknown", "503", "user unknown"],
      ["userunknown", "550", "invalid recipient"],
      ["virusdetected", "554", "email rejected due to security policies"]
    ] as const
  ).map(([reason, reply, message], i) =>
    rule(`rhost.mimecast.${reason}.${i + 1}`, reason, {
      service: ["Mimecast"],
      replyCode: [reply],
      text: text(any(message))
    })
  ),
  rule("rhost.nttdocomo.userunknown.status", "userunknown", { service: ["NTTDOCOMO"], status: ["5.1.1", "5.0.911"] }),
  rule("rhost.nttdocomo.filtered.status", "filtered", { service: ["NTTDOCOMO"], status: ["5.2.0"] }),
  ...messagesOf(
    "NTTDOCOMO",
    [
      ["mailboxfull", ["552 too much mail data"]],
      ["syntaxerror", ["503 bad sequence of commands", "504 command parameter not implemented"]],
      ["toomanyconn", ["552 too many recipients"]],
      ["userunknown", ["550 unknown user"]]
    ],
    { notStatus: ["5.1.1", "5.0.911", "5.2.0"] }
  ),
  rule("rhost.nttdocomo.userunknown.rcpt", "userunknown", {
    service: ["NTTDOCOMO"],
    status: ["5.0.0"],
    command: ["RCPT"]
  }),
  rule("rhost.nttdocomo.rejected.data", "rejected", { service: ["NTTDOCOMO"], status: ["5.0.0"], command: ["DATA"] }),
  ...messagesOf("Outlook", [
    ["hostunknown", ["the mail could not be delivered to the recipient because the domain is not reachable"]],
    ["userunknown", ["requested action not taken: mailbox unavailable"]]
  ]),
  ...(
    [
      ["1000", "1000", "blocked"],
      ["1010", "1010", "rejected"],
      ["1020", "1080", "rejected"],
      ["1090", "1090", "systemerror"],
      ["1100", "1150", "requireptr"],
      ["1160", "1190", "policyviolation"],
      ["1200", "1210", "blocked"],
      ["1220", "1250", "blocked"],
      ["1260", "1260", "networkerror"],
      ["1300", "1340", "toomanyconn"],
      ["1350", "1490", "speeding"],
      ["1500", "1500", "rejected"],
      ["1520", "1520", "rejected"],
      ["1530", "1530", "mesgtoobig"],
      ["1540", "1540", "speeding"],
      ["1550", "1550", "speeding"],
      ["1560", "1560", "policyviolation"],
      ["1580", "1580", "speeding"]
    ] as const
  ).map(([from, to, reason]) =>
    rule(`rhost.spectrum.${from === to ? from : `${from}-${to}`}`, reason, {
      service: ["Spectrum"],
      text: text(pattern(`aup#\\D*(?:${numberRange(Number(from), Number(to))})(?!\\d)`))
    })
  ),
  ...messagesOf("Tencent", [
    ["authfailure", ["spf check failed", "dmarc check failed"]],
    ["blocked", ["suspected bounce attacks", "suspected spam ip", "connection denied"]],
    ["mesgtoobig", ["message too large"]],
    ["rejected", ["suspected spam", "mail is rejected by recipients"]],
    ["spamdetected", ["spam is embedded in the email", "mail content denied"]],
    ["speeding", ["mailbox unavailable or access denined", "frequency of receiving messages is limited"]],
    ["suspend", ["is a deactivated mailbox"]],
    ["syntaxerror", ["bad address syntax"]],
    [
      "toomanyconn",
      ["ip frequency limited", "domain frequency limited", "sender frequency limited", "connection frequency limited"]
    ],
    ["userunknown", ["mailbox not found"]]
  ]),
  ...messagesOf("YahooInc", [
    ["authfailure", ["yahoo requires all senders to authenticate with either spf or dkim"]],
    ["blocked", [" because the ip is in spamhaus's list;", "not accepted from ip addresses on spamhaus xbl"]],
    ["norelaying", ["relaying denied for "]],
    ["notcompliantrfc", ["headers are not rfc compliant"]],
    ["policyviolation", ["not accepted for policy reasons"]],
    [
      "rejected",
      [
        "temporarily deferred due to unexpected volume or user complaints",
        "due to unresolvable rfc.5321 domain",
        " will be permanently deferred"
      ]
    ],
    ["speeding", ["user is receiving mail too quickly"]],
    ["suspend", [" is no longer valid.", "this mailbox is disabled"]],
    ["syntaxerror", ["syntax error in parameters or arguments"]],
    ["toomanyconn", ["max message per connection reached"]],
    ["userunknown", ["dd this user doesn't have a ", "mailbox not found"]]
  ]),
  ...messagesOf("Zoho", [
    ["authfailure", ["email rejected per dmarc policy"]],
    ["blocked", ["greylisted, try again after some time"]],
    ["rejected", ["email cannot be delivered. reason: email flagged as spam", "mail rejected by destination domain"]],
    ["policyviolation", ["email policy violation detected", "mailbox delivery restricted by policy error"]],
    ["systemerror", ["temporary system error"]],
    ["userunknown", ["user does not exist"]],
    ["virusdetected", [" detected by zoho mail"]]
  ])
]

// ---------------------------------------------------------------------------------------------------------------
// What MTAs and services write in their own bounces (sisimai lhost/via-*.go message tables). sisimai applies a table
// only to the bounces of that MTA; the phrases below are specific enough to apply to any bounce. A phrase for a
// reason that may be refined (userunknown, hostunknown, networkerror, systemerror, expired) acts like a dialect's
// refinable finding: after the primary rules. The others decide before them, as a dialect's final finding does.
// Tables whose phrases other MTAs also write (qmail's, which its clones copy with other meanings) are read only by
// their dialect (src/domain/dialects).

const mtaMessages: ReadonlyArray<readonly [string, Reason, ReadonlyArray<string>]> = [
  [
    "exim",
    "hostunknown",
    ["all host address lookups failed permanently", "all relevant mx records point to non-existent hosts"]
  ],
  ["exim", "mailboxfull", ["mailbox is full", "error: quota exceed"]],
  [
    "exim",
    "notaccept",
    ["an mx or srv record indicated no smtp service", "no host found for existing smtp connection"]
  ],
  [
    "exim",
    "syntaxerror",
    [
      "angle-brackets nested too deep",
      'expected word or "<"',
      "domain missing in source-routed address",
      "malformed address:"
    ]
  ],
  [
    "exim",
    "systemerror",
    ["delivery to file forbidden", "delivery to pipe forbidden", "local delivery failed", "lmtp error after "]
  ],
  ["exim", "contenterror", ['too many "received" headers']],
  [
    "exim",
    "expired",
    [
      "retry timeout exceeded",
      "no action is required on your part",
      "retry time not reached for any host after a long failure period",
      "all hosts have been failing for a long time and were last tried",
      "delay reason: ",
      "has been frozen",
      "was frozen on arrival by "
    ]
  ],
  ["exim", "mailererror", ["pipe to |"]],
  [
    "gmail",
    "expired",
    [
      "dns error: could not contact dns servers",
      "delivery to the following recipient has been delayed",
      "the recipient server did not accept our requests to connect",
      "message will be retried for "
    ]
  ],
  ["gmail", "hostunknown", ["dns error: domain name not found", "dns error: dns server returned answer with no data"]],
  ["opensmtpd", "expired", ["envelope expired"]],
  ["opensmtpd", "securityerror", ["could not retrieve credentials"]],
  ["opensmtpd", "hostunknown", ["invalid domain name", "domain does not exist"]],
  [
    "opensmtpd",
    "networkerror",
    [
      "address family mismatch on destination mxs",
      "all routes to destination blocked",
      "bad dns lookup error code",
      "could not retrieve source address",
      "loop detected",
      "network error on destination mxs",
      "no valid route to remote mx",
      "no valid route to destination",
      "temporary failure in mx lookup"
    ]
  ],
  [
    "opensmtpd",
    "notaccept",
    ["destination seem to reject all mails", "no mx found for domain", "no mx found for destination"]
  ],
  ["dragonfly", "expired", ["could not deliver for the last "]],
  ["dragonfly", "hostunknown", ["dns lookup failure: host "]],
  ["gmx", "expired", ["delivery retry timeout exceeded"]],
  ["einsundeins", "mesgtoobig", ["mail size limit exceeded"]],
  ["zoho", "expired", ["host not reachable"]],
  ["domino", "filtered", ["cannot route mail to user"]],
  ["domino", "systemerror", ["several matches found in domino directory"]],
  [
    "domino",
    "userunknown",
    [
      "not listed in domino directory",
      "not listed in public name & address book",
      "no se encuentra en el directorio de domino",
      "non répertorié dans l'annuaire domino",
      "domino ディレクトリには見つかりません"
    ]
  ],
  ["ezweb", "expired", ["your message was not delivered within "]],
  ["ezweb", "mailboxfull", ["the user(s) account is temporarily over quota"]],
  ["ezweb", "suspend", ["the user(s) account is disabled.", "the user(s) account is temporarily limited."]],
  ["googlegroups", "rejected", ["groups.google.com/support"]],
  [
    "googleworkspace",
    "userunknown",
    ["because the address couldn't be found. check for typos or unnecessary spaces and try again."]
  ]
]

/** Microsoft Exchange 2003 error codes in parentheses after MSEXCH:. */
const exchangeCodes: ReadonlyArray<readonly [string, Reason]> = [
  ["000c05a6", "userunknown"],
  ["000c0595", "filtered"],
  ["00010256", "systemerror"],
  ["000d06b5", "systemerror"],
  ["00120270", "networkerror"],
  ["00050311", "contenterror"],
  ["000502cc", "contenterror"],
  ["000b0981", "securityerror"]
]

const refinable = new Set<Reason>([
  "undefined",
  "onhold",
  "systemerror",
  "securityerror",
  "expired",
  "networkerror",
  "hostunknown",
  "userunknown"
])

const messageRules: Array<Rule> = [
  ...mtaMessages.map(([mta, reason, messages]) => rule(`mta.${mta}.${reason}`, reason, { text: [{ any: messages }] })),
  ...exchangeCodes.map(([code, reason]) =>
    rule(`mta.exchange2003.${code}`, reason, { text: [{ sequences: [["msexch:", `(${code})`]] }] })
  ),
  // Gmail's "(state N)": the SMTP stage of the failure; a specific status code still decides (sisimai lhost/gmail)
  ...(
    [
      ["6", "failedstarttls"],
      ["8", "systemerror"],
      ["9", "failedstarttls"],
      ["12", "norelaying"],
      ["13", "blocked"],
      ["14", "userunknown"],
      ["15", "filtered"],
      ["17", "filtered"],
      ["18", "filtered"]
    ] as const
  ).map(([state, reason]) =>
    rule(`mta.gmail.state${state}`, reason, {
      notStatus: ["*.1-9.1-999"],
      text: [{ patterns: [`\\(state ${state}\\)`] }]
    })
  )
]

// Google Workspace: a DNS NXDOMAIN is an unknown host when permanent, a network error when temporary
messageRules.push(
  rule("mta.googleworkspace.hostunknown", "hostunknown", {
    status: ["5.*.*"],
    text: [{ any: [" responded with code nxdomain", "domain name not found"] }]
  }),
  rule("mta.googleworkspace.networkerror", "networkerror", {
    notStatus: ["5.*.*"],
    notReplyCode: ["5**"],
    text: [{ any: [" had no relevant answers.", " responded with code nxdomain"] }]
  })
)

/** Phrases of MTAs that decide as a dialect's final finding would. */
export const messageFinalRules: ReadonlyArray<Rule> = messageRules.filter((r) => !refinable.has(r.reason))
/** Phrases of MTAs that decide as a dialect's refinable finding would. */
export const messageRefinableRules: ReadonlyArray<Rule> = messageRules.filter((r) => refinable.has(r.reason))

// ---------------------------------------------------------------------------------------------------------------
// The probes: sisimai reason/find.go, classorder[0], each reason's ProbesInto in order. They run only on SMTP
// diagnostics (or when the type is unknown).

const probe = (name: string, reason: Reason, match: Match): Rule =>
  rule(name, reason, { ...match, notDiagnosticType: notSmtp })

const t = reasonText
const probeRules: ReadonlyArray<Rule> = [
  probe("status.mailboxfull", "mailboxfull", { statusReason: ["mailboxfull"] }),
  probe("text.mailboxfull", "mailboxfull", { text: text(t.mailboxfull) }),
  probe("status.mesgtoobig", "mesgtoobig", { statusReason: ["mesgtoobig"] }),
  probe("text.mesgtoobig", "mesgtoobig", {
    notStatusReason: ["exceedlimit"],
    notStatus: ["5.2.3"],
    text: text(t.mesgtoobig)
  }),
  probe("status.exceedlimit", "exceedlimit", { statusReason: ["exceedlimit"] }),
  probe("text.exceedlimit", "exceedlimit", { text: text(t.exceedlimit) }),
  probe("reply.suspend", "suspend", { replyCode: ["525"] }),
  probe("text.suspend", "suspend", { text: text(t.suspend) }),
  probe("text.hasmoved", "hasmoved", { text: text(t.hasmoved) }),
  probe("text.norelaying", "norelaying", { notCommand: ["CONN", "EHLO", "HELO"], text: text(t.norelaying) }),
  probe("status.authfailure", "authfailure", { statusReason: ["authfailure"] }),
  probe("text.authfailure", "authfailure", { text: text(t.authfailure) }),
  probe("dialect.userunknown", "userunknown", { hint: ["userunknown"] }),
  // 5.1.1 means user unknown unless the text says the refusal was about something else
  probe("status.userunknown", "userunknown", {
    statusReason: ["userunknown"],
    notText: text(t.norelaying, t.blocked, t.mailboxfull, t.hasmoved, t.rejected, t.notaccept)
  }),
  // Only a reply to RCPT says for certain that the address does not exist (sisimai UserUnknown): after DATA, or
  // when the bounce does not say which command failed, the same words come from a filter that read the message,
  // and text.filtered below decides. A hard bounce quarantines the address, so it needs that certainty.
  probe("text.userunknown", "userunknown", {
    notStatusReason: ["userunknown", "suspend"],
    command: ["RCPT"],
    text: text(t.userunknown)
  }),
  probe("status.filtered", "filtered", { statusReason: ["filtered"], text: text(t.userunknown, t.filtered) }),
  // a refusal of the recipient after DATA comes from a filter reading the message (or no command is known)
  probe("text.filtered", "filtered", {
    notStatusReason: ["filtered", "suspend"],
    notCommand: beforeData,
    text: text(t.filtered, t.userunknown)
  }),
  probe("status.requireptr", "requireptr", { statusReason: ["requireptr"] }),
  probe("text.requireptr", "requireptr", { text: text(t.requireptr) }),
  probe("text.notcompliantrfc", "notcompliantrfc", { text: text(t.notcompliantrfc) }),
  probe("text.badreputation", "badreputation", { text: text(t.badreputation) }),
  // content errors give way to spam detection, which sisimai tries first for them
  probe("status.contenterror", "contenterror", { statusReason: ["contenterror"], command: beforeData }),
  probe("status.contenterror.nospam", "contenterror", {
    statusReason: ["contenterror"],
    notText: text(t.spamdetected)
  }),
  probe("text.contenterror", "contenterror", { hasStatus: false, text: text(t.contenterror) }),
  probe("text.contenterror.beforedata", "contenterror", {
    notStatusReason: ["spamdetected"],
    command: beforeData,
    text: text(t.contenterror)
  }),
  probe("text.contenterror.nospam", "contenterror", {
    notStatusReason: ["spamdetected"],
    notText: text(t.spamdetected),
    text: text(t.contenterror)
  }),
  probe("status.rejected", "rejected", { statusReason: ["rejected"] }),
  probe("text.rejected.mail", "rejected", { command: ["MAIL"], text: text(t.rejected) }),
  probe("text.rejected.data", "rejected", {
    command: ["DATA"],
    notStatusReason: ["userunknown"],
    text: text(t.rejected)
  }),
  probe("text.rejected", "rejected", {
    statusReason: ["", "undefined", "onhold", "securityerror", "systemerror"],
    text: text(t.rejected)
  }),
  probe("dialect.hostunknown", "hostunknown", { hint: ["hostunknown"] }),
  probe("status.hostunknown", "hostunknown", { statusReason: ["hostunknown"], notText: text(t.networkerror) }),
  probe("text.hostunknown", "hostunknown", { notStatusReason: ["hostunknown"], text: text(t.hostunknown) }),
  probe("status.spamdetected", "spamdetected", { statusReason: ["spamdetected"] }),
  probe("text.spamdetected", "spamdetected", { hasStatus: true, notCommand: beforeData, text: text(t.spamdetected) }),
  probe("text.speeding", "speeding", { text: text(t.speeding) }),
  probe("status.toomanyconn", "toomanyconn", { statusReason: ["toomanyconn"] }),
  probe("text.toomanyconn", "toomanyconn", { text: text(t.toomanyconn) }),
  probe("status.blocked", "blocked", { statusReason: ["blocked"] }),
  probe("text.blocked", "blocked", { text: text(t.blocked) })
]

/**
 * The rules tried first, in order: a 2.x.x status, local delivery agents, the services' own codes and messages,
 * then the probes. A dialect decoder's reason that may be refined comes after these (see `qualify`).
 */
export const primaryRules: ReadonlyArray<Rule> = [
  rule("status.delivered", "delivered", { status: ["2.*.*"] }),
  ...ldaRules,
  ...googleRules,
  ...microsoftRules,
  ...serviceRules,
  ...probeRules
]

// ---------------------------------------------------------------------------------------------------------------
// The fallbacks: sisimai reason/find.go anotherone(). A status that stands for a reason decides unless that reason
// may be refined (or the diagnostic is not SMTP); then the text decides (classorder[1]), then the status, then the
// class of the status, the diagnostic type, the reply code, the action, the command.

const statusRule = (code: string, reason: Reason, vague: boolean): Rule =>
  rule(vague ? `fallback.status.${code}` : `status.${code}`, reason, { status: [code], vagueStatus: vague })

const fallbackOrder: ReadonlyArray<Reason> = [
  "mailboxfull",
  "authfailure",
  "badreputation",
  "speeding",
  "spamdetected",
  "virusdetected",
  "policyviolation",
  "norelaying",
  "systemerror",
  "networkerror",
  "suspend",
  "contenterror",
  "systemfull",
  "notaccept",
  "expired",
  "failedstarttls",
  "securityerror",
  "mailererror"
]

export const fallbackRules: ReadonlyArray<Rule> = [
  // A status whose reason is final decides now (on SMTP diagnostics).
  ...[...statusReasons]
    .filter(([, reason]) => !refinable.has(reason))
    .map(([code, reason]) => statusRule(code, reason, false)),
  ...fallbackOrder.map((reason) =>
    rule(`fallback.${reason}`, reason, {
      vagueStatus: true,
      text: text((reasonText as Partial<Record<Reason, TextMatch>>)[reason]!)
    })
  ),
  // RFC 3464 section 2.3.6: an X-Unix diagnostic is the exit status of a local delivery program; unless its text
  // said more, that program failed (sisimai's Sendmail decoder says so before the status code's reason)
  rule("diagnostic.mailererror", "mailererror", { diagnosticType: notSmtp }),
  ...[...statusReasons].map(([code, reason]) => statusRule(code, reason, true)),
  rule("class.contenterror", "contenterror", { vagueStatus: true, status: ["4.6.*", "5.6.*"] }),
  rule("class.securityerror", "securityerror", { vagueStatus: true, status: ["4.7.*", "5.7.*"] }),
  rule("reply.syntaxerror", "syntaxerror", {
    vagueStatus: true,
    replyCode: ["401", "402", "403", "404", "405", "406", "407", "501", "502", "503", "504", "505", "506", "507"]
  }),
  rule("action.expired", "expired", { vagueStatus: true, action: ["delayed", "expired"] }),
  rule("command.blocked", "blocked", { vagueStatus: true, command: ["EHLO", "HELO"] })
]
