import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { Mailbox } from "../../../src/adapters/mailbox/mailbox.js"
import * as MaildirMailbox from "../../../src/adapters/mailbox/maildir-mailbox.js"

const binaryMail = Buffer.concat([
  Buffer.from("Message-ID: <bin@test>\nSubject: =?utf-8?q?caf=C3=A9?=\n\n"),
  Buffer.from([0x00, 0xff, 0x80, 0x2e, 0x0d, 0x0a, 0x2e, 0x0a]),
  Buffer.from("Grüße\n")
])

const first = "Message-ID: <1@test>\n\nfirst\n"
const second = "Message-ID: <2@test>\n\nsecond\n"

/** A temp Maildir with three mails: two in new/, one in cur/ with flags, plus a dotfile that is not a mail. */
const withMaildir = <A, E>(body: (root: string) => Effect.Effect<A, E, Mailbox | FileSystem.FileSystem>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const root = yield* fs.makeTempDirectoryScoped({ prefix: "rebound-maildir-" })
    for (const folder of ["new", "cur", "tmp"]) yield* fs.makeDirectory(path.join(root, folder))
    yield* fs.writeFileString(path.join(root, "new", "1700000002.M2P1.host"), second)
    yield* fs.writeFile(path.join(root, "new", "1700000003.M3P1.host,S=77"), binaryMail)
    yield* fs.writeFileString(path.join(root, "cur", "1700000001.M1P1.host:2,S"), first)
    yield* fs.writeFileString(path.join(root, "new", ".hidden"), "not a mail")
    return yield* body(root).pipe(Effect.provide(MaildirMailbox.layer({ path: root })))
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

describe("MaildirMailbox", () => {
  it.effect("lists new/ and cur/ in delivery order with the unique name as uid, bytes untouched", () =>
    withMaildir(() =>
      Effect.gen(function* () {
        const session = yield* (yield* Mailbox).open
        const entries = yield* session.list
        assert.deepStrictEqual(
          entries.map((e) => e.uid),
          ["1700000001.M1P1.host", "1700000002.M2P1.host", "1700000003.M3P1.host,S=77"]
        )
        assert.deepStrictEqual(
          entries.map((e) => e.size),
          [first.length, second.length, binaryMail.length]
        )
        assert.deepStrictEqual(Buffer.from(yield* session.retrieve(entries[2]!)), binaryMail)
        const streamed = yield* Stream.runCollect(session.retrieveStream(entries[2]!))
        assert.deepStrictEqual(Buffer.concat(Chunk.toReadonlyArray(streamed)), binaryMail)
        assert.deepStrictEqual(yield* session.stat, {
          count: 3,
          size: first.length + second.length + binaryMail.length
        })
      }).pipe(Effect.scoped)
    )
  )

  it.effect("unlinks marked mails on commit only", () =>
    withMaildir((root) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const mailbox = yield* Mailbox
        yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* mailbox.open
            for (const entry of yield* session.list) yield* session.markDeleted(entry)
          })
        )
        assert.strictEqual((yield* fs.readDirectory(path.join(root, "new"))).length, 3)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const session = yield* mailbox.open
            const entries = yield* session.list
            yield* session.markDeleted(entries[0]!)
            yield* session.markDeleted(entries[2]!)
            yield* session.commit
            assert.strictEqual((yield* session.list.pipe(Effect.flip)).reason, "Closed")
          })
        )
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(root, "cur")), [])
        assert.deepStrictEqual((yield* fs.readDirectory(path.join(root, "new"))).sort(), [
          ".hidden",
          "1700000002.M2P1.host"
        ])
      })
    )
  )

  it.effect("follows a mail another reader moved to cur/, and skips one that vanished", () =>
    withMaildir((root) =>
      Effect.gen(function* () {
        const fs = yield* FileSystem.FileSystem
        const session = yield* (yield* Mailbox).open
        const entries = yield* session.list
        yield* fs.rename(
          path.join(root, "new", "1700000002.M2P1.host"),
          path.join(root, "cur", "1700000002.M2P1.host:2,S")
        )
        yield* fs.remove(path.join(root, "cur", "1700000001.M1P1.host:2,S"))
        const results = Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(entries)))
        assert.deepStrictEqual(
          results.map((r) => r._tag),
          ["Skipped", "Retrieved", "Retrieved"]
        )
        const [gone, moved] = results
        assert.isTrue(gone!._tag === "Skipped" && gone!.error.reason === "NotFound")
        assert.isTrue(moved!._tag === "Retrieved" && text(moved!.bytes).includes("second"))
        yield* session.markDeleted(entries[1]!)
        yield* session.markDeleted(entries[0]!)
        yield* session.commit
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(root, "cur")), [])
      }).pipe(Effect.scoped)
    )
  )

  it.effect("applies maxMailSize and maxMailsPerSession", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const root = yield* fs.makeTempDirectoryScoped()
      yield* fs.makeDirectory(path.join(root, "new"), { recursive: true })
      for (let i = 0; i < 5; i++)
        yield* fs.writeFileString(path.join(root, "new", `17000000${i}0.M.h`), "x".repeat(i * 50))
      const layer = MaildirMailbox.layer({ path: root, limits: { maxMailSize: 120, maxMailsPerSession: 4 } })
      const { results, stat } = yield* Effect.gen(function* () {
        const session = yield* (yield* Mailbox).open
        const results = Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(yield* session.list)))
        return { results, stat: yield* session.stat }
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(
        results.map((r) => (r._tag === "Skipped" ? r.error.reason : r.bytes.length)),
        [0, 50, 100, "TooLarge"]
      )
      // like POP3's STAT, the whole folder, past the session's listing
      assert.deepStrictEqual(stat, { count: 5, size: 0 + 50 + 100 + 150 + 200 })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
  )

  it.effect("is configured under a prefix and creates a missing Maildir", () =>
    Effect.gen(function* () {
      const fs = yield* FileSystem.FileSystem
      const root = path.join(yield* fs.makeTempDirectoryScoped(), "inbox")
      const provider = ConfigProvider.fromMap(new Map([["BOUNCES_PATH", root]]), { pathDelim: "_" })
      const layer = MaildirMailbox.layerConfig("BOUNCES").pipe(Layer.provide(Layer.setConfigProvider(provider)))
      const entries = yield* Effect.gen(function* () {
        const session = yield* (yield* Mailbox).open
        return yield* session.list
      }).pipe(Effect.scoped, Effect.provide(layer))
      assert.deepStrictEqual(entries, [])
      assert.deepStrictEqual((yield* fs.readDirectory(root)).sort(), ["cur", "new", "tmp"])
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))
  )
})
