/**
 * End to end: a real Postfix sends messages with signed Message-IDs to unknown local users and to a fake server
 * that refuses recipients at RCPT TO; Postfix's own bounces are delivered by its virtual(8) agent into the Maildir
 * of a real Dovecot, which serves them over POP3 (STLS) on loopback; a spawned `rebound once` empties that mailbox
 * into SQLite. The store is then read back through the store's own layer.
 *
 * 4xx replies end as bounces because test/support/postfix.ts sets maximal_queue_lifetime = 0 and
 * bounce_queue_lifetime = 0: Postfix tries once, and a deferred recipient is returned at once (postconf(5):
 * "Specify 0 when mail delivery should be tried only once"), with its 4.x.x status in the DSN.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import nodemailer from "nodemailer"
import * as Pop3Mailbox from "../../src/adapters/mailbox/pop3-mailbox.js"
import { BounceEvents } from "../../src/adapters/store/bounce-events.js"
import { MailLedger } from "../../src/adapters/store/mail-ledger.js"
import type { StoredBounceEvent } from "../../src/adapters/store/model.js"
import * as SqliteStore from "../../src/adapters/store/sqlite.js"
import { Store } from "../../src/adapters/store/store.js"
import { encodeMessageId, type SigningKey } from "../../src/domain/codec.js"
import type { AddressStatus } from "../../src/domain/quarantine.js"
import type { BounceType, Reason } from "../../src/domain/report.js"
import type { SignedIds } from "../../src/domain/report.js"
import { type Dovecot, dovecotAvailable, dovecotInstall, startDovecot } from "../support/dovecot.js"
import {
  type Postfix,
  postfixAvailable,
  postfixInstall,
  type RefusingServer,
  startPostfix,
  startRefusingServer
} from "../support/postfix.js"
import { skipWithout } from "../support/services.js"

const skip =
  skipWithout(postfixAvailable, "Postfix (run as root)", postfixInstall) ||
  skipWithout(dovecotAvailable, "Dovecot with its POP3 server", dovecotInstall)

const run = promisify(execFile)
const bin = path.resolve(import.meta.dirname, "../../bin/rebound.js")

const key: SigningKey = { id: "e2e", secret: Redacted.make("end-to-end-signing-secret-0123") }
const messageIdDomain = "mail.rebound.test"
const bounceUser = "bounces"
const bounceDomain = "bounces.rebound.test"
const bounceAddress = `${bounceUser}@${bounceDomain}`
const localDomain = "local.rebound.test"
const account = "dovecot"

/** One failed recipient and what rebound must make of it. */
interface Expected {
  readonly recipient: string
  readonly status: string
  readonly type: BounceType
  readonly reason: Reason
  readonly addressStatus: AddressStatus
}

/** One message sent through Postfix: its recipients each fail. */
interface Message {
  readonly recipients: ReadonlyArray<Expected>
}

const messages: ReadonlyArray<Message> = [
  // local(8): no such user on Postfix's own domain
  {
    recipients: [
      {
        recipient: `nobody-here@${localDomain}`,
        status: "5.1.1",
        type: "hard",
        reason: "userunknown",
        addressStatus: "quarantined"
      }
    ]
  },
  // two unknown users in one message: one notification with two recipient groups
  {
    recipients: [
      {
        recipient: `first.unknown@${localDomain}`,
        status: "5.1.1",
        type: "hard",
        reason: "userunknown",
        addressStatus: "quarantined"
      },
      {
        recipient: `second.unknown@${localDomain}`,
        status: "5.1.1",
        type: "hard",
        reason: "userunknown",
        addressStatus: "quarantined"
      }
    ]
  },
  // the refusing server's replies to RCPT TO
  {
    recipients: [
      {
        recipient: "gone@refuse.test",
        status: "5.1.1",
        type: "hard",
        reason: "userunknown",
        addressStatus: "quarantined"
      }
    ]
  },
  {
    recipients: [
      {
        recipient: "full@refuse.test",
        status: "5.2.2",
        type: "soft",
        reason: "mailboxfull",
        addressStatus: "with-errors"
      }
    ]
  },
  {
    recipients: [
      {
        recipient: "quota@refuse.test",
        status: "4.2.2",
        type: "soft",
        reason: "mailboxfull",
        addressStatus: "with-errors"
      }
    ]
  },
  {
    recipients: [
      {
        recipient: "disabled@refuse.test",
        status: "4.2.1",
        type: "soft",
        reason: "suspend",
        addressStatus: "with-errors"
      }
    ]
  },
  // a block of the sending host counts against the receiving domain, not the address
  {
    recipients: [
      { recipient: "blocked@refuse.test", status: "5.7.1", type: "soft", reason: "blocked", addressStatus: "valid" }
    ]
  }
]

const refusals = {
  "gone@refuse.test": { code: 550, text: "5.1.1 <gone@refuse.test>: Recipient address rejected: User unknown" },
  "full@refuse.test": { code: 552, text: "5.2.2 <full@refuse.test>: Mailbox full" },
  "quota@refuse.test": { code: 452, text: "4.2.2 <quota@refuse.test>: Mailbox full, try again later" },
  "disabled@refuse.test": { code: 450, text: "4.2.1 <disabled@refuse.test>: mailbox disabled, not accepting messages" },
  "blocked@refuse.test": {
    code: 554,
    text: "5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"
  }
}

const idsOf = (index: number): SignedIds => ({
  instance: "rebound",
  deliveryId: `d-${index}`,
  recipientId: `r-${index}`
})

let dovecot: Dovecot
let postfix: Postfix
let refusing: RefusingServer
let work: string

beforeAll(async () => {
  if (skip) return
  work = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-e2e-"))
  dovecot = await startDovecot([bounceUser])
  refusing = await startRefusingServer(refusals)
  // Postfix's virtual(8) delivers the bounces into the Maildir Dovecot serves, as the Maildir's owner
  const maildir = fs.statSync(path.join(dovecot.dir, "mail", bounceUser))
  postfix = await startPostfix({
    localDomain,
    routes: { "refuse.test": { host: "127.0.0.1", port: refusing.port } },
    mainCf: [
      `virtual_mailbox_domains = ${bounceDomain}`,
      `virtual_mailbox_base = ${path.join(dovecot.dir, "mail")}`,
      `virtual_mailbox_maps = inline:{ ${bounceAddress}=${bounceUser}/ }`,
      `virtual_uid_maps = static:${maildir.uid}`,
      `virtual_gid_maps = static:${maildir.gid}`,
      "virtual_minimum_uid = 1"
    ]
  })
}, 90_000)

afterAll(async () => {
  if (skip) return
  await postfix?.stop()
  await refusing?.stop()
  await dovecot?.stop()
  fs.rmSync(work, { recursive: true, force: true })
}, 60_000)

/** Sends one message through Postfix with a plain envelope sender: its signed Message-ID is the only evidence. */
const send = async (index: number, recipients: ReadonlyArray<string>) => {
  const messageId = encodeMessageId(idsOf(index), key, messageIdDomain)
  const transport = nodemailer.createTransport({
    host: "127.0.0.1",
    port: postfix.port,
    secure: false,
    ignoreTLS: true
  })
  try {
    await transport.sendMail({
      envelope: { from: bounceAddress, to: [...recipients] },
      raw: [
        `Message-ID: ${messageId}`,
        "From: Newsletter <news@sender.rebound.test>",
        `To: ${recipients.map((recipient) => `<${recipient}>`).join(", ")}`,
        `Subject: Newsletter ${index}`,
        "Date: Thu, 01 Jan 2026 12:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hello,",
        ".a line that starts with a dot",
        ""
      ].join("\r\n")
    })
  } finally {
    transport.close()
  }
  return messageId.slice(1, -1)
}

const waitForBounces = async (count: number, millis: number) => {
  const deadline = Date.now() + millis
  while (Date.now() < deadline && dovecot.files(bounceUser).length < count) {
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  return dovecot.files(bounceUser).length
}

const rebound = (...args: Array<string>) =>
  run(process.execPath, [bin, ...args], { cwd: work, timeout: 90_000, env: { ...process.env, NO_COLOR: "1" } })

const writeConfig = () => {
  const file = path.join(work, "rebound.config.json")
  const config = {
    instance: "rebound",
    store: { type: "sqlite", path: path.join(work, "data", "rebound.db") },
    accounts: [
      {
        type: "pop3",
        name: account,
        host: "127.0.0.1",
        port: dovecot.port,
        tls: "starttls",
        caFile: dovecot.certificate.certFile,
        auth: { mechanism: "user", username: bounceUser, password: dovecot.password(bounceUser) },
        maxMailsPerSession: 3
      }
    ],
    signing: { keys: [{ id: key.id, secret: Redacted.value(key.secret) }], domain: messageIdDomain },
    log: { level: "info", format: "json" }
  }
  fs.writeFileSync(file, JSON.stringify(config, null, 2))
  return file
}

/** What the store holds after the run, read through the store's layer on the same SQLite file. */
const readStore = (recipients: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const ledger = yield* MailLedger
    const events = yield* BounceEvents
    const store = yield* Store
    const entries = yield* ledger.list({ account, limit: 1000 })
    const records: Array<StoredBounceEvent> = []
    for (const entry of entries) records.push(...(yield* events.forMail(entry.key)))
    const states = new Map<string, AddressStatus>()
    for (const recipient of recipients) states.set(recipient, (yield* store.address(recipient)).status)
    return { entries, records, states }
  }).pipe(Effect.provide(SqliteStore.layer({ filename: path.join(work, "data", "rebound.db") })))

describe.skipIf(skip)("rebound once against Postfix's bounces in Dovecot", () => {
  it.live(
    "applies every bounce, correlated to the Message-ID that was sent, and empties the mailbox",
    () =>
      Effect.gen(function* () {
        const sent = yield* Effect.promise(() =>
          Promise.all(
            messages.map((message, index) =>
              send(
                index,
                message.recipients.map((expected) => expected.recipient)
              )
            )
          )
        )
        const arrived = yield* Effect.promise(() => waitForBounces(messages.length, 60_000))
        if (arrived !== messages.length) {
          assert.fail(
            `${arrived} of ${messages.length} bounces arrived in the Maildir\n${yield* Effect.promise(() => postfix.queue())}\n${postfix.log()}`
          )
        }
        assert.sameMembers(
          refusing.asked.map((address) => address.toLowerCase()),
          Object.keys(refusals)
        )

        const config = writeConfig()
        const first = yield* Effect.promise(() => rebound("once", "--config", config))
        // sessions of at most 3 mails: the mailbox is emptied over several POP3 sessions
        assert.match(
          first.stdout,
          new RegExp(
            `^${account}: ${messages.length} mails retrieved \\(applied ${messages.length}\\), ${messages.length} deleted, 0 left in the mailbox, [3-9] session\\(s\\)$`,
            "m"
          ),
          `${first.stdout}\n${first.stderr}`
        )
        const logs = first.stderr
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as { level: string; message: unknown })
        assert.deepStrictEqual(
          logs.filter((log) => log.level === "ERROR" || log.level === "WARN"),
          [],
          first.stderr
        )

        // the POP3 mailbox is empty: Dovecot expunged every mail rebound deleted
        assert.deepStrictEqual(dovecot.files(bounceUser), [])
        const stat = yield* Effect.scoped(
          Effect.flatMap(
            Pop3Mailbox.make({
              host: "127.0.0.1",
              port: dovecot.port,
              tls: "starttls",
              caFile: dovecot.certificate.certFile,
              auth: { mechanism: "user", username: bounceUser, password: Redacted.make(dovecot.password(bounceUser)) }
            }),
            (mailbox) => Effect.flatMap(mailbox.open, (session) => session.stat)
          )
        ).pipe(Effect.provide(FetchHttpClient.layer))
        assert.deepStrictEqual(stat, { count: 0, size: 0 })

        const expected = messages.flatMap((message, index) =>
          message.recipients.map((recipient) => ({ ...recipient, index, messageId: sent[index]! }))
        )
        const { entries, records, states } = yield* readStore(expected.map((e) => e.recipient))
        assert.strictEqual(entries.length, messages.length)
        for (const entry of entries) assert.strictEqual(entry.outcome, "applied", entry.detail ?? "")
        assert.strictEqual(records.length, expected.length)
        for (const want of expected) {
          const record = records.find((candidate) => candidate.address === want.recipient.toLowerCase())
          assert.isDefined(record, `no record for ${want.recipient}`)
          const got = record!
          assert.strictEqual(got.kind, "bounce", want.recipient)
          assert.strictEqual(got.status, want.status, `${want.recipient}: ${got.diagnostic}`)
          assert.strictEqual(got.type, want.type, `${want.recipient}: ${got.diagnostic}`)
          assert.strictEqual(got.reason, want.reason, `${want.recipient}: ${got.diagnostic}`)
          // correlated by the signed Message-ID of the message that was sent, and verified with the shared key
          assert.strictEqual(got.originalMessageId, want.messageId, want.recipient)
          assert.strictEqual(got.correlationMethod, "message-id", want.recipient)
          assert.isTrue(got.correlationVerified, want.recipient)
          assert.strictEqual(got.correlationSource, "signed", want.recipient)
          assert.strictEqual(got.correlationDeliveryId, idsOf(want.index).deliveryId)
          assert.strictEqual(got.correlationRecipientId, idsOf(want.index).recipientId)
          assert.strictEqual(got.reportingMta, "mta.rebound.test", want.recipient)
          assert.strictEqual(states.get(want.recipient), want.addressStatus, want.recipient)
        }

        // a second run finds nothing and changes nothing
        const second = yield* Effect.promise(() => rebound("once", "--config", config))
        assert.match(second.stdout, new RegExp(`^${account}: 0 mails retrieved \\(none\\), 0 deleted`, "m"))
        const after = yield* readStore([])
        assert.strictEqual(after.entries.length, messages.length)
        assert.strictEqual(after.records.length, expected.length)
      }),
    120_000
  )
})
