/**
 * Hostile mail through the whole pipeline in-process: a simulated mailbox, the MIME parser, the decoder, the
 * SQLite store and its ledger, driven by `Processor.drain`. fast-check builds random MIME trees (broken and missing
 * boundaries, unknown and lying charsets, bad transfer encodings, NUL bytes, invalid UTF-8); hand-made mails add a
 * DSN with 10,000 recipients, 50 levels of nesting and a 50 MB mail. Every mail must end in the ledger with an
 * outcome and leave the mailbox; nothing may crash; memory must come back after the 50 MB mail.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, FastCheck, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Forwarder } from "../../src/adapters/forward/forwarder.js"
import { Mailbox } from "../../src/adapters/mailbox/mailbox.js"
import * as SimulatedMailbox from "../../src/adapters/mailbox/simulated-mailbox.js"
import { SimulatedMailboxHandle } from "../../src/adapters/mailbox/simulated-mailbox.js"
import { MailOutcome } from "../../src/adapters/store/model.js"
import * as SqliteStore from "../../src/adapters/store/sqlite.js"
import { makeTokenVerifier } from "../../src/domain/codec.js"
import { MaildirAccount } from "../../src/app/config.js"
import { type AccountHandle, Processor, layer as processorLayer } from "../../src/app/processor.js"
import { ProcessorStatus } from "../../src/app/status.js"
import { plainDsn, postfixDsn } from "../support/mails.js"
import { faultSeed, messageIdDomain, signingKey } from "./harness.js"

/** The garbage collector, exposed at run time when the fork was started without --expose-gc. */
const gc: () => void =
  typeof globalThis.gc === "function"
    ? globalThis.gc
    : (() => {
        v8.setFlagsFromString("--expose-gc")
        return vm.runInNewContext("gc") as () => void
      })()

const tempDirs: Array<string> = []
afterAll(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true })
})

interface LedgerRow {
  readonly uid: string
  readonly outcome: string
  readonly records: number
  readonly detail: string | null
}

/** Drains `mails` from a simulated mailbox into a new SQLite store; returns the ledger and what stayed behind. */
const throughPipeline = (mails: ReadonlyArray<Uint8Array>) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-fuzz-"))
  tempDirs.push(dir)
  const file = path.join(dir, "rebound.db")
  const layers = Layer.mergeAll(
    processorLayer({
      instance: "rebound",
      decode: { verifier: makeTokenVerifier([signingKey], { domain: messageIdDomain }) },
      batchSize: 16
    }).pipe(
      Layer.provideMerge(Layer.mergeAll(SqliteStore.layer({ filename: file }), ProcessorStatus.layer, Forwarder.layer))
    ),
    SimulatedMailbox.layer({ messages: mails })
  )
  return Effect.gen(function* () {
    const processor = yield* Processor
    const account = Schema.decodeUnknownSync(MaildirAccount)({
      type: "maildir",
      name: "fuzz",
      path: "unused",
      maxMailsPerSession: 64
    })
    const handle: AccountHandle = { account, mailbox: yield* Mailbox }
    const results = yield* processor.drain(handle)
    const left = yield* Effect.flatMap(SimulatedMailboxHandle, (mailbox) => mailbox.messages)
    const db = new Database(file, { readonly: true })
    try {
      const ledger = db.prepare("SELECT uid, outcome, records, detail FROM mail_ledger ORDER BY uid").all()
      return { ledger: ledger as Array<LedgerRow>, left: left.length, results }
    } finally {
      db.close()
    }
  }).pipe(Effect.provide(layers))
}

const outcomes = new Set<string>(MailOutcome.literals)

/** Each mail once in the ledger, with an outcome, and none left in the mailbox. */
const assertAllRecorded = (ledger: ReadonlyArray<LedgerRow>, left: number, count: number) => {
  assert.strictEqual(left, 0)
  assert.lengthOf(ledger, count)
  assert.strictEqual(new Set(ledger.map((row) => row.uid)).size, count)
  for (const row of ledger) assert.isTrue(outcomes.has(row.outcome), `${row.uid}: ${row.outcome}`)
}

// -- random MIME trees -------------------------------------------------------------------------------------------

const { constantFrom, oneof, record, array, letrec, nat, string, uint8Array, boolean } = FastCheck

const charset = constantFrom(
  "utf-8",
  "us-ascii",
  "iso-8859-1",
  "windows-1252",
  "iso-2022-jp",
  "shift_jis",
  "utf-16",
  "utf-7",
  "x-unknown-charset",
  "",
  '"utf-8',
  "utf-8\u0000",
  "☃"
)
const transferEncoding = constantFrom("7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus")
const contentType = constantFrom(
  "text/plain",
  "text/html",
  "message/delivery-status",
  "message/global-delivery-status",
  "message/feedback-report",
  "text/rfc822-headers",
  "message/rfc822",
  "application/octet-stream",
  "text/plain; format=flowed",
  "garbage",
  ""
)
const multipartType = constantFrom(
  "multipart/report; report-type=delivery-status",
  "multipart/mixed",
  "multipart/alternative",
  "multipart/report"
)

/** Bytes no decoder likes: NUL, lone surrogates' UTF-8, overlong forms, stray CR and LF, 8-bit in headers. */
const hostileBytes = oneof(
  uint8Array({ maxLength: 300 }),
  constantFrom(
    Buffer.from([0x00, 0x00, 0x0d, 0x00]),
    Buffer.from([0xc3, 0x28, 0xa0, 0xa1]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from("\r\r\n\n.\r\n", "latin1"),
    Buffer.from("=?utf-8?B?////?= =?x-bad?Q?=FF=00?=", "latin1")
  )
)

const dsnFields = array(
  oneof(
    constantFrom(
      "Reporting-MTA: dns; mx.example",
      "Final-Recipient: rfc822; someone@receiver.example",
      "Final-Recipient: rfc822;",
      "Original-Recipient: utf-8; ünïcode@receiver.example",
      "Action: failed",
      "Action: delayed",
      "Status: 5.1.1",
      "Status: 9.9.9",
      "Status: 4.2.2 (mailbox full)",
      "Diagnostic-Code: smtp; 550 5.1.1 User unknown",
      "Diagnostic-Code: x-unix; \u0000",
      "Remote-MTA: dns; mx.receiver.example",
      "",
      " continued line",
      "X-Field-Without-Colon"
    ),
    string({ maxLength: 60 })
  ),
  { maxLength: 20 }
).map((lines) => lines.join("\r\n"))

type Node =
  | {
      readonly kind: "leaf"
      readonly type: string
      readonly charset: string
      readonly cte: string
      readonly body: Uint8Array
    }
  | {
      readonly kind: "multipart"
      readonly type: string
      readonly boundary: string
      /** how the boundaries go wrong: none, a missing close, a boundary never used, a closing boundary first */
      readonly breakage: "none" | "unclosed" | "unused" | "early-close"
      readonly children: ReadonlyArray<Node>
    }

const leaf = record({
  kind: constantFrom("leaf" as const),
  type: contentType,
  charset,
  cte: transferEncoding,
  body: oneof(
    dsnFields.map((text) => new Uint8Array(Buffer.from(text, "utf8"))),
    hostileBytes.map((bytes) => new Uint8Array(bytes)),
    string({ maxLength: 200, unit: "binary" }).map((text) => new Uint8Array(Buffer.from(text, "utf8")))
  )
})

const tree = letrec<{ node: Node }>((tie) => ({
  node: FastCheck.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    record({
      kind: constantFrom("multipart" as const),
      type: multipartType,
      boundary: oneof(constantFrom("b", "", "a b", "--", "=_x\u0000", "x".repeat(80)), string({ maxLength: 20 })),
      breakage: constantFrom("none" as const, "unclosed" as const, "unused" as const, "early-close" as const),
      children: array(tie("node"), { maxLength: 4 })
    })
  )
})).node

const render = (node: Node): Buffer => {
  if (node.kind === "leaf") {
    const head = `Content-Type: ${node.type}${node.charset === "" ? "" : `; charset=${node.charset}`}\r\nContent-Transfer-Encoding: ${node.cte}\r\n\r\n`
    return Buffer.concat([Buffer.from(head, "utf8"), node.body])
  }
  const head = Buffer.from(`Content-Type: ${node.type}; boundary="${node.boundary}"\r\n\r\npreamble\r\n`, "utf8")
  const used = node.breakage === "unused" ? `${node.boundary}-not-it` : node.boundary
  const parts = node.children.map((child) => Buffer.concat([Buffer.from(`\r\n--${used}\r\n`, "utf8"), render(child)]))
  if (node.breakage === "early-close") parts.unshift(Buffer.from(`\r\n--${used}--\r\n`, "utf8"))
  const close = node.breakage === "unclosed" ? "" : `\r\n--${used}--\r\nepilogue\r\n`
  return Buffer.concat([head, ...parts, Buffer.from(close, "utf8")])
}

const topHeaders = record({
  subject: oneof(string({ maxLength: 60 }), constantFrom("Undelivered Mail Returned to Sender", "=?utf-8?B?w6k=?=")),
  from: constantFrom("MAILER-DAEMON@mx.example", "<>", "", "\u0000@\u0000", "postmaster@[127.0.0.1]"),
  extra: array(hostileBytes, { maxLength: 3 }),
  lf: boolean()
})

const fuzzedMail = FastCheck.tuple(topHeaders, tree, nat(3)).map(([headers, node, variant]) => {
  const top = Buffer.concat([
    Buffer.from(`From: ${headers.from}\r\nSubject: ${headers.subject}\r\nMIME-Version: 1.0\r\n`, "utf8"),
    ...headers.extra.map((bytes) => Buffer.concat([Buffer.from("X-Junk: ", "latin1"), bytes, Buffer.from("\r\n")])),
    render(node)
  ])
  // some mails with bare LF line ends, some cut short in the middle
  const ended = headers.lf ? Buffer.from(top.toString("latin1").replace(/\r\n/g, "\n"), "latin1") : top
  return new Uint8Array(variant === 0 ? ended.subarray(0, Math.floor(ended.length / 2)) : ended)
})

// -- hand-made extremes --------------------------------------------------------------------------------------------

const manyRecipients = (count: number) =>
  plainDsn({
    explanation: `${count} recipients failed.`,
    groups: Array.from(
      { length: count },
      (_, index) =>
        `Final-Recipient: rfc822; r${index}@many${index % 100}.example\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 unknown user`
    )
  })

/** A DSN wrapped in `depth` multipart/mixed levels, and one forwarded `depth` times as message/rfc822. */
const nested = (depth: number, as: "multipart" | "rfc822"): Buffer => {
  let inner = postfixDsn({
    recipients: [{ address: "deep@receiver.example", status: "5.1.1", diagnostic: "550 unknown" }]
  })
  for (let level = depth; level > 0; level--) {
    inner =
      as === "multipart"
        ? Buffer.concat([
            Buffer.from(`Content-Type: multipart/mixed; boundary="level-${level}"\r\n\r\n--level-${level}\r\n`),
            inner,
            Buffer.from(`\r\n--level-${level}--\r\n`)
          ])
        : Buffer.concat([
            Buffer.from(`From: fwd${level}@relay.example\r\nSubject: Fwd\r\nContent-Type: message/rfc822\r\n\r\n`),
            inner
          ])
  }
  return Buffer.concat([Buffer.from("From: outer@relay.example\r\nMIME-Version: 1.0\r\n"), inner])
}

/** A Postfix DSN returning a 50 MB original: a base64 attachment of `megabytes` MB in 76-octet lines. */
const hugeBounce = (megabytes: number): Buffer => {
  const dsn = postfixDsn({
    recipients: [{ address: "huge@receiver.example", status: "5.3.4", diagnostic: "552 5.3.4 Message too big" }]
  }).toString("latin1")
  const line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n"
  const lines = Math.ceil((megabytes * 1024 * 1024) / line.length)
  const attachment =
    `\r\n\r\n--inner\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    line.repeat(lines) +
    "--inner--\r\n"
  const at = dsn.indexOf("Hello, this is the newsletter body.")
  return Buffer.concat([
    Buffer.from(dsn.slice(0, at), "latin1"),
    Buffer.from(attachment, "latin1"),
    Buffer.from(dsn.slice(at), "latin1")
  ])
}

describe("fuzzed and extreme mails through the whole pipeline", () => {
  it.effect("random MIME trees, broken boundaries, bad charsets, NUL and invalid UTF-8: each ends in the ledger", () =>
    Effect.gen(function* () {
      const seed = faultSeed()
      console.log(`fuzz seed ${seed} (REBOUND_FAULT_SEED=${seed} replays it)`)
      const mails = FastCheck.sample(fuzzedMail, { seed, numRuns: 2000 })
      const { ledger, left } = yield* throughPipeline(mails)
      assertAllRecorded(ledger, left, mails.length)
      const failed = ledger.filter((row) => row.outcome === "failed")
      assert.lengthOf(failed, 0, failed.map((row) => `${row.uid}: ${row.detail}`).join("\n"))
      const counts: Record<string, number> = {}
      for (const row of ledger) counts[row.outcome] = (counts[row.outcome] ?? 0) + 1
      console.log(`fuzzed outcomes: ${JSON.stringify(counts)}`)
    })
  )

  it.effect("a DSN with 10,000 recipients, 50 levels of nesting, NUL bytes and invalid UTF-8 in a bounce", () =>
    Effect.gen(function* () {
      const broken = postfixDsn({
        recipients: [{ address: "nul@receiver.example", status: "5.1.1", diagnostic: "550 5.1.1 unknown\u0000user" }]
      })
      const withBadBytes = Buffer.concat([
        broken.subarray(0, 200),
        Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
        broken.subarray(200)
      ])
      const mails = [manyRecipients(10_000), nested(50, "multipart"), nested(50, "rfc822"), withBadBytes]
      const { ledger, left } = yield* throughPipeline(mails.map((mail) => new Uint8Array(mail)))
      assertAllRecorded(ledger, left, mails.length)
      const [many, deepMultipart, deepRfc822, bad] = ledger
      console.log(`extremes: ${ledger.map((row) => `${row.outcome} (${row.records} records)`).join(", ")}`)
      assert.strictEqual(many!.outcome, "applied")
      assert.strictEqual(many!.records, 10_000)
      for (const row of [deepMultipart!, deepRfc822!, bad!])
        assert.notStrictEqual(row.outcome, "failed", row.detail ?? "")
    })
  )

  it.live("a 50 MB mail: applied, and the heap comes back", () =>
    Effect.gen(function* () {
      gc()
      const before = process.memoryUsage()
      // the pipeline is synchronous while it parses: the kernel's high-water mark sees its peak, a timer would not
      const peakBefore = process.resourceUsage().maxRSS * 1024
      const started = Date.now()
      const { ledger, left } = yield* throughPipeline([new Uint8Array(hugeBounce(50))])
      const seconds = (Date.now() - started) / 1000
      assertAllRecorded(ledger, left, 1)
      assert.strictEqual(ledger[0]!.outcome, "applied")
      // buffers' memory is given back after the collection that finds them dead, once the event loop has turned
      gc()
      yield* Effect.sleep("50 millis")
      gc()
      const after = process.memoryUsage()
      const peakRss = process.resourceUsage().maxRSS * 1024
      const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0)
      console.log(
        `50 MB mail: ${seconds.toFixed(1)} s; heap ${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB and buffers ` +
          `${mb(before.arrayBuffers)} -> ${mb(after.arrayBuffers)} MB after gc; ` +
          `RSS ${mb(before.rss)} MB (high-water mark ${mb(peakBefore)} MB), peak ${mb(peakRss)} MB, after ${mb(after.rss)} MB`
      )
      assert.isBelow(after.heapUsed - before.heapUsed, 300 * 1024 * 1024)
      assert.isBelow(after.arrayBuffers - before.arrayBuffers, 300 * 1024 * 1024)
      // the mail is 50 MB; its parse may hold a few copies at once, never hundreds of megabytes more
      assert.isBelow(peakRss - before.rss, 512 * 1024 * 1024)
    })
  )
})
