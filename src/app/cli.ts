import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Stream } from "effect"
import { type ClassifiedLine, classifyBytes, findMails, linesOf } from "./classify.js"
import { configCommand } from "./cli/config.js"
import { daemonCommands } from "./cli/daemon.js"
import { quarantineCommand } from "./cli/quarantine.js"
import { reportCommand } from "./cli/report.js"
import { messageIdCommand, verpCommand } from "./cli/tokens.js"

const write = (text: string) => Effect.sync(() => void process.stdout.write(text))

const tableRow = (line: ClassifiedLine): string =>
  [
    line.file,
    line.kind,
    line.recipient ?? "-",
    line.type ?? "-",
    line.reason ?? "-",
    line.status ?? "-",
    line.replyCode ?? "-",
    line.correlation?.method ?? "-",
    line.rule ?? "-"
  ].join("\t")

const tableHeader = ["FILE", "KIND", "RECIPIENT", "TYPE", "REASON", "STATUS", "REPLY", "CORRELATION", "RULE"].join("\t")

const classify = Command.make(
  "classify",
  {
    json: Options.boolean("json").pipe(
      Options.withDescription("print JSON Lines, one object per recipient record, instead of a table")
    ),
    paths: Args.text({ name: "PATH" }).pipe(
      Args.withDescription("a mail file, a directory (read recursively), an mbox file, or - for standard input"),
      Args.atLeast(1)
    )
  },
  ({ json, paths }) =>
    Effect.gen(function* () {
      let unreadable = 0
      if (!json) yield* write(tableHeader + "\n")
      yield* findMails(paths).pipe(
        Stream.runForEach((mail) => {
          if (mail._tag === "Unreadable") {
            unreadable++
            return Effect.sync(() => void process.stderr.write(`rebound: cannot read ${mail.file}: ${mail.message}\n`))
          }
          const lines = linesOf(mail.file, classifyBytes(mail.bytes))
          const text = json ? lines.map((line) => JSON.stringify(line)).join("\n") : lines.map(tableRow).join("\n")
          return write(text + "\n")
        })
      )
      if (unreadable > 0) yield* Effect.sync(() => void (process.exitCode = 1))
    })
).pipe(Command.withDescription("Decode bounce mails and print what rebound makes of each failed recipient."))

/** The `rebound` command line. */
export const rebound = Command.make("rebound").pipe(
  Command.withDescription("rebound: bounce processing for senders of bulk and transactional mail."),
  Command.withSubcommands([
    ...daemonCommands,
    classify,
    configCommand,
    quarantineCommand,
    reportCommand,
    messageIdCommand,
    verpCommand
  ])
)
