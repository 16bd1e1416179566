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
import {
  fallbackRules,
  messageFinalRules,
  messageRefinableRules,
  primaryRules,
  reasonText,
  services,
  statusReasons,
  type Rule,
  type TextMatch
} from "./rules.js"
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
  /** more text of the report that the rules read before the diagnostic (the explanation of a one-recipient DSN) */
  readonly context?: string | null
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

/** The service whose hosts match, memoised: a report on thousands of recipients names the same few domains. */
const serviceMemo = (matches: (host: string, name: string) => boolean) => {
  const memo = new Map<string, string>()
  return (value: string): string => {
    let found = memo.get(value)
    if (found === undefined) {
      found = ""
      for (const service of services) {
        if (service.hosts.some((host) => matches(host, value))) {
          found = service.name
          break
        }
      }
      if (memo.size < memoLimit) memo.set(value, found)
    }
    return found
  }
}

const serviceOfDomain = serviceMemo((host, domain) => host.endsWith(domain))
const serviceOfHost = serviceMemo((suffix, host) => host.endsWith(suffix))

/** The mail service of the remote side: by the recipient's domain, the remote MTA, then the reporting MTA. */
export const findService = (
  recipient: string | null,
  remoteMta: string | null,
  reportingMta: string | null
): string => {
  const domain = domainOf(recipient)
  if (domain.includes(".")) {
    const service = serviceOfDomain(domain)
    if (service !== "") return service
  }
  for (const host of [hostOf(remoteMta), hostOf(reportingMta)]) {
    if (host === "") continue
    const service = serviceOfHost(host)
    if (service !== "") return service
  }
  return ""
}

const memoLimit = 4096

const hostInText = /\bhost\s+([a-z0-9][a-z0-9.-]*\.[a-z]{2,})/

const canonicalStatus = (status: string | null): string =>
  status === null ? "" : Option.match(parseEnhancedStatus(status), { onNone: () => "", onSome: formatEnhancedStatus })

const factsOf = (input: QualifyInput): Facts => {
  const diagnostic = input.diagnostic ?? ""
  const text = normalizeDiagnostic(input.context ? `${input.context} ${diagnostic}` : diagnostic)
  const status = canonicalStatus(input.status)
  const statusReason = statusReasons.get(status) ?? ""
  const diagnosticType = (input.diagnosticType ?? "").trim().toUpperCase()
  const smtp = diagnosticType !== "X-UNIX"
  const remoteMta = hostOf(input.remoteMta) || (hostInText.exec(text)?.[1] ?? "")
  return {
    text,
    status,
    statusReason,
    replyCode: (input.replyCode ?? "").trim(),
    command: (input.command ?? (findSmtpCommand(diagnostic) || findSmtpCommand(input.context ?? "")))
      .trim()
      .toUpperCase(),
    action: (input.action ?? "").trim().toLowerCase(),
    diagnosticType,
    hint: input.reasonHint,
    service: findService(input.recipient ?? null, remoteMta, input.reportingMta ?? null),
    remoteMta,
    vagueStatus: !smtp || statusReason === "" || refinableReasons.has(statusReason)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Compiling rules into predicates, once. The built-in rules hold some 1,500 literal strings: an Aho-Corasick
// automaton finds all of them in one pass over a diagnostic, so that a rule's text test is a few set lookups.

/** Where the literals occur in one diagnostic. */
interface Occurrences {
  has(id: number): boolean
  /** the first start of literal `id` at or after `from`, or -1 */
  startFrom(id: number, from: number): number
}

class LiteralIndex {
  private readonly ids = new Map<string, number>()
  private readonly lengths: Array<number> = []
  /** the trie, until `build` turns it into the move table */
  private next: Array<Map<number, number>> = [new Map()]
  private readonly fail: Array<number> = [0]
  private readonly output: Array<Array<number>> = [[]]
  /** the class of each character code in the move table: 0 for the characters no literal holds */
  private readonly classOf = new Uint16Array(65536)
  private stride = 1
  /** the node after each (node, character class), at node * stride + class */
  private moves: Uint16Array | Uint32Array = new Uint16Array(1)
  private built = false

  /** The id of a literal (lower case), registering it before `build`. */
  id(literal: string): number {
    let id = this.ids.get(literal)
    if (id !== undefined) return id
    if (this.built) throw new Error("LiteralIndex: literal registered after build")
    id = this.lengths.length
    this.ids.set(literal, id)
    this.lengths.push(literal.length)
    let node = 0
    for (let i = 0; i < literal.length; i++) {
      const c = literal.charCodeAt(i)
      let child = this.next[node]!.get(c)
      if (child === undefined) {
        child = this.next.length
        this.next.push(new Map())
        this.fail.push(0)
        this.output.push([])
        this.next[node]!.set(c, child)
      }
      node = child
    }
    this.output[node]!.push(id)
    return id
  }

  length(id: number): number {
    return this.lengths[id]!
  }

  build(): void {
    // Aho-Corasick: each node's failure link, and the outputs of the nodes it links to
    const order: Array<number> = []
    for (const child of this.next[0]!.values()) order.push(child)
    for (let head = 0; head < order.length; head++) {
      const node = order[head]!
      for (const [c, child] of this.next[node]!) {
        let f = this.fail[node]!
        while (f !== 0 && !this.next[f]!.has(c)) f = this.fail[f]!
        const target = this.next[f]!.get(c)
        this.fail[child] = target !== undefined && target !== child ? target : 0
        this.output[child]!.push(...this.output[this.fail[child]!]!)
        order.push(child)
      }
    }
    // then a table of every (node, character) move, the failure links followed in advance: a scan reads one entry per
    // character. Characters that occur in no literal share class 0, which leads back to the root from anywhere.
    let classes = 1
    for (const transitions of this.next) {
      for (const c of transitions.keys()) if (this.classOf[c] === 0) this.classOf[c] = classes++
    }
    this.stride = classes
    // 16-bit entries while the nodes allow: the table then takes about 4 MB, about what the trie's maps took
    const size = this.next.length * classes
    const moves = this.next.length <= 0xffff ? new Uint16Array(size) : new Uint32Array(size)
    for (const [c, child] of this.next[0]!) moves[this.classOf[c]!] = child
    for (const node of order) {
      const row = node * classes
      const failRow = this.fail[node]! * classes
      for (let k = 0; k < classes; k++) moves[row + k] = moves[failRow + k]!
      for (const [c, child] of this.next[node]!) moves[row + this.classOf[c]!] = child
    }
    this.moves = moves
    this.next = []
    this.built = true
  }

  /** which literals the latest scan found: stamp[id] === scans; one array for all scans, so a scan allocates little */
  private stamp = new Int32Array(0)
  private scans = 0

  /**
   * Finds every literal in `text`. The result is valid until the next scan (qualify uses it at once, synchronously).
   */
  scan(text: string): Occurrences {
    if (this.stamp.length !== this.lengths.length) this.stamp = new Int32Array(this.lengths.length)
    const stamp = this.stamp
    const scan = ++this.scans
    const hitIds: Array<number> = []
    const hitStarts: Array<number> = []
    const output = this.output
    const lengths = this.lengths
    const moves = this.moves
    const classOf = this.classOf
    const stride = this.stride
    let node = 0
    for (let i = 0; i < text.length; i++) {
      node = moves[node * stride + classOf[text.charCodeAt(i)]!]!
      if (node === 0) continue
      const ids = output[node]!
      for (let k = 0; k < ids.length; k++) {
        const id = ids[k]!
        stamp[id] = scan
        hitIds.push(id)
        hitStarts.push(i - lengths[id]! + 1)
      }
    }
    return {
      has: (id) => stamp[id] === scan,
      startFrom: (id, from) => {
        if (stamp[id] !== scan) return -1
        let best = -1
        for (let k = 0; k < hitIds.length; k++) {
          const start = hitStarts[k]!
          if (hitIds[k] === id && start >= from && (best < 0 || start < best)) best = start
        }
        return best
      }
    }
  }
}

/** A text test: over the diagnostic and, for built-in rules, the literals found in it. */
type TextTest = (text: string, occurrences: () => Occurrences) => boolean

const compilePattern = (source: string): RegExp | null => {
  try {
    return new RegExp(source)
  } catch {
    return null
  }
}

/** Whether the scan found any of the literals `ids`. */
const anyFound = (ids: ReadonlyArray<number>, found: Occurrences): boolean => {
  for (let i = 0; i < ids.length; i++) if (found.has(ids[i]!)) return true
  return false
}

/** Compiles a text match; with an index, literals are looked up in the scan instead of searched for. */
const compileText = (match: TextMatch, index?: LiteralIndex): TextTest => {
  const strings = (match.any ?? []).map((s) => s.toLowerCase())
  const sequences = (match.sequences ?? []).map((sequence) => sequence.map((s) => s.toLowerCase()))
  const patterns = (match.patterns ?? []).map(compilePattern).filter((p): p is RegExp => p !== null)
  const unless = (match.unless ?? []).map((s) => s.toLowerCase())
  if (index === undefined) {
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
  const anyIds = strings.filter((s) => s !== "").map((s) => index.id(s))
  const sequenceIds = sequences.map((sequence) => sequence.filter((s) => s !== "").map((s) => index.id(s)))
  const unlessIds = unless.filter((s) => s !== "").map((s) => index.id(s))
  const inOrder = (ids: ReadonlyArray<number>, found: Occurrences): boolean => {
    let at = 0
    for (const id of ids) {
      const start = found.startFrom(id, at)
      if (start < 0) return false
      at = start + index.length(id)
    }
    return true
  }
  // every rule's test runs for every record: plain loops, no closure made per call
  return (text, occurrences) => {
    if (text === "") return false
    const found = occurrences()
    let matched = anyFound(anyIds, found)
    for (let i = 0; !matched && i < sequenceIds.length; i++) matched = inOrder(sequenceIds[i]!, found)
    for (let i = 0; !matched && i < patterns.length; i++) matched = patterns[i]!.test(text)
    return matched && !anyFound(unlessIds, found)
  }
}

const anyText = (matches: ReadonlyArray<TextMatch>, index?: LiteralIndex): TextTest => {
  const tests = matches.map((match) => compileText(match, index))
  return (text, occurrences) => {
    for (let i = 0; i < tests.length; i++) if (tests[i]!(text, occurrences)) return true
    return false
  }
}

const compileCode = (codePattern: string): ((code: string) => boolean) => {
  const pattern = codePattern.trim()
  const parts = pattern.split(".")
  if (parts.length !== 3) {
    // a reply code pattern: three characters, '*' for any digit
    if (!pattern.includes("*")) return (code) => code === pattern
    return (code) => code.length === pattern.length && [...pattern].every((c, i) => c === "*" || c === code[i])
  }
  if (/^[\d.]+$/.test(pattern)) return (code) => code === pattern
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

/** Any of several code patterns, remembered per code: the same few codes come back in every mailbox. */
const anyCode = (patterns: ReadonlyArray<string>): ((code: string) => boolean) => {
  const tests = patterns.map(compileCode)
  const memo = new Map<string, boolean>()
  return (code) => {
    if (code === "") return false
    let result = memo.get(code)
    if (result === undefined) {
      result = tests.some((test) => test(code))
      if (memo.size < memoLimit) memo.set(code, result)
    }
    return result
  }
}

const upper = (values: ReadonlyArray<string>) => new Set(values.map((v) => v.trim().toUpperCase()))

/** What a rule's test sees: the facts, and the literals of the built-in rules found in the diagnostic. */
interface Subject {
  readonly facts: Facts
  readonly occurrences: () => Occurrences
}

type Test = (subject: Subject) => boolean

/** Compiles a rule's match into one predicate; conditions that are not given do not constrain. */
const compileRule = (rule: Rule, index?: LiteralIndex): Test => {
  const m = rule.match
  const tests: Array<(f: Facts) => boolean> = []
  // the cheap, discrete conditions first
  if (m.service) {
    const names = new Set(m.service)
    tests.push((f) => names.has(f.service))
  }
  if (m.hint) {
    const hints = new Set<string>(m.hint)
    tests.push((f) => f.hint !== null && hints.has(f.hint))
  }
  if (m.diagnosticType) {
    const types = upper(m.diagnosticType)
    tests.push((f) => types.has(f.diagnosticType))
  }
  if (m.notDiagnosticType) {
    const types = upper(m.notDiagnosticType)
    tests.push((f) => !types.has(f.diagnosticType))
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
  if (m.hasStatus !== undefined) {
    const wanted = m.hasStatus
    tests.push((f) => (f.status !== "") === wanted)
  }
  if (m.vagueStatus !== undefined) {
    const wanted = m.vagueStatus
    tests.push((f) => f.vagueStatus === wanted)
  }
  if (m.statusReason) {
    const reasons = new Set<string>(m.statusReason)
    tests.push((f) => reasons.has(f.statusReason))
  }
  if (m.notStatusReason) {
    const reasons = new Set<string>(m.notStatusReason)
    tests.push((f) => !reasons.has(f.statusReason))
  }
  if (m.status) {
    const test = anyCode(m.status)
    tests.push((f) => test(f.status))
  }
  if (m.notStatus) {
    const test = anyCode(m.notStatus)
    tests.push((f) => !test(f.status))
  }
  if (m.replyCode) {
    const test = anyCode(m.replyCode)
    tests.push((f) => test(f.replyCode))
  }
  if (m.notReplyCode) {
    const test = anyCode(m.notReplyCode)
    tests.push((f) => !test(f.replyCode))
  }
  if (m.remoteMta) {
    const suffixes = m.remoteMta.map((s) => s.trim().toLowerCase())
    tests.push((f) => f.remoteMta !== "" && suffixes.some((s) => f.remoteMta.endsWith(s)))
  }
  // text conditions last: they are the most expensive
  const textTests: Array<(s: Subject) => boolean> = []
  if (m.text) {
    const test = anyText(m.text, index)
    textTests.push((s) => test(s.facts.text, s.occurrences))
  }
  if (m.alsoText) {
    const test = anyText(m.alsoText, index)
    textTests.push((s) => test(s.facts.text, s.occurrences))
  }
  if (m.notText) {
    const test = anyText(m.notText, index)
    textTests.push((s) => !test(s.facts.text, s.occurrences))
  }
  return (subject) => {
    for (const test of tests) if (!test(subject.facts)) return false
    for (const test of textTests) if (!test(subject)) return false
    return true
  }
}

interface CompiledRule {
  readonly name: string
  readonly reason: Reason
  readonly services: ReadonlySet<string> | undefined
  readonly test: Test
}

const compileRules = (rules: ReadonlyArray<Rule>, index?: LiteralIndex): ReadonlyArray<CompiledRule> =>
  rules.map((rule) => ({
    name: rule.name,
    reason: rule.reason,
    services: rule.match.service === undefined ? undefined : new Set(rule.match.service),
    test: compileRule(rule, index)
  }))

/** The rules that can apply to a mail of `service`: the others are left out of the walk altogether. */
const forService = (rules: ReadonlyArray<CompiledRule>): ((service: string) => ReadonlyArray<CompiledRule>) => {
  const cache = new Map<string, ReadonlyArray<CompiledRule>>()
  return (service) => {
    let selected = cache.get(service)
    if (selected === undefined) {
      selected = rules.filter((rule) => rule.services === undefined || rule.services.has(service))
      cache.set(service, selected)
    }
    return selected
  }
}

const literals = new LiteralIndex()
const compiledMessageFinal = compileRules(messageFinalRules, literals)
const compiledPrimary = forService(compileRules(primaryRules, literals))
const compiledMessageRefinable = compileRules(messageRefinableRules, literals)
const compiledFallback = compileRules(fallbackRules, literals)
const vacationText = compileText(reasonText.vacation, literals)
literals.build()

const compiledUserRules = new WeakMap<ReadonlyArray<Rule>, ReadonlyArray<CompiledRule>>()

const userRulesOf = (rules: ReadonlyArray<Rule>): ReadonlyArray<CompiledRule> => {
  let compiled = compiledUserRules.get(rules)
  if (compiled === undefined) {
    compiled = compileRules(rules)
    compiledUserRules.set(rules, compiled)
  }
  return compiled
}

const firstMatch = (rules: ReadonlyArray<CompiledRule>, subject: Subject): CompiledRule | undefined => {
  for (const rule of rules) if (rule.test(subject)) return rule
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

  let scanned: Occurrences | undefined
  const subject: Subject = { facts, occurrences: () => (scanned ??= literals.scan(facts.text)) }

  if (userRules.length > 0) {
    const matched = firstMatch(userRulesOf(userRules), subject)
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
  const final = firstMatch(compiledMessageFinal, subject)
  if (final !== undefined) return decide(final.reason, final.name)

  const primary = firstMatch(compiledPrimary(facts.service), subject)
  if (primary !== undefined) return decide(primary.reason, primary.name)
  if (isExplicitReason(facts.hint)) return decide(facts.hint, "dialect")
  const refinable = firstMatch(compiledMessageRefinable, subject)
  if (refinable !== undefined) return decide(refinable.reason, refinable.name)

  const fallback = firstMatch(compiledFallback, subject)
  if (fallback !== undefined) return decide(fallback.reason, fallback.name)

  if (delayed) return decide("expired", "action.delayed")
  if (vacationText(facts.text, subject.occurrences)) return decide("vacation", "text.vacation")
  if (facts.text !== "") return decide("onhold", "onhold")
  return decide("undefined", "undefined")
}
