/**
 * Qualification: from what a decoder found about one failed recipient (status, reply code, diagnostic text, action,
 * a dialect's own finding) to a reason, a bounce type and the rule that decided.
 *
 * The order of decision is sisimai's (fact/rise.go REASON, lda, rhost, reason/find.go Find and anotherone;
 * BSD-2-Clause, https://github.com/sisimai/go-sisimai): user rules first, then the kind of mail, a dialect's final
 * finding, the built-in table (src/domain/rules.ts), a dialect's refinable finding, the fallbacks, and at last
 * expired / vacation / onhold / undefined.
 */
import { bounceType, campaignReason, isExplicitReason, refinableReasons, type FailureClass } from "./reasons.js"
import type { BounceType, CampaignReason, MailKind, Reason } from "./report.js"
import { fallbackRules, primaryRules, reasonText, services, statusReasons, type Rule, type TextMatch } from "./rules.js"
import { classOf, findEnhancedStatus, formatEnhancedStatus, parseEnhancedStatus } from "./status.js"
import * as Option from "effect/Option"

export type { Rule } from "./rules.js"

/** What a decoder found about one recipient. */
export interface QualifyInput {
  readonly kind: MailKind
  readonly status: string | null
  readonly replyCode: string | null
  readonly diagnostic: string | null
  readonly action: string | null
  /** a dialect decoder's own finding, e.g. qmail's "no mailbox here by that name" */
  readonly reasonHint: Reason | null
  readonly feedbackType: string | null
  readonly remoteMta: string | null
  /** the SMTP command the failure answered (RCPT, DATA, MAIL, ...); found in the diagnostic when absent */
  readonly command?: string | null
  /** the Diagnostic-Code type: SMTP, X-UNIX, ... */
  readonly diagnosticType?: string | null
  /** the failed recipient address; its domain can tell the mail service */
  readonly recipient?: string | null
  /** the reporting MTA; its host can tell the mail service */
  readonly reportingMta?: string | null
}

/** The outcome of qualification. */
export interface Qualification {
  readonly reason: Reason
  readonly type: BounceType
  readonly campaignReason: CampaignReason
  /** the name of the rule that decided */
  readonly rule: string
}

// ---------------------------------------------------------------------------------------------------------------
// What the rules look at, computed once per record.

interface Facts {
  readonly text: string
  readonly status: string
  readonly statusReason: Reason | ""
  readonly replyCode: string
  readonly command: string
  readonly action: string
  readonly diagnosticType: string
  readonly hint: Reason | null
  readonly service: string
  readonly remoteMta: string
  readonly vagueStatus: boolean
}

const smtpCommands = ["HELO", "EHLO", "STARTTLS", "AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-", "AUTH DIGEST-", "MAIL F"]
const detectable = [...smtpCommands, "RCPT", "RCPT T", "DATA", "QUIT", "XFORWARD"]
const wordChar = /[0-9@-Z`-z]/

/**
 * The SMTP command a diagnostic names ("in reply to RCPT TO command", "after RCPT TO:", ">>> DATA"), as sisimai's
 * smtp/command Find: upper case only, whole words, the last of HELO, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT,
 * XFORWARD that occurs. "" when none.
 */
export const findSmtpCommand = (text: string): string => {
  const found: Array<string> = []
  for (const command of detectable) {
    let at = text.indexOf(command)
    if (at < 0) continue
    if (!command.includes(" ")) {
      // a command inside a word, an address or a host name (DATABASE@EXAMPLE.JP) is none
      while (at >= 0 && (wordChar.test(text[at - 1] ?? " ") || wordChar.test(text[at + command.length] ?? " "))) {
        at = text.indexOf(command, at + 1)
      }
      if (at < 0) continue
    }
    const name = command.slice(0, 4)
    if (found.some((previous) => previous.startsWith(name))) continue
    found.push(name === "STAR" ? "STARTTLS" : name === "XFOR" ? "XFORWARD" : name)
  }
  return found[found.length - 1] ?? ""
}

/**
 * The diagnostic as the rules read it: continuation prefixes of multi-line replies removed ("550-5.7.1 "),
 * lower case, white space folded (sisimai fact/rise.go DIAGNOSTICCODE).
 */
export const normalizeDiagnostic = (diagnostic: string): string => {
  let text = diagnostic
  const continued = /(?:^|\s)([245]\d\d)-/.exec(text)
  if (continued !== null) {
    const reply = continued[1]!
    const status = findEnhancedStatus(text, reply)
    const prefixes = status === null ? [`${reply}-`, `${reply} `] : [`${reply}-${status}`, `${reply} ${status}`]
    if (status !== null) prefixes.push(`${reply}-`, `${reply} `)
    for (const prefix of prefixes) text = text.split(prefix).join("")
    if (text.includes(reply)) text = `${reply} ${status ?? ""} ${text}`
  }
  return text.toLowerCase().replace(/\s+/g, " ").trim()
}

const hostOf = (value: string | null | undefined): string => {
  if (!value) return ""
  const last =
    value
      .trim()
      .split(/[;\s]+/)
      .filter((token) => /[a-z0-9]\.[a-z]/i.test(token))[0] ?? ""
  return last.replace(/^[[(<]+|[\])>.]+$/g, "").toLowerCase()
}

const domainOf = (address: string | null | undefined): string => {
  const at = address?.lastIndexOf("@") ?? -1
  return at < 0
    ? ""
    : address!
        .slice(at + 1)
        .replace(/>.*$/, "")
        .trim()
        .toLowerCase()
}

/** The mail service of the remote side: by the recipient's domain, the remote MTA, then the reporting MTA. */
export const findService = (
  recipient: string | null,
  remoteMta: string | null,
  reportingMta: string | null
): string => {
  const domain = domainOf(recipient)
  if (domain.includes(".")) {
    for (const service of services) if (service.hosts.some((host) => host.endsWith(domain))) return service.name
  }
  for (const host of [hostOf(remoteMta), hostOf(reportingMta)]) {
    if (host === "") continue
    for (const service of services) if (service.hosts.some((suffix) => host.endsWith(suffix))) return service.name
  }
  return ""
}

const hostInText = /\bhost\s+([a-z0-9][a-z0-9.-]*\.[a-z]{2,})/

const canonicalStatus = (status: string | null): string =>
  status === null ? "" : Option.match(parseEnhancedStatus(status), { onNone: () => "", onSome: formatEnhancedStatus })

const factsOf = (input: QualifyInput): Facts => {
  const diagnostic = input.diagnostic ?? ""
  const text = normalizeDiagnostic(diagnostic)
  const status = canonicalStatus(input.status)
  const statusReason = statusReasons.get(status) ?? ""
  const diagnosticType = (input.diagnosticType ?? "").trim().toUpperCase()
  const smtp = diagnosticType === "" || diagnosticType === "SMTP"
  const remoteMta = hostOf(input.remoteMta) || (hostInText.exec(text)?.[1] ?? "")
  return {
    text,
    status,
    statusReason,
    replyCode: (input.replyCode ?? "").trim(),
    command: (input.command ?? findSmtpCommand(diagnostic)).trim().toUpperCase(),
    action: (input.action ?? "").trim().toLowerCase(),
    diagnosticType,
    hint: input.reasonHint,
    service: findService(input.recipient ?? null, remoteMta, input.reportingMta ?? null),
    remoteMta,
    vagueStatus: !smtp || statusReason === "" || refinableReasons.has(statusReason)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Compiling rules into predicates, once.

type Test = (facts: Facts) => boolean

const compilePattern = (source: string): RegExp | null => {
  try {
    return new RegExp(source)
  } catch {
    return null
  }
}

const compileText = (match: TextMatch): ((text: string) => boolean) => {
  const strings = (match.any ?? []).map((s) => s.toLowerCase())
  const sequences = (match.sequences ?? []).map((sequence) => sequence.map((s) => s.toLowerCase()))
  const patterns = (match.patterns ?? []).map(compilePattern).filter((p): p is RegExp => p !== null)
  const unless = (match.unless ?? []).map((s) => s.toLowerCase())
  return (text) => {
    if (text === "") return false
    const found =
      strings.some((s) => text.includes(s)) ||
      sequences.some((sequence) => {
        let at = 0
        for (const part of sequence) {
          const next = text.indexOf(part, at)
          if (next < 0) return false
          at = next + part.length
        }
        return true
      }) ||
      patterns.some((p) => p.test(text))
    return found && !unless.some((s) => text.includes(s))
  }
}

const anyText = (matches: ReadonlyArray<TextMatch>): ((text: string) => boolean) => {
  const tests = matches.map(compileText)
  return (text) => tests.some((test) => test(text))
}

const compileCode = (codePattern: string): ((code: string) => boolean) => {
  const parts = codePattern.trim().split(".")
  if (parts.length !== 3) {
    // a reply code pattern: three characters, '*' for any digit
    return (code) => code.length === codePattern.length && [...codePattern].every((c, i) => c === "*" || c === code[i])
  }
  const matchers = parts.map((part): ((value: string) => boolean) => {
    if (part === "*") return () => true
    const range = /^(\d+)-(\d+)$/.exec(part)
    if (range !== null) {
      const [low, high] = [Number(range[1]), Number(range[2])]
      return (value) => /^\d+$/.test(value) && Number(value) >= low && Number(value) <= high
    }
    return (value) => value === part
  })
  return (code) => {
    const values = code.split(".")
    return values.length === 3 && matchers.every((matches, i) => matches(values[i]!))
  }
}

const anyCode = (patterns: ReadonlyArray<string>): ((code: string) => boolean) => {
  const tests = patterns.map(compileCode)
  return (code) => code !== "" && tests.some((test) => test(code))
}

const upper = (values: ReadonlyArray<string>) => new Set(values.map((v) => v.trim().toUpperCase()))

/** Compiles a rule's match into one predicate; conditions that are not given do not constrain. */
const compileRule = (rule: Rule): Test => {
  const m = rule.match
  const tests: Array<Test> = []
  if (m.status) {
    const test = anyCode(m.status)
    tests.push((f) => test(f.status))
  }
  if (m.notStatus) {
    const test = anyCode(m.notStatus)
    tests.push((f) => !test(f.status))
  }
  if (m.statusReason) {
    const reasons = new Set<string>(m.statusReason)
    tests.push((f) => reasons.has(f.statusReason))
  }
  if (m.notStatusReason) {
    const reasons = new Set<string>(m.notStatusReason)
    tests.push((f) => !reasons.has(f.statusReason))
  }
  if (m.replyCode) {
    const test = anyCode(m.replyCode)
    tests.push((f) => test(f.replyCode))
  }
  if (m.notReplyCode) {
    const test = anyCode(m.notReplyCode)
    tests.push((f) => !test(f.replyCode))
  }
  if (m.command) {
    const commands = upper(m.command)
    tests.push((f) => commands.has(f.command))
  }
  if (m.notCommand) {
    const commands = upper(m.notCommand)
    tests.push((f) => !commands.has(f.command))
  }
  if (m.action) {
    const actions = new Set(m.action.map((a) => a.trim().toLowerCase()))
    tests.push((f) => actions.has(f.action))
  }
  if (m.diagnosticType) {
    const types = upper(m.diagnosticType)
    tests.push((f) => types.has(f.diagnosticType))
  }
  if (m.hint) {
    const hints = new Set<string>(m.hint)
    tests.push((f) => f.hint !== null && hints.has(f.hint))
  }
  if (m.service) {
    const names = new Set(m.service)
    tests.push((f) => names.has(f.service))
  }
  if (m.remoteMta) {
    const suffixes = m.remoteMta.map((s) => s.trim().toLowerCase())
    tests.push((f) => f.remoteMta !== "" && suffixes.some((s) => f.remoteMta.endsWith(s)))
  }
  if (m.hasStatus !== undefined) {
    const wanted = m.hasStatus
    tests.push((f) => (f.status !== "") === wanted)
  }
  if (m.vagueStatus !== undefined) {
    const wanted = m.vagueStatus
    tests.push((f) => f.vagueStatus === wanted)
  }
  // text conditions last: they are the most expensive
  if (m.text) {
    const test = anyText(m.text)
    tests.push((f) => test(f.text))
  }
  if (m.alsoText) {
    const test = anyText(m.alsoText)
    tests.push((f) => test(f.text))
  }
  if (m.notText) {
    const test = anyText(m.notText)
    tests.push((f) => !test(f.text))
  }
  return (facts) => tests.every((test) => test(facts))
}

interface CompiledRule {
  readonly name: string
  readonly reason: Reason
  readonly test: Test
}

const compileRules = (rules: ReadonlyArray<Rule>): ReadonlyArray<CompiledRule> =>
  rules.map((rule) => ({ name: rule.name, reason: rule.reason, test: compileRule(rule) }))

const compiledPrimary = compileRules(primaryRules)
const compiledFallback = compileRules(fallbackRules)
const vacationText = compileText(reasonText.vacation)
const compiledUserRules = new WeakMap<ReadonlyArray<Rule>, ReadonlyArray<CompiledRule>>()

const userRulesOf = (rules: ReadonlyArray<Rule>): ReadonlyArray<CompiledRule> => {
  let compiled = compiledUserRules.get(rules)
  if (compiled === undefined) {
    compiled = compileRules(rules)
    compiledUserRules.set(rules, compiled)
  }
  return compiled
}

const firstMatch = (rules: ReadonlyArray<CompiledRule>, facts: Facts): CompiledRule | undefined => {
  for (const rule of rules) if (rule.test(facts)) return rule
  return undefined
}

// ---------------------------------------------------------------------------------------------------------------

/** Whether the failure is permanent or temporary, by its codes first, then its words (sisimai smtp/failure). */
const failureOf = (input: QualifyInput, facts: Facts): FailureClass => {
  const cls = classOf(facts.status) ?? classOf(facts.replyCode)
  if (cls === "5") return "permanent"
  if (cls === "4") return "temporary"
  if (/ temporar| persistent/.test(` ${facts.text}`)) return "temporary"
  return input.diagnostic === null && facts.status === "" ? "unknown" : "permanent"
}

/**
 * Qualifies one failed recipient. `userRules` (from config) are tried first; the first rule that matches decides.
 * Pure and total: any input gives a qualification.
 */
export const qualify = (input: QualifyInput, userRules: ReadonlyArray<Rule> = []): Qualification => {
  const facts = factsOf(input)
  const delayed = input.kind === "delay" || facts.action === "delayed"
  const decide = (reason: Reason, rule: string): Qualification => ({
    reason,
    type: bounceType(reason, failureOf(input, facts), delayed),
    campaignReason: campaignReason(reason),
    rule
  })

  if (userRules.length > 0) {
    const matched = firstMatch(userRulesOf(userRules), facts)
    if (matched !== undefined) return decide(matched.reason, matched.name)
  }
  switch (input.kind) {
    case "complaint":
      return decide("feedback", "kind.complaint")
    case "auto-reply":
      return decide("vacation", "kind.auto-reply")
    case "delivered":
      return decide("delivered", "kind.delivered")
  }
  if (facts.hint !== null && !refinableReasons.has(facts.hint)) return decide(facts.hint, "dialect")

  const primary = firstMatch(compiledPrimary, facts)
  if (primary !== undefined) return decide(primary.reason, primary.name)
  if (isExplicitReason(facts.hint)) return decide(facts.hint, "dialect")

  const fallback = firstMatch(compiledFallback, facts)
  if (fallback !== undefined) return decide(fallback.reason, fallback.name)

  if (delayed) return decide("expired", "action.delayed")
  if (vacationText(facts.text)) return decide("vacation", "text.vacation")
  if (facts.text !== "") return decide("onhold", "onhold")
  return decide("undefined", "undefined")
}
