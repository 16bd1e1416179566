import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Effect, Stream } from "effect"
import { splitMbox } from "../adapters/mime/mbox.js"
import { parseMail } from "../adapters/mime/parse.js"
import { type DecodeOptions, decodeBounce } from "../domain/decode.js"
import type { BounceReport, Correlation } from "../domain/report.js"

/** One line of `rebound classify --json`: a record, or the whole mail when it reports on no recipient. */
export interface ClassifiedLine {
  readonly file: string
  readonly kind: string
  readonly recipient: string | null
  readonly type: string | null
  readonly reason: string | null
  readonly status: string | null
  readonly replyCode: string | null
  readonly diagnostic: string | null
  readonly action: string | null
  readonly originalMessageId: string | null
  readonly originalEnvelopeId: string | null
  readonly feedbackType: string | null
  readonly reportingMta: string | null
  readonly remoteMta: string | null
  readonly rule: string | null
  readonly correlation: Correlation | null
}

/** Decodes the bytes of one mail (parse + decode). */
export const classifyBytes = (bytes: Uint8Array, options?: DecodeOptions): BounceReport =>
  decodeBounce(parseMail(bytes), options)

/** The lines `classify` prints for one decoded mail. */
export const linesOf = (file: string, report: BounceReport): Array<ClassifiedLine> => {
  if (report.records.length === 0) {
    return [
      {
        file,
        kind: report.kind,
        recipient: null,
        type: null,
        reason: null,
        status: null,
        replyCode: null,
        diagnostic: null,
        action: null,
        originalMessageId: report.originalMessageId,
        originalEnvelopeId: report.originalEnvelopeId,
        feedbackType: null,
        reportingMta: report.reportingMta,
        remoteMta: null,
        rule: null,
        correlation: null
      }
    ]
  }
  return report.records.map((record) => ({
    file,
    kind: record.kind,
    recipient: record.recipient,
    type: record.type,
    reason: record.reason,
    status: record.status,
    replyCode: record.replyCode,
    diagnostic: record.diagnostic,
    action: record.action,
    originalMessageId: record.originalMessageId,
    originalEnvelopeId: record.originalEnvelopeId,
    feedbackType: record.feedbackType,
    reportingMta: record.reportingMta,
    remoteMta: record.remoteMta,
    rule: record.rule,
    correlation: record.correlation
  }))
}

/** A mail found under the paths given to `classify`: its name and bytes, or why it could not be read. */
export type FoundMail =
  | { readonly _tag: "Mail"; readonly file: string; readonly bytes: Uint8Array }
  | { readonly _tag: "Unreadable"; readonly file: string; readonly message: string }

const readStdin = Effect.async<Uint8Array>((resume) => {
  const chunks: Array<Buffer> = []
  process.stdin.on("data", (chunk: Buffer) => chunks.push(chunk))
  process.stdin.on("end", () => resume(Effect.succeed(Buffer.concat(chunks))))
  process.stdin.on("error", () => resume(Effect.succeed(Buffer.concat(chunks))))
})

const mailsOfFile = (file: string, bytes: Uint8Array): Array<FoundMail> => {
  const mails = splitMbox(bytes)
  return mails.map((mail) => ({ _tag: "Mail", file, bytes: mail }))
}

/**
 * Every mail under the given paths: files, directories (recursively, in name order), mbox files (one mail per
 * message) and "-" for standard input. An unreadable path yields an Unreadable entry and the walk goes on.
 */
export const findMails = (
  paths: ReadonlyArray<string>
): Stream.Stream<FoundMail, never, FileSystem.FileSystem | Path.Path> =>
  Stream.fromIterable(paths).pipe(
    Stream.flatMap(
      (input) =>
        input === "-"
          ? Stream.fromEffect(readStdin).pipe(Stream.flatMap((bytes) => Stream.fromIterable(mailsOfFile("-", bytes))))
          : walk(input),
      {
        concurrency: 1
      }
    )
  )

const unreadable = (file: string, error: { readonly message: string }): FoundMail => ({
  _tag: "Unreadable",
  file,
  message: error.message
})

const walk = (input: string): Stream.Stream<FoundMail, never, FileSystem.FileSystem | Path.Path> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const info = yield* fs.stat(input)
      if (info.type === "Directory") {
        const names = (yield* fs.readDirectory(input)).sort()
        return Stream.fromIterable(names).pipe(
          Stream.flatMap((name) => walk(path.join(input, name)), { concurrency: 1 })
        )
      }
      const bytes = yield* fs.readFile(input)
      return Stream.fromIterable(mailsOfFile(input, bytes))
    }).pipe(Effect.catchAll((error) => Effect.succeed(Stream.make(unreadable(input, error)))))
  )
