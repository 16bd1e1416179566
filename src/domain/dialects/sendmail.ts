/**
 * Sendmail (sisimai lhost via-sendmail.go). Its report carries a session transcript: the commands it sent (">>> ")
 * and the replies it got ("<<< "), the whole of a multi-line reply that the Diagnostic-Code field cuts to its first
 * line ("550-5.7.1 ... 550 5.7.1 ..."). The first command of the transcript is the one that failed.
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import { findEnhancedStatus, findReplyCode } from "../status.js"
import { type BounceMail, type Dialect, linesOf } from "./dialect.js"

const transcriptMarker = "----- Transcript of session follows -----"

const recognise = (mail: BounceMail): boolean =>
  (mail.subject.trimEnd().endsWith("see transcript for details") || mail.subject.trimStart().startsWith("Warning: ")) &&
  mail.section.includes(transcriptMarker)

interface Transcript {
  /** the first command sent */
  readonly command: string
  /** Sendmail's own lines with a reply and a status ("554 5.3.0 unknown mailer error 255") and its warnings */
  readonly notes: string
  /** the status of the last of those lines */
  readonly noteStatus: string | null
  /** the replies received, each once, in order */
  readonly replies: ReadonlyArray<string>
  /** the replies as runs of consecutive "<<< " lines: one multi-line reply each */
  readonly blocks: ReadonlyArray<string>
}

const transcriptOf = (section: string): Transcript => {
  let command = ""
  const notes: Array<string> = []
  let noteStatus: string | null = null
  const replies: Array<string> = []
  const blocks: Array<string> = []
  let block: Array<string> = []
  const lines = linesOf(section.slice(Math.max(0, section.indexOf(transcriptMarker))))
  for (const line of lines) {
    if (line.startsWith("<<< ")) {
      const reply = line.slice(4).trim()
      if (!replies.includes(reply)) replies.push(reply)
      block.push(reply)
      continue
    }
    if (block.length > 0) blocks.push(block.join(" "))
    block = []
    if (line.startsWith(">>> ")) {
      if (command === "") command = findSmtpCommand(line)
    } else if (!/^\s/.test(line) && !line.includes("... while talking to ")) {
      const reply = findReplyCode(line)
      const status = findEnhancedStatus(line, reply)
      if (reply !== null && status !== null) {
        notes.push(line.trim())
        noteStatus = status
      } else if (/^(?:Message|Warning): /.test(line)) notes.push(line.trim())
    }
  }
  if (block.length > 0) blocks.push(block.join(" "))
  return { command, notes: notes.join(" "), noteStatus, replies, blocks }
}

const firstLine = (text: string): string => text.replace(/\s+/g, " ").trim().toLowerCase()

export const sendmail: Dialect = {
  name: "sendmail",
  recognise,
  refine: (records, mail) => {
    const transcript = transcriptOf(mail.section)
    return records.map((found): FoundRecipient => {
      const refined: FoundRecipient = { ...found }
      // an empty or numbers-only diagnostic (an X-Unix exit status) says less than Sendmail's own lines
      if (transcript.notes !== "" && /^[\d\s.]*$/.test(found.diagnostic ?? "")) {
        refined.diagnostic = transcript.notes
        refined.replyCode ??= findReplyCode(transcript.notes)
      }
      if (transcript.noteStatus !== null && (refined.status === null || /^\d\.0\.0$/.test(refined.status))) {
        refined.status = transcript.noteStatus
      }
      if (transcript.command !== "") refined.command = transcript.command
      else if (!refined.command && transcript.replies.length > 0) refined.command = "EHLO"
      if (records.length === 1 && transcript.replies.length > 0) {
        // the whole reply that the Diagnostic-Code field begins, for display; all replies, for qualification
        const diagnostic = firstLine(found.diagnostic ?? "")
        const whole = transcript.blocks.find((block) => diagnostic !== "" && firstLine(block).startsWith(diagnostic))
        if (whole !== undefined) refined.diagnostic = whole
        const replies = transcript.replies.join(" ")
        refined.context = found.context === null ? replies : `${replies} ${found.context}`
      }
      return refined
    })
  }
}
