import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as http from "node:http"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Mailbox, type MailboxError, type MailboxSession } from "../../../src/adapters/mailbox/mailbox.js"
import * as Pop3Mailbox from "../../../src/adapters/mailbox/pop3-mailbox.js"
import type { Pop3OptionsInput } from "../../../src/adapters/mailbox/pop3-options.js"
import {
  makeCertificate,
  opensslAvailable,
  testPop3Server,
  type TestPop3ServerOptions
} from "../../support/pop3-server.js"
import type { CommandContext, TestCertificate, TestPop3Server } from "../../support/pop3-server.js"
import { skipWithout } from "../../support/services.js"

const mail = (n: number, body = `body ${n}`) =>
  `Message-ID: <${n}@rebound.test>\r\nSubject: mail ${n}\r\n\r\n${body}\r\n`
const mails = (count: number) => Array.from({ length: count }, (_, i) => mail(i + 1))
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const password = "s3cr3t-Pa55"

v8.setFlagsFromString("--expose-gc")

/** Log lines of the test, to check that no secret is ever logged. */
const logged: Array<string> = []
const collectingLogger = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ message }) => {
    logged.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })
)

const baseOptions = (server: TestPop3Server, options: Partial<Pop3OptionsInput> = {}): Pop3OptionsInput => ({
  host: "127.0.0.1",
  port: server.port,
  tls: "none",
  auth: { mechanism: "user", username: "bounce", password: Redacted.make("secret") },
  commandTimeout: Duration.seconds(2),
  connectTimeout: Duration.seconds(2),
  ...options
})

/** Runs `body` on a session of a fresh test server. */
const withSession = <A>(
  serverOptions: TestPop3ServerOptions,
  body: (session: MailboxSession, server: TestPop3Server) => Effect.Effect<A, MailboxError>,
  options: Partial<Pop3OptionsInput> = {}
) =>
  Effect.gen(function* () {
    const server = yield* testPop3Server(serverOptions)
    const mailbox = yield* Pop3Mailbox.make(baseOptions(server, options))
    const result = yield* Effect.scoped(Effect.flatMap(mailbox.open, (session) => body(session, server))).pipe(
      Effect.exit
    )
    return { result, server }
  }).pipe(
    Effect.scoped,
    Effect.provide(FetchHttpClient.layer),
    Effect.provide(collectingLogger),
    Logger.withMinimumLogLevel(LogLevel.All)
  )

const exitFailures = <A>(exit: Exit.Exit<A, MailboxError>): ReadonlyArray<MailboxError> =>
  Exit.isFailure(exit) ? Chunk.toReadonlyArray(Cause.failures(exit.cause)) : []

const reasonOf = <A>(exit: Exit.Exit<A, MailboxError>): string =>
  Exit.isSuccess(exit) ? "success" : (exitFailures(exit)[0]?.reason ?? `defect: ${Cause.pretty(exit.cause)}`)

const drainAll = (session: MailboxSession) =>
  Effect.gen(function* () {
    const entries = yield* session.list
    const results = Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(entries)))
    return { entries, results }
  })

/** A session limited to three mails lists the first three, each with the server's own id. */
const listsFirstThree = (session: MailboxSession) =>
  Effect.map(session.list, (entries) =>
    assert.deepStrictEqual(
      entries.map((e) => [e.uid, e.number]),
      [
        ["uid-0001", 1],
        ["uid-0002", 2],
        ["uid-0003", 3]
      ]
    )
  )

describe("Pop3Mailbox against the in-process server", () => {
  it.live("lists with LIST + UIDL, retrieves, deletes on commit only, ends with QUIT", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession({ mails: mails(3) }, (session) =>
        Effect.gen(function* () {
          const entries = yield* session.list
          assert.deepStrictEqual(
            entries.map((e) => [e.uid, e.number, e.size]),
            mails(3).map((m, i) => [`uid-000${i + 1}`, i + 1, m.length])
          )
          assert.deepStrictEqual(yield* session.stat, { count: 3, size: mails(3).join("").length })
          assert.strictEqual(text(yield* session.retrieve(entries[1]!)), mail(2))
          yield* session.markDeleted(entries[0]!)
          yield* session.markDeleted(entries[2]!)
          yield* session.commit
          return session.capabilities
        })
      )
      assert.strictEqual(reasonOf(result), "success")
      assert.deepStrictEqual(
        server.mails.map((m) => m.uid),
        ["uid-0002"]
      )
      const lines = server.lines()
      assert.deepStrictEqual(lines.slice(-3), ["DELE 1", "DELE 3", "QUIT"])
      assert.isTrue(Exit.isSuccess(result) && result.value.pipelining && result.value.authentication === "USER")
    })
  )

  it.live(
    "with maxMailsPerSession, lists the first mails with their own ids and stays in step after both listings",
    () =>
      Effect.gen(function* () {
        const { result, server } = yield* withSession(
          { mails: mails(10) },
          (session) =>
            Effect.gen(function* () {
              const entries = yield* session.list
              assert.deepStrictEqual(
                entries.map((e) => [e.uid, e.number]),
                [
                  ["uid-0001", 1],
                  ["uid-0002", 2],
                  ["uid-0003", 3]
                ]
              )
              assert.strictEqual(text(yield* session.retrieve(entries[2]!)), mail(3))
              assert.strictEqual((yield* session.stat).count, 10)
              for (const entry of entries) yield* session.markDeleted(entry)
              yield* session.commit
            }),
          { maxMailsPerSession: 3 }
        )
        assert.strictEqual(reasonOf(result), "success")
        assert.deepStrictEqual(
          server.mails.map((m) => m.uid),
          ["uid-0004", "uid-0005", "uid-0006", "uid-0007", "uid-0008", "uid-0009", "uid-0010"]
        )
        // more than twice the limit waits: the first mails are asked for one by one, not the whole mailbox
        const lines = server.lines()
        assert.includeMembers(lines, ["LIST 1", "UIDL 1", "LIST 3", "UIDL 3"])
        assert.notInclude(lines, "LIST 4")
        assert.isFalse(lines.includes("LIST") || lines.includes("UIDL"))
        // the listing's count and the session's stat are one STAT: nothing changes before the commit
        assert.strictEqual(lines.filter((line) => line === "STAT").length, 1)
      })
  )

  describe("a backlog's next session", () => {
    /** Waits (real time) until the server has seen `count` connections. */
    const connectionsReach = (server: TestPop3Server, count: number) =>
      Effect.gen(function* () {
        for (let waited = 0; server.connections < count; waited += 5) {
          if (waited > 2000) return yield* Effect.die(`the server saw ${server.connections} connections, not ${count}`)
          yield* Effect.sleep(Duration.millis(5))
        }
      })

    /** One session of three mails: lists, retrieves, deletes, commits; `meanwhile` runs once the list is out. */
    const takeThree = (mailbox: Context.Tag.Service<Mailbox>, meanwhile: Effect.Effect<void>) =>
      Effect.scoped(
        Effect.gen(function* () {
          const session = yield* mailbox.open
          const { entries, results } = yield* drainAll(session)
          assert.strictEqual(results.length, 3)
          yield* meanwhile
          for (const entry of entries) yield* session.markDeleted(entry)
          yield* session.commit
          return entries.map((entry) => entry.uid)
        })
      )

    const backlog = <A>(
      body: (server: TestPop3Server, mailbox: Context.Tag.Service<Mailbox>) => Effect.Effect<A, MailboxError>
    ) =>
      Effect.gen(function* () {
        // exclusive: a login while another session holds the mailbox would get [IN-USE]
        const server = yield* testPop3Server({ mails: mails(10), exclusive: true })
        const mailbox = yield* Pop3Mailbox.make(baseOptions(server, { maxMailsPerSession: 3 }))
        return yield* body(server, mailbox)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))

    it.live("is greeted while this one runs, and logs in on that connection after this one's QUIT", () =>
      backlog((server, mailbox) =>
        Effect.gen(function* () {
          // more than the session takes waits: the next connection is made during this session
          const first = yield* takeThree(mailbox, connectionsReach(server, 2))
          const second = yield* takeThree(mailbox, Effect.void)
          assert.deepStrictEqual(
            [...first, ...second],
            mails(6).map((_, i) => `uid-000${i + 1}`)
          )
          // the second session logged in on the connection greeted ahead; the third connection is the one it greeted in
          // turn for a next session (seven mails wait), which never logs in
          assert.strictEqual(server.connections, 3)
          const sessionOf = (line: string) => server.received.find((command) => command.line.startsWith(line))?.session
          assert.strictEqual(sessionOf("RETR 1"), 1)
          assert.strictEqual(server.received.filter((command) => command.line === "RETR 1").at(-1)?.session, 2)
          assert.deepStrictEqual(
            server.received.filter((command) => command.session === 3).map((command) => command.line),
            ["CAPA"]
          )
          const order = server.received.map((command) => `${command.session} ${command.line.split(" ")[0]}`)
          const firstQuit = order.indexOf("1 QUIT")
          assert.isBelow(order.indexOf("2 CAPA"), firstQuit, "greeted before the first session ended")
          assert.isAbove(order.indexOf("2 USER"), firstQuit, "logged in only after the first session's QUIT")
          assert.deepStrictEqual(
            server.mails.map((m) => m.uid),
            ["uid-0007", "uid-0008", "uid-0009", "uid-0010"]
          )
        })
      )
    )

    it.live("overlaps the session still committing: the next one lists past its mails (listSkipping)", () =>
      Effect.gen(function* () {
        // a server that lets two sessions into one maildrop, as Dovecot does by default
        const server = yield* testPop3Server({ mails: mails(10) })
        const mailbox = yield* Pop3Mailbox.make(baseOptions(server, { maxMailsPerSession: 3, overlapSessions: true }))
        assert.isTrue(mailbox.overlappingSessions)
        const uids = (entries: ReadonlyArray<{ readonly uid: string }>) => entries.map((entry) => entry.uid)
        const taken = yield* Effect.scoped(
          Effect.gen(function* () {
            const first = yield* mailbox.open
            const { entries: firstEntries } = yield* drainAll(first)
            // the first session has its mails and still has to commit: the next one opens now
            const second = yield* Effect.scoped(
              Effect.gen(function* () {
                const session = yield* mailbox.open
                const entries = yield* session.listSkipping!(new Set(uids(firstEntries)))
                const results = Chunk.toReadonlyArray(yield* Stream.runCollect(session.retrieveMany(entries)))
                assert.deepStrictEqual(
                  results.map((result) => (result._tag === "Retrieved" ? text(result.bytes) : result._tag)),
                  [mail(4), mail(5), mail(6)]
                )
                for (const entry of firstEntries) yield* first.markDeleted(entry)
                yield* first.commit
                for (const entry of entries) yield* session.markDeleted(entry)
                yield* session.commit
                return uids(entries)
              })
            )
            return [...uids(firstEntries), ...second]
          })
        )
        assert.deepStrictEqual(
          taken,
          mails(6).map((_, i) => `uid-000${i + 1}`)
        )
        assert.deepStrictEqual(
          server.mails.map((m) => m.uid),
          ["uid-0007", "uid-0008", "uid-0009", "uid-0010"]
        )
        const byDefault = yield* Pop3Mailbox.make(baseOptions(server))
        assert.isFalse(byDefault.overlappingSessions)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
    )

    it.live("keeps nothing of a session once later sessions have run", () =>
      backlog((_server, mailbox) =>
        Effect.gen(function* () {
          const gc = vm.runInNewContext("gc") as () => void
          // what the first session's scope closed with: nothing may hold it once the next sessions are done
          let marker: WeakRef<Uint8Array> | undefined
          yield* Effect.scoped(
            Effect.gen(function* () {
              const session = yield* mailbox.open
              yield* drainAll(session)
              const held = new Uint8Array(1024)
              marker = new WeakRef(held)
              return { held }
            })
          )
          for (let i = 0; i < 3; i++) yield* takeThree(mailbox, Effect.void)
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
          gc()
          assert.isUndefined(marker?.deref())
        })
      )
    )

    it.live("closes the connection greeted ahead when the mailbox's layer is released", () =>
      Effect.gen(function* () {
        const server = yield* testPop3Server({ mails: mails(10), exclusive: true })
        const layerScope = yield* Scope.make()
        const context = yield* Layer.buildWithScope(
          Pop3Mailbox.layer(baseOptions(server, { maxMailsPerSession: 3 })),
          layerScope
        )
        yield* takeThree(Context.get(context, Mailbox), connectionsReach(server, 2))
        yield* Scope.close(layerScope, Exit.void)
        // at once, not when the 30 s of an unused connection are over
        for (let waited = 0; server.sockets.size > 0; waited += 5) {
          if (waited > 2000) return assert.fail(`${server.sockets.size} connection(s) still open`)
          yield* Effect.sleep(Duration.millis(5))
        }
        // the session's own connection and the one it greeted ahead
        assert.strictEqual(server.connections, 2)
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
    )

    it.live("gets a fresh connection when the one greeted ahead was lost meanwhile", () =>
      backlog((server, mailbox) =>
        Effect.gen(function* () {
          const dropAhead = Effect.zipRight(
            connectionsReach(server, 2),
            Effect.sync(() => [...server.sockets].at(-1)!.destroy())
          )
          yield* takeThree(mailbox, dropAhead)
          const second = yield* takeThree(mailbox, Effect.void)
          assert.deepStrictEqual(second, ["uid-0004", "uid-0005", "uid-0006"])
          assert.strictEqual(server.connections, 4)
        })
      )
    )
  })

  it.live("a server that refuses UIDL n gets the full listings instead", () =>
    Effect.gen(function* () {
      const refuseOne = (context: CommandContext) =>
        context.keyword === "UIDL" && context.args.length === 1 ? "-ERR not that way\r\n" : undefined
      const { result, server } = yield* withSession({ mails: mails(10), onCommand: refuseOne }, listsFirstThree, {
        maxMailsPerSession: 3
      })
      assert.strictEqual(reasonOf(result), "success")
      assert.includeMembers(server.lines(), ["UIDL 1", "LIST", "UIDL"])
    })
  )

  it.live(
    "a server whose UIDL does not start with the mails LIST starts with gets a full listing, not made-up ids",
    () =>
      Effect.gen(function* () {
        const reversed = (context: CommandContext) =>
          context.keyword === "UIDL" && context.args.length === 0
            ? `+OK\r\n${context.server.mails
                .map((m, index) => `${index + 1} ${m.uid}\r\n`)
                .reverse()
                .join("")}.\r\n`
            : undefined
        const { result } = yield* withSession({ mails: mails(6), onCommand: reversed }, listsFirstThree, {
          maxMailsPerSession: 3
        })
        assert.strictEqual(reasonOf(result), "success")
      })
  )

  it.live("an aborted session sends neither DELE nor QUIT, and the server deletes nothing", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession({ mails: mails(3) }, (session) =>
        Effect.gen(function* () {
          const { entries } = yield* drainAll(session)
          for (const entry of entries) yield* session.markDeleted(entry)
        })
      )
      assert.strictEqual(reasonOf(result), "success")
      yield* Effect.sleep("50 millis")
      assert.strictEqual(server.mails.length, 3)
      assert.isFalse(server.lines().some((line) => line.startsWith("DELE") || line === "QUIT"))
    })
  )

  it.live("pipelines RETR and DELE when PIPELINING is announced, one at a time when not", () =>
    Effect.gen(function* () {
      const largestBatch = (server: TestPop3Server, keyword: string) => {
        const perRead = new Map<number, number>()
        for (const command of server.received) {
          if (command.line.startsWith(keyword)) perRead.set(command.read, (perRead.get(command.read) ?? 0) + 1)
        }
        return Math.max(...perRead.values())
      }
      const run = (pipelining: boolean, option: "auto" | "off" = "auto") =>
        withSession(
          { mails: mails(40), pipelining },
          (session) =>
            Effect.gen(function* () {
              const { results } = yield* drainAll(session)
              for (const result of results) yield* session.markDeleted(result.entry)
              yield* session.commit
              return results.map((r) => (r._tag === "Retrieved" ? text(r.bytes) : r.error.message))
            }),
          { pipelining: option, pipelineDepth: 8 }
        )
      const pipelined = yield* run(true)
      const plain = yield* run(false)
      const off = yield* run(true, "off")
      for (const { result, server } of [pipelined, plain, off]) {
        assert.isTrue(Exit.isSuccess(result))
        if (Exit.isSuccess(result)) assert.deepStrictEqual(result.value, mails(40))
        assert.strictEqual(server.mails.length, 0)
      }
      for (const keyword of ["RETR", "DELE"]) {
        assert.isAbove(largestBatch(pipelined.server, keyword), 1)
        assert.isAtMost(largestBatch(pipelined.server, keyword), 8)
        assert.strictEqual(largestBatch(plain.server, keyword), 1)
        assert.strictEqual(largestBatch(off.server, keyword), 1)
      }
    })
  )

  it.live("an -ERR to one pipelined RETR skips that mail; the session goes on and commits", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        {
          mails: mails(5),
          onCommand: ({ args, keyword }) =>
            keyword === "RETR" && args[0] === "3" ? "-ERR [SYS/TEMP] cannot read message 3\r\n" : undefined
        },
        (session) =>
          Effect.gen(function* () {
            const { results } = yield* drainAll(session)
            for (const r of results) if (r._tag === "Retrieved") yield* session.markDeleted(r.entry)
            yield* session.commit
            return results.map((r) => (r._tag === "Retrieved" ? "ok" : r.error.reason))
          })
      )
      assert.deepStrictEqual(Exit.isSuccess(result) ? result.value : reasonOf(result), [
        "ok",
        "ok",
        "SysTemp",
        "ok",
        "ok"
      ])
      assert.deepStrictEqual(
        server.mails.map((m) => m.uid),
        ["uid-0003"]
      )
    })
  )

  it.live("mails with dot lines, 8-bit bytes and a 10 MB line come back byte for byte", () =>
    Effect.gen(function* () {
      const dotty = Buffer.from(".\r\n..\r\n.leading\r\n\xff\xfe\x00\x80 8-bit\r\n.\r\nend", "latin1")
      const longLine = Buffer.concat([
        Buffer.from("Subject: long\r\n\r\n"),
        Buffer.alloc(10 * 1024 * 1024, "a"),
        Buffer.from("\r\n")
      ])
      const { result } = yield* withSession({ mails: [dotty, longLine] }, (session) =>
        Effect.gen(function* () {
          const [first, second] = yield* session.list
          const streamed = yield* Stream.runFold(session.retrieveStream(second!), 0, (sum, chunk) => sum + chunk.length)
          return { first: yield* session.retrieve(first!), second: yield* session.retrieve(second!), streamed }
        })
      )
      assert.isTrue(Exit.isSuccess(result))
      if (Exit.isSuccess(result)) {
        assert.deepStrictEqual(Buffer.from(result.value.first), Buffer.concat([dotty, Buffer.from("\r\n")]))
        assert.deepStrictEqual(Buffer.from(result.value.second), longLine)
        assert.strictEqual(result.value.streamed, longLine.length)
      }
    })
  )

  it.live("a 10 MB status line without a line end is a Protocol error, not 10 MB of memory", () =>
    Effect.gen(function* () {
      const { result } = yield* withSession({ greeting: `+OK ${"x".repeat(10 * 1024 * 1024)}` }, () => Effect.void)
      assert.strictEqual(reasonOf(result), "Protocol")
    })
  )

  it.live("garbage instead of a status line is a Protocol error", () =>
    Effect.gen(function* () {
      const greeting = yield* withSession({ greeting: "HTTP/1.1 400 Bad Request\r\n" }, () => Effect.void)
      assert.strictEqual(reasonOf(greeting.result), "Protocol")
      const { result } = yield* withSession(
        {
          mails: mails(2),
          onCommand: ({ keyword }) => (keyword === "UIDL" ? "+OK\r\n1 ok\r\ngarbage line\r\n.\r\n" : undefined)
        },
        (session) => session.list
      )
      assert.strictEqual(reasonOf(result), "Protocol")
    })
  )

  it.live("a reply cut in the middle loses the session and deletes nothing", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        {
          mails: mails(3),
          onCommand: ({ args, keyword }) =>
            keyword === "RETR" && args[0] === "2"
              ? { _tag: "WriteAndClose", data: "+OK 100 octets\r\nMessage-ID: <2@rebound.test>\r\nSubj" }
              : undefined
        },
        (session) =>
          Effect.gen(function* () {
            const entries = yield* session.list
            yield* session.markDeleted(entries[0]!)
            yield* Stream.runDrain(session.retrieveMany(entries))
          })
      )
      assert.strictEqual(reasonOf(result), "Closed")
      assert.strictEqual(server.mails.length, 3)
    })
  )

  /** The mails a pipelined retrieval gives before it ends, and how it ends. */
  const retrievedUntilEnd = (session: MailboxSession) =>
    Effect.gen(function* () {
      const entries = yield* session.list
      const retrieved: Array<[string, string]> = []
      const end = yield* Effect.exit(
        Stream.runForEach(session.retrieveMany(entries), (result) =>
          Effect.sync(() => {
            if (result._tag === "Retrieved") retrieved.push([result.entry.uid, text(result.bytes)])
          })
        )
      )
      return { retrieved, end }
    })

  it.live("a RETR reply without its body puts the later replies out of step: the session stops before that mail", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        {
          mails: mails(5),
          onCommand: ({ args, keyword }) => (keyword === "RETR" && args[0] === "3" ? "+OK 61 octets\r\n" : undefined)
        },
        (session) =>
          Effect.gen(function* () {
            const { end, retrieved } = yield* retrievedUntilEnd(session)
            // the mails before it are the right ones; the one read in its place (mail 4 under mail 3's id) is not given
            assert.deepStrictEqual(retrieved, [
              ["uid-0001", mail(1)],
              ["uid-0002", mail(2)]
            ])
            assert.strictEqual(reasonOf(end), "Protocol")
            assert.match(
              exitFailures(end)[0]!.message,
              /^the reply to RETR 3 \(uid-0003\) begins with a POP3 status line and holds \d+ octets where LIST said \d+/
            )
            return yield* session.stat
          })
      )
      assert.strictEqual(reasonOf(result), "Closed")
      assert.strictEqual(server.mails.length, 5)
      assert.isTrue(server.lines().includes("RETR 5"), "the RETRs were pipelined")
    })
  )

  it.live("a mail that begins like a status line is read when LIST gave its size, or with pipelining off", () =>
    Effect.gen(function* () {
      const odd = "+OK this first line is not a header\r\nSubject: odd\r\n\r\nbody\r\n"
      const serverOptions = { mails: [mail(1), odd, "-ERR\r\n\r\nbody\r\n", mail(4)] }
      const expected = [
        ["uid-0001", mail(1)],
        ["uid-0002", odd],
        ["uid-0003", "-ERR\r\n\r\nbody\r\n"],
        ["uid-0004", mail(4)]
      ]
      const exact = yield* withSession(serverOptions, retrievedUntilEnd)
      assert.isTrue(Exit.isSuccess(exact.result))
      if (Exit.isSuccess(exact.result)) {
        assert.deepStrictEqual(exact.result.value.retrieved, expected)
        assert.isTrue(Exit.isSuccess(exact.result.value.end))
      }
      // a server whose LIST sizes are off cannot tell it from a shifted reply while RETRs are pipelined
      const inexact = { ...serverOptions, listSize: (bytes: Uint8Array) => bytes.length + 7 }
      const pipelined = yield* withSession(inexact, retrievedUntilEnd)
      assert.isTrue(Exit.isSuccess(pipelined.result))
      if (Exit.isSuccess(pipelined.result)) {
        assert.deepStrictEqual(pipelined.result.value.retrieved, expected.slice(0, 1))
        assert.strictEqual(reasonOf(pipelined.result.value.end), "Protocol")
      }
      const oneByOne = yield* withSession(inexact, retrievedUntilEnd, { pipelining: "off" })
      assert.isTrue(Exit.isSuccess(oneByOne.result))
      if (Exit.isSuccess(oneByOne.result)) {
        assert.deepStrictEqual(oneByOne.result.value.retrieved, expected)
        assert.isTrue(Exit.isSuccess(oneByOne.result.value.end))
      }
    })
  )

  it.live("a server that never answers times out (greeting, or in the middle of a mail)", () =>
    Effect.gen(function* () {
      const timeout = { commandTimeout: Duration.millis(300) }
      const silent = yield* withSession({ greeting: { _tag: "Hang" } }, () => Effect.void, timeout)
      assert.strictEqual(reasonOf(silent.result), "Timeout")
      const stalled = yield* withSession(
        {
          mails: mails(2),
          onCommand: ({ keyword }) => (keyword === "RETR" ? "+OK\r\nMessage-ID: <1@x>\r\n" : undefined)
        },
        (session) =>
          Effect.gen(function* () {
            const [entry] = yield* session.list
            const exit = yield* Effect.exit(session.retrieve(entry!))
            assert.strictEqual(reasonOf(exit), "Timeout")
            assert.match(
              exitFailures(exit)[0]!.message,
              /^timed out after 300ms waiting for the reply to RETR from 127\.0\.0\.1:\d+$/
            )
            assert.isTrue(exitFailures(exit)[0]!.retryable)
            // the connection is out of step now: nothing more is attempted on it
            return yield* session.stat
          }),
        timeout
      )
      assert.strictEqual(reasonOf(stalled.result), "Closed")
    })
  )

  it.live("waiting for the rest of a reply line split across reads sleeps instead of spinning", () =>
    Effect.gen(function* () {
      const pauseMillis = 600
      const { result } = yield* withSession(
        {
          mails: mails(2),
          onCommand: ({ keyword }) =>
            keyword === "STAT" ? { _tag: "Trickle", parts: ["+OK 2 ", "345\r\n"], pauseMillis } : undefined
        },
        (session) =>
          Effect.gen(function* () {
            const before = process.cpuUsage()
            const stat = yield* session.stat
            const used = process.cpuUsage(before)
            return { stat, cpuMillis: (used.user + used.system) / 1000 }
          })
      )
      assert.isTrue(Exit.isSuccess(result))
      if (Exit.isSuccess(result)) {
        assert.deepStrictEqual(result.value.stat, { count: 2, size: 345 })
        // a spinning wait burns the whole pause in CPU time; a sleeping one a few milliseconds
        assert.isBelow(result.value.cpuMillis, pauseMillis / 3)
      }
    })
  )

  it.live("response codes at login become typed errors; a wrong password is Auth and not retryable", () =>
    Effect.gen(function* () {
      const inUse = yield* withSession(
        { onCommand: ({ keyword }) => (keyword === "PASS" ? "-ERR [IN-USE] locked\r\n" : undefined) },
        () => Effect.void
      )
      const delay = yield* withSession(
        { onCommand: ({ keyword }) => (keyword === "PASS" ? "-ERR [LOGIN-DELAY] too soon\r\n" : undefined) },
        () => Effect.void
      )
      const wrong = yield* withSession({}, () => Effect.void, {
        auth: { mechanism: "user", username: "bounce", password: Redacted.make(password) }
      })
      const busy = yield* withSession({ greeting: "-ERR [SYS/TEMP] too many connections\r\n" }, () => Effect.void)
      assert.deepStrictEqual(
        [inUse, delay, wrong, busy].map(({ result }) => reasonOf(result)),
        ["InUse", "LoginDelay", "Auth", "SysTemp"]
      )
      const [error] = exitFailures(wrong.result)
      assert.isFalse(error!.retryable)
      assert.notInclude(error!.message, password)
    })
  )

  it.live("a second session on an exclusive server gets InUse", () =>
    Effect.gen(function* () {
      const server = yield* testPop3Server({ mails: mails(1), exclusive: true })
      const mailbox = yield* Pop3Mailbox.make(baseOptions(server))
      const second = yield* Effect.scoped(Effect.flatMap(mailbox.open, () => Effect.exit(Effect.scoped(mailbox.open))))
      assert.strictEqual(reasonOf(second), "InUse")
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
  )

  it.live("a refused DELE at commit drops the connection without QUIT: nothing is deleted", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        {
          mails: mails(3),
          onCommand: ({ args, keyword }) =>
            keyword === "DELE" && args[0] === "2" ? "-ERR [SYS/TEMP] busy\r\n" : undefined
        },
        (session) =>
          Effect.gen(function* () {
            for (const entry of yield* session.list) yield* session.markDeleted(entry)
            yield* session.commit
          })
      )
      assert.strictEqual(reasonOf(result), "SysTemp")
      yield* Effect.sleep("50 millis")
      assert.strictEqual(server.mails.length, 3)
      assert.notInclude(server.lines(), "QUIT")
    })
  )

  it.live("leaves mails above maxMailSize without asking for them, and copes with a server that lies on sizes", () =>
    Effect.gen(function* () {
      const big = "x".repeat(5000)
      const { result, server } = yield* withSession(
        { mails: [mail(1), mail(2, big), mail(3)] },
        (session) =>
          Effect.map(drainAll(session), ({ results }) =>
            results.map((r) => (r._tag === "Retrieved" ? "ok" : r.error.reason))
          ),
        { maxMailSize: 1000 }
      )
      assert.deepStrictEqual(Exit.isSuccess(result) ? result.value : reasonOf(result), ["ok", "TooLarge", "ok"])
      assert.notInclude(server.lines(), "RETR 2")
      const liar = yield* withSession(
        { mails: [mail(1), mail(2, "y".repeat(300_000)), mail(3)], listSize: () => 10 },
        (session) =>
          Effect.gen(function* () {
            const { results } = yield* drainAll(session)
            return results.map((r) => (r._tag === "Retrieved" ? "ok" : r.error.reason))
          }),
        { maxMailSize: 1000 }
      )
      assert.deepStrictEqual(Exit.isSuccess(liar.result) ? liar.result.value : reasonOf(liar.result), [
        "ok",
        "TooLarge",
        "ok"
      ])
    })
  )

  it.live("a stream stopped early is drained: the session stays usable", () =>
    Effect.gen(function* () {
      const { result } = yield* withSession(
        { mails: [mail(1, "z".repeat(3_000_000)), ...mails(20).slice(1)] },
        (session) =>
          Effect.gen(function* () {
            const entries = yield* session.list
            const firstChunk = yield* Stream.runCollect(Stream.take(session.retrieveStream(entries[0]!), 1))
            assert.strictEqual(firstChunk.length, 1)
            const some = yield* Stream.runCollect(Stream.take(session.retrieveMany(entries.slice(1)), 3))
            assert.strictEqual(some.length, 3)
            const again = yield* session.retrieve(entries[5]!)
            yield* session.markDeleted(entries[5]!)
            yield* session.commit
            return text(again)
          }),
        { pipelineDepth: 8 }
      )
      assert.strictEqual(Exit.isSuccess(result) ? result.value : reasonOf(result), mail(6))
    })
  )

  it.live("reads LOGIN-DELAY and EXPIRE, asking CAPA again after login when they are per user (RFC 2449)", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        { capabilities: ["TOP", "USER", "RESP-CODES", "LOGIN-DELAY 900 USER", "EXPIRE 30"] },
        (session) => Effect.succeed(session.capabilities)
      )
      assert.isTrue(Exit.isSuccess(result))
      if (Exit.isSuccess(result)) {
        assert.strictEqual(result.value.loginDelaySeconds, 900)
        assert.strictEqual(result.value.expire, 30)
      }
      assert.deepStrictEqual(server.lines(), ["CAPA", "USER bounce", "PASS secret", "CAPA"])
    })
  )

  it.live("a server without CAPA or UIDL still works (RFC 1939 only)", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession({ mails: mails(2), capabilities: null, uidl: false }, (session) =>
        Effect.gen(function* () {
          const { entries, results } = yield* drainAll(session)
          return { uids: entries.map((e) => e.uid), count: results.length, pipelining: session.capabilities.pipelining }
        })
      )
      assert.deepStrictEqual(Exit.isSuccess(result) ? result.value : reasonOf(result), {
        uids: [`1.${mail(1).length}`, `2.${mail(2).length}`],
        count: 2,
        pipelining: false
      })
      assert.include(server.lines(), "CAPA")
    })
  )

  it.live("authenticates with APOP, SASL PLAIN (with and without initial response) and SASL LOGIN", () =>
    Effect.gen(function* () {
      const users = { bounce: password, [`u${"x".repeat(200)}`]: password }
      const auth = (mechanism: "apop" | "plain" | "login" | "auto", username = "bounce") =>
        withSession({ users }, (session) => Effect.succeed(session.capabilities.authentication), {
          auth: { mechanism, username, password: Redacted.make(password) }
        })
      const results = yield* Effect.forEach(
        [auth("apop"), auth("plain"), auth("login"), auth("auto"), auth("plain", `u${"x".repeat(200)}`)],
        (run) =>
          Effect.map(run, ({ result, server }) => ({
            value: Exit.isSuccess(result) ? result.value : reasonOf(result),
            server
          }))
      )
      assert.deepStrictEqual(
        results.map((r) => r.value),
        ["APOP", "SASL PLAIN", "SASL LOGIN", "SASL PLAIN", "SASL PLAIN"]
      )
      // RFC 5034 section 4: an initial response that would pass 255 octets goes on its own line
      assert.strictEqual(
        results[4]!.server.lines().find((l) => l.startsWith("AUTH")),
        "AUTH PLAIN"
      )
      assert.isTrue(results[1]!.server.lines().some((l) => /^AUTH PLAIN \S+$/.test(l)))
      const refused = yield* withSession({ users }, () => Effect.void, {
        auth: { mechanism: "login", username: "bounce", password: Redacted.make("wrong") }
      })
      assert.strictEqual(reasonOf(refused.result), "Auth")
    })
  )

  it.live("never logs a password, a token, or an AUTH response", () =>
    Effect.gen(function* () {
      logged.length = 0
      const users = { bounce: password }
      for (const mechanism of ["user", "plain", "login", "apop"] as const) {
        yield* withSession({ users, mails: mails(1) }, (session) => drainAll(session), {
          auth: { mechanism, username: "bounce", password: Redacted.make(password) }
        })
      }
      yield* withSession({ tokens: ["tok-123456"] }, () => Effect.void, {
        auth: {
          mechanism: "xoauth2",
          username: "bounce",
          token: { _tag: "StaticToken", token: Redacted.make("tok-123456") }
        }
      })
      assert.isAbove(logged.length, 10)
      const secrets = [password, Buffer.from(password).toString("base64"), "tok-123456", "AGJvdW5jZQBzM2NyM3QtUGE1NQ=="]
      for (const line of logged) for (const secret of secrets) assert.notInclude(line, secret)
      assert.isTrue(logged.some((line) => line.includes("PASS ********")))
    })
  )

  it.live("connecting to a closed port is a retryable Connect error", () =>
    Effect.gen(function* () {
      const server = yield* testPop3Server({})
      const port = server.port
      yield* Effect.promise(() => server.stop())
      const mailbox = yield* Pop3Mailbox.make({
        host: "127.0.0.1",
        port,
        tls: "none",
        auth: { mechanism: "user", username: "bounce", password: Redacted.make("secret") }
      })
      const error = yield* Effect.flip(Effect.scoped(mailbox.open))
      assert.strictEqual(error.reason, "Connect")
      assert.isTrue(error.retryable)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
  )
})

describe("Pop3Mailbox TLS against the in-process server", () => {
  const skip = skipWithout(opensslAvailable, "openssl", "apt-get install openssl")
  let certificate: TestCertificate
  let otherCertificate: TestCertificate
  beforeAll(() => {
    if (skip) return
    certificate = makeCertificate()
    otherCertificate = makeCertificate("other")
  })
  afterAll(() => {
    if (skip) return
    for (const made of [certificate, otherCertificate]) fs.rmSync(made.dir, { recursive: true, force: true })
  })

  it.live.skipIf(skip)("STLS upgrades before any credential is sent, then asks CAPA again", () =>
    Effect.gen(function* () {
      const { result, server } = yield* withSession(
        { mails: mails(1), starttls: certificate },
        (session) => Effect.as(session.list, session.capabilities),
        { tls: "starttls", caFile: certificate.certFile }
      )
      assert.isTrue(Exit.isSuccess(result) && result.value.secure && !result.value.raw.includes("STLS"))
      const commands = server.received.map((c) => `${c.secure ? "tls" : "plain"} ${c.line.split(" ")[0]}`)
      assert.deepStrictEqual(commands.slice(0, 4), ["plain CAPA", "plain STLS", "tls CAPA", "tls USER"])
    })
  )

  it.live.skipIf(skip)("implicit TLS, and a certificate from the wrong CA fails with Tls", () =>
    Effect.gen(function* () {
      const good = yield* withSession({ mails: mails(1), implicitTls: certificate }, (session) => session.list, {
        tls: "implicit",
        caFile: certificate.certFile
      })
      assert.strictEqual(reasonOf(good.result), "success")
      const wrongCa = yield* withSession({ implicitTls: certificate }, () => Effect.void, {
        tls: "implicit",
        caFile: otherCertificate.certFile
      })
      assert.strictEqual(reasonOf(wrongCa.result), "Tls")
      const noCa = yield* withSession({ starttls: certificate }, () => Effect.void, { tls: "starttls" })
      assert.strictEqual(reasonOf(noCa.result), "Tls")
      assert.notInclude(noCa.server.lines().join(" "), "AUTH")
      logged.length = 0
      const insecure = yield* withSession({ implicitTls: certificate }, () => Effect.void, {
        tls: "implicit",
        insecure: true
      })
      assert.strictEqual(reasonOf(insecure.result), "success")
      assert.isTrue(logged.some((line) => line.includes("verification is disabled")))
    })
  )

  it.live.skipIf(skip)("refuses to go on when STLS is not offered, or when data follows the STLS +OK", () =>
    Effect.gen(function* () {
      const missing = yield* withSession({}, () => Effect.void, { tls: "starttls" })
      assert.strictEqual(reasonOf(missing.result), "Tls")
      assert.deepStrictEqual(missing.server.lines(), ["CAPA"])
      const injected = yield* withSession(
        {
          starttls: certificate,
          onCommand: ({ keyword }) => (keyword === "STLS" ? "+OK go\r\n+OK injected\r\n" : undefined)
        },
        () => Effect.void,
        { tls: "starttls", caFile: certificate.certFile }
      )
      assert.strictEqual(reasonOf(injected.result), "Tls")
    })
  )
})

/** An OAuth2 token endpoint (RFC 6749) on loopback that records the grants it receives. */
const tokenEndpoint = (answer: (params: URLSearchParams, count: number) => { status: number; body: unknown }) =>
  Effect.acquireRelease(
    Effect.async<{ url: string; grants: Array<URLSearchParams>; server: http.Server }>((resume) => {
      const grants: Array<URLSearchParams> = []
      const server = http.createServer((request, response) => {
        let body = ""
        request.on("data", (chunk) => (body += chunk))
        request.on("end", () => {
          const params = new URLSearchParams(body)
          grants.push(params)
          const { body: json, status } = answer(params, grants.length)
          response.writeHead(status, { "content-type": "application/json" })
          response.end(JSON.stringify(json))
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(
          Effect.succeed({
            url: `http://127.0.0.1:${(server.address() as { port: number }).port}/token`,
            grants,
            server
          })
        )
      )
    }),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )

describe("Pop3Mailbox with OAuth2", () => {
  it.live("XOAUTH2 and OAUTHBEARER with a refresh token: cached, rotated, refreshed after a refusal", () =>
    Effect.gen(function* () {
      // The endpoint knows the refresh tokens it issued, and rotates them on every grant.
      const issued = new Set(["refresh-1"])
      const endpoint = yield* tokenEndpoint((params, count) => {
        if (!issued.has(params.get("refresh_token") ?? "")) return { status: 400, body: { error: "invalid_grant" } }
        issued.add(`refresh-${count + 1}`)
        return {
          status: 200,
          body: {
            access_token: `access-${count}`,
            expires_in: 3600,
            token_type: "Bearer",
            refresh_token: `refresh-${count + 1}`
          }
        }
      })
      const server = yield* testPop3Server({ mails: mails(1), tokens: ["access-1", "access-2"] })
      const tokenSource = {
        _tag: "RefreshToken" as const,
        tokenUrl: endpoint.url,
        clientId: "rebound",
        refreshToken: Redacted.make("refresh-1"),
        scope: "https://outlook.office365.com/POP.AccessAsUser.All offline_access"
      }
      for (const mechanism of ["xoauth2", "oauthbearer"] as const) {
        const mailbox = yield* Pop3Mailbox.make(
          baseOptions(server, { auth: { mechanism, username: "bounce@example.com", token: tokenSource } })
        )
        const first = yield* Effect.scoped(Effect.map(mailbox.open, (s) => s.capabilities.authentication))
        const second = yield* Effect.scoped(Effect.map(mailbox.open, (s) => s.capabilities.authentication))
        assert.deepStrictEqual([first, second], [`SASL ${mechanism.toUpperCase()}`, `SASL ${mechanism.toUpperCase()}`])
      }
      // one grant per provider: the token is cached between sessions
      assert.strictEqual(endpoint.grants.length, 2)
      assert.strictEqual(endpoint.grants[0]!.get("grant_type"), "refresh_token")
      assert.strictEqual(endpoint.grants[0]!.get("refresh_token"), "refresh-1")
      assert.strictEqual(endpoint.grants[0]!.get("client_id"), "rebound")

      // A refused token is forgotten: the next session asks the endpoint again, with the rotated refresh token.
      const rejecting = yield* testPop3Server({ tokens: ["access-4"] })
      const mailbox = yield* Pop3Mailbox.make(
        baseOptions(rejecting, { auth: { mechanism: "xoauth2", username: "bounce@example.com", token: tokenSource } })
      )
      const refused = yield* Effect.flip(Effect.scoped(mailbox.open))
      assert.strictEqual(refused.reason, "Auth")
      assert.include(refused.message, "invalid_token")
      assert.strictEqual(
        yield* Effect.scoped(Effect.map(mailbox.open, (s) => s.capabilities.authentication)),
        "SASL XOAUTH2"
      )
      assert.strictEqual(endpoint.grants[3]!.get("refresh_token"), "refresh-4")
      assert.deepStrictEqual(
        rejecting.lines().filter((line) => line === ""),
        [""]
      )
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
  )

  it.live("client credentials; a refused grant is a non-retryable Auth error naming the OAuth error", () =>
    Effect.gen(function* () {
      const endpoint = yield* tokenEndpoint((params) =>
        params.get("client_secret") === "app-secret"
          ? { status: 200, body: { access_token: "app-token", expires_in: "3599" } }
          : {
              status: 401,
              body: { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret." }
            }
      )
      const server = yield* testPop3Server({ mails: mails(1), tokens: ["app-token"] })
      const options = (secret: string) =>
        baseOptions(server, {
          auth: {
            mechanism: "xoauth2",
            username: "bounces@contoso.com",
            token: {
              _tag: "ClientCredentials",
              tokenUrl: endpoint.url,
              clientId: "app",
              clientSecret: Redacted.make(secret),
              scope: "https://outlook.office365.com/.default"
            }
          }
        })
      const good = yield* Pop3Mailbox.make(options("app-secret"))
      assert.strictEqual(yield* Effect.scoped(Effect.flatMap(good.open, (s) => Effect.map(s.list, (e) => e.length))), 1)
      assert.strictEqual(endpoint.grants[0]!.get("grant_type"), "client_credentials")
      assert.strictEqual(endpoint.grants[0]!.get("scope"), "https://outlook.office365.com/.default")
      const bad = yield* Pop3Mailbox.make(options("wrong-secret"))
      const error = yield* Effect.flip(Effect.scoped(bad.open))
      assert.strictEqual(error.reason, "Auth")
      assert.isFalse(error.retryable)
      assert.include(error.message, "invalid_client")
      assert.notInclude(error.message, "wrong-secret")
      // the refused grant never reaches the POP3 server
      assert.strictEqual(server.lines().filter((line) => line.startsWith("AUTH")).length, 1)
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.provide(collectingLogger))
  )
})
