/**
 * Dialects: what one MTA or mail service writes in its bounces that the standard decoders cannot know. A dialect is
 * recognised by what the bounce itself says (headers, subject, sender, body markers), never by where it came from.
 * It may decode a format of its own, and it may refine what the standard decoders found: the SMTP command that
 * failed, the reason its own message table gives, a fuller diagnostic.
 *
 * The recognisers and the message tables are ported from sisimai's lhost modules
 * (https://github.com/sisimai/go-sisimai, lhost/via-*.go; BSD-2-Clause, Copyright (C) 2014-2025 azumakuniyuki and
 * sisimai development team).
 */
import type { Extraction, FoundRecipient } from "../extraction.js"
import type { MimeEntity } from "../mail.js"
import type { Reason } from "../report.js"

/** The bounce as dialects read it. */
export interface BounceMail {
  readonly root: MimeEntity
  readonly subject: string
  readonly from: string
  /** the human-readable explanation: the first text part outside any returned message */
  readonly body: string
  /** the explanation before the returned message or its pasted headers */
  readonly section: string
}

/** What one MTA writes in its bounces. */
export interface Dialect {
  readonly name: string
  /** whether the bounce was written by this MTA */
  readonly recognise: (mail: BounceMail) => boolean
  /** a decoder for a format of the dialect's own, tried before the standard decoders */
  readonly decode?: (mail: BounceMail) => Extraction | null
  /** what the dialect knows about the records that a decoder found */
  readonly refine?: (records: ReadonlyArray<FoundRecipient>, mail: BounceMail) => ReadonlyArray<FoundRecipient>
}

/** A dialect's message table: the first reason whose phrases occur in the text, or null. Case-sensitive, as sent. */
export const reasonIn = (
  text: string,
  table: ReadonlyArray<readonly [Reason, ReadonlyArray<string>]>,
  ignoreCase = false
): Reason | null => {
  const subject = ignoreCase ? text.toLowerCase() : text
  for (const [reason, phrases] of table) {
    for (const phrase of phrases) if (subject.includes(ignoreCase ? phrase.toLowerCase() : phrase)) return reason
  }
  return null
}

/** The lines of a text, without their line ends. */
export const linesOf = (text: string): Array<string> => text.split(/\r\n|\r|\n/)

/** Whether any header of `name` starts with one of `prefixes`. */
export const headerStartsWith = (root: MimeEntity, name: string, prefixes: ReadonlyArray<string>): boolean =>
  root.headerAll(name).some((value) => prefixes.some((prefix) => value.trimStart().startsWith(prefix)))

/** Whether any header of `name` contains one of `parts`. */
export const headerContains = (root: MimeEntity, name: string, parts: ReadonlyArray<string>): boolean =>
  root.headerAll(name).some((value) => parts.some((part) => value.includes(part)))

const leadingAddress = /^\s*<?([^\s<>@]+@[^\s<>:]+?)>?(?=[\s:(]|$)/

/**
 * What a bounce text says about each recipient: the rest of the first line that opens with its address ("<a@b>: ...",
 * "<a@b> (expanded from <c@d>): ...") and the indented lines that continue it, on one line. The lines are indexed
 * once, so that a report on thousands of recipients costs one pass.
 */
export const paragraphs = (section: string): ((address: string | null) => string | null) => {
  let index: Map<string, string> | undefined
  const build = (): Map<string, string> => {
    const found = new Map<string, string>()
    const lines = linesOf(section)
    lines.forEach((line, start) => {
      const address = leadingAddress.exec(line)?.[1]?.toLowerCase()
      if (address === undefined || found.has(address)) return
      const first = line.trimStart()
      const colon = first.search(/>?\)?:\s/)
      const parts = [colon < 0 ? "" : first.slice(colon).replace(/^>?\)?:\s*/, "")]
      for (let next = start + 1; next < lines.length && /^[ \t]+\S/.test(lines[next]!); next++) parts.push(lines[next]!)
      const text = parts.join(" ").replace(/\s+/g, " ").trim()
      if (text !== "") found.set(address, text)
    })
    return found
  }
  return (address) => (address === null ? null : ((index ??= build()).get(address.toLowerCase()) ?? null))
}
