import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import type { PlatformError } from "@effect/platform/Error"
import * as Arr from "effect/Array"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { defaultLimits, type MailboxLimits, limitsConfig, sizeCheck } from "./limits.js"
import { Mailbox, type MailboxEntry, MailboxError, type MailboxSession, type RetrieveResult } from "./mailbox.js"

export interface MaildirOptions {
  /** the Maildir: the folder holding new/, cur/ and tmp/ */
  readonly path: string
  /** create the folder and its subfolders when missing (default true) */
  readonly create?: boolean
  readonly limits?: Partial<MailboxLimits>
}

const subfolders = ["new", "cur"] as const

/** The unique name of a Maildir file: its name without the ":2,FLAGS" info (Maildir specification, cr.yp.to). */
export const uniqueName = (fileName: string): string => {
  const colon = fileName.indexOf(":")
  return colon < 0 ? fileName : fileName.slice(0, colon)
}

const ioError = (action: string, error: PlatformError) =>
  new MailboxError({
    reason: error._tag === "SystemError" && error.reason === "NotFound" ? "NotFound" : "Io",
    message: `${action}: ${error.message}`,
    cause: error
  })

/**
 * The Mailbox port over a local Maildir. Entries are the files of new/ and cur/, ordered by name (Maildir names
 * start with the delivery time); deletion unlinks the files on commit. Nothing is renamed or flagged while reading,
 * so an abort leaves the folder as it was. Maildir needs no lock; two sessions may read the same folder.
 */
export const make = Effect.fn("MaildirMailbox.make")(function* (options: MaildirOptions) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const limits: MailboxLimits = { ...defaultLimits, ...options.limits }
  const root = path.resolve(options.path)

  const scan = Effect.gen(function* () {
    const files: Array<{ readonly uid: string; readonly file: string }> = []
    for (const folder of subfolders) {
      const names = yield* fs
        .readDirectory(path.join(root, folder))
        .pipe(Effect.mapError((error) => ioError(`cannot read the Maildir folder ${folder}/ of ${root}`, error)))
      for (const name of names) {
        if (!name.startsWith(".")) files.push({ uid: uniqueName(name), file: path.join(root, folder, name) })
      }
    }
    return files.sort((a, b) => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0))
  })

  const prepare =
    options.create === false
      ? Effect.void
      : Effect.forEach(["new", "cur", "tmp"], (folder) =>
          fs.makeDirectory(path.join(root, folder), { recursive: true })
        ).pipe(Effect.mapError((error) => ioError(`cannot create the Maildir ${root}`, error)))

  const open = Effect.gen(function* () {
    yield* prepare
    let state: "open" | "committed" = "open"
    const located = new Map<string, string>()
    const marked = new Map<string, MailboxEntry>()

    const closedError = new MailboxError({ reason: "Closed", message: "the Maildir session is committed" })
    const whileOpen = Effect.suspend(() => (state === "open" ? Effect.void : Effect.fail(closedError)))

    // The files with their sizes; a file another reader removed since the scan is left out.
    const sized = (files: ReadonlyArray<{ readonly file: string; readonly uid: string }>) =>
      Effect.map(
        Effect.forEach(files, ({ file, uid }) =>
          Effect.map(
            fs.stat(file).pipe(Effect.option),
            Option.map((info) => ({ file, uid, size: Number(info.size) }))
          )
        ),
        Arr.getSomes
      )

    // Another reader may have moved the file from new/ to cur/ (adding flags) since it was listed.
    const locate = (entry: MailboxEntry) =>
      Effect.gen(function* () {
        const known = located.get(entry.uid)
        if (known !== undefined && (yield* fs.exists(known).pipe(Effect.orElseSucceed(() => false)))) return known
        const found = (yield* scan).find((file) => file.uid === entry.uid)
        if (found === undefined) {
          return yield* new MailboxError({ reason: "NotFound", message: `mail ${entry.uid} is no longer in ${root}` })
        }
        located.set(entry.uid, found.file)
        return found.file
      })

    const retrieve = (entry: MailboxEntry) =>
      Effect.gen(function* () {
        yield* whileOpen
        const tooLarge = sizeCheck(entry, limits)
        if (tooLarge !== undefined) return yield* tooLarge
        const file = yield* locate(entry)
        return yield* fs.readFile(file).pipe(Effect.mapError((error) => ioError(`cannot read ${file}`, error)))
      })

    const session: MailboxSession = {
      capabilities: {
        kind: "maildir",
        secure: true,
        pipelining: false,
        authentication: "none",
        raw: [`Maildir ${root}`]
      },
      // the whole folder, as POP3's STAT counts the whole mailbox (the listing stops at maxMailsPerSession)
      stat: Effect.gen(function* () {
        yield* whileOpen
        const mails = yield* sized(yield* scan)
        return { count: mails.length, size: mails.reduce((sum, mail) => sum + mail.size, 0) }
      }),
      list: Effect.gen(function* () {
        yield* whileOpen
        const mails = yield* sized((yield* scan).slice(0, limits.maxMailsPerSession))
        return mails.map(({ file, size, uid }, index): MailboxEntry => {
          located.set(uid, file)
          return { uid, size, number: index + 1 }
        })
      }),
      retrieve,
      retrieveStream: (entry) =>
        Stream.unwrap(
          Effect.gen(function* () {
            yield* whileOpen
            const tooLarge = sizeCheck(entry, limits)
            if (tooLarge !== undefined) return yield* tooLarge
            const file = yield* locate(entry)
            return fs.stream(file).pipe(Stream.mapError((error) => ioError(`cannot read ${file}`, error)))
          })
        ),
      retrieveMany: (entries) =>
        Stream.fromIterable(entries).pipe(
          Stream.mapEffect((entry) =>
            retrieve(entry).pipe(
              Effect.map((bytes): RetrieveResult => ({ _tag: "Retrieved", entry, bytes })),
              Effect.catchIf(
                (error) => error.reason !== "Closed",
                (error) => Effect.succeed<RetrieveResult>({ _tag: "Skipped", entry, error })
              )
            )
          )
        ),
      markDeleted: (entry) =>
        Effect.gen(function* () {
          yield* whileOpen
          marked.set(entry.uid, entry)
        }),
      commit: Effect.gen(function* () {
        yield* whileOpen
        for (const entry of marked.values()) {
          const file = yield* locate(entry).pipe(
            Effect.catchIf(
              (e) => e.reason === "NotFound",
              () => Effect.succeed(undefined)
            )
          )
          if (file === undefined) continue
          yield* fs.remove(file).pipe(
            Effect.catchIf(
              (error) => error._tag === "SystemError" && error.reason === "NotFound",
              () => Effect.void
            ),
            Effect.mapError((error) => ioError(`cannot delete ${file}`, error))
          )
        }
        state = "committed"
      })
    }
    return session
  })

  return Mailbox.of({ open })
})

/** A Maildir as the Mailbox port. */
export const layer = (options: MaildirOptions): Layer.Layer<Mailbox, never, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Mailbox, make(options))

/** The Maildir options read from config under `prefix`: PATH, CREATE, and the limits. */
export const config = (prefix = "MAILDIR"): Config.Config<MaildirOptions> =>
  Config.nested(
    Config.all({
      path: Config.string("PATH").pipe(Config.withDescription("The Maildir folder (holding new/, cur/ and tmp/).")),
      create: Config.boolean("CREATE").pipe(
        Config.withDefault(true),
        Config.withDescription("Create the Maildir when it is missing.")
      ),
      limits: limitsConfig
    }),
    prefix
  )

/** A Maildir as the Mailbox port, configured under `prefix` (MAILDIR_PATH, ...). */
export const layerConfig = (
  prefix = "MAILDIR"
): Layer.Layer<Mailbox, ConfigError.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(Mailbox, Effect.flatMap(config(prefix), make))
