/**
 * Sendmail (sisimai lhost via-sendmail.go). Its report carries a session transcript: the commands it sent (">>> ")
 * and the replies it got ("<<< "), the whole of a multi-line reply that the Diagnostic-Code field cuts to its first
 * line ("550-5.7.1 ... 550 5.7.1 ..."). The first command of the transcript is the one that failed.
 */
import type { FoundRecipient } from "../extraction.js"
import { findSmtpCommand } from "../qualify.js"
import { type BounceMail, type Dialect, linesOf } from "./dialect.js"

const transcriptMarker = "----- Transcript of session follows -----"

const recognise = (mail: BounceMail): boolean =>
  (mail.subject.trimEnd().endsWith("see transcript for details") || mail.subject.trimStart().startsWith("Warning: ")) &&
  mail.section.includes(transcriptMarker)

interface Transcript {
  /** the first command sent */
  readonly command: string
  /** the replies received, each once, in order */
  readonly replies: ReadonlyArray<string>
  /** the replies as runs of consecutive "<<< " lines: one multi-line reply each */
  readonly blocks: ReadonlyArray<string>
}

const transcriptOf = (section: string): Transcript => {
  let command = ""
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
    if (line.startsWith(">>> ") && command === "") command = findSmtpCommand(line)
  }
  if (block.length > 0) blocks.push(block.join(" "))
  return { command, replies, blocks }
}

const firstLine = (text: string): string => text.replace(/\s+/g, " ").trim().toLowerCase()

export const sendmail: Dialect = {
  name: "sendmail",
  recognise,
  refine: (records, mail) => {
    const transcript = transcriptOf(mail.section)
    return records.map((found): FoundRecipient => {
      const refined: FoundRecipient = { ...found }
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
