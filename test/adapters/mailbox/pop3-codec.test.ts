import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import {
  apopDigest,
  decodeMultiline,
  encodeCommand,
  encodeMultiline,
  errorFromReply,
  greetingTimestamp,
  multilineStart,
  normalizeMailEnd,
  parseCapabilities,
  parseScanListing,
  parseStat,
  parseStatusLine,
  parseUniqueIdListing,
  saslOauthBearer,
  saslPlain,
  saslXoauth2
} from "../../../src/adapters/mailbox/pop3-codec.js"

const bytes = (text: string) => new Uint8Array(Buffer.from(text, "latin1"))
const text = (data: Uint8Array) => Buffer.from(data).toString("latin1")

/** Feeds the chunks to the decoder; returns the decoded body, whether it ended, and the bytes after the end. */
const decodeChunks = (chunks: ReadonlyArray<Uint8Array>) => {
  let state = multilineStart
  const output: Array<Uint8Array> = []
  const after: Array<Uint8Array> = []
  let done = false
  for (const chunk of chunks) {
    if (done) {
      after.push(chunk)
      continue
    }
    const step = decodeMultiline(state, chunk)
    output.push(...step.output)
    state = step.state
    if (step.done) {
      done = true
      after.push(step.rest)
    }
  }
  return { body: Buffer.concat(output), done, after: Buffer.concat(after) }
}

/** Splits `data` at the given cut points (any numbers; reduced modulo the length). */
const split = (data: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((cut) => (data.length === 0 ? 0 : cut % (data.length + 1))))].sort(
    (a, b) => a - b
  )
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const point of points) {
    chunks.push(data.subarray(start, point))
    start = point
  }
  chunks.push(data.subarray(start))
  return chunks
}

// Mails built from the pieces that matter to stuffing: dots at line starts, CR, LF, CRLF, a lone "." line.
const piece = FastCheck.constantFrom(".", "..", ".\r\n", ".\r", "\r\n", "\n", "\r", "a", "From: x\r\n", "\x00", "\xff")
const trickyMail = FastCheck.array(piece, { maxLength: 60 }).map((pieces) => bytes(pieces.join("")))
const anyMail = FastCheck.oneof(trickyMail, FastCheck.uint8Array({ maxLength: 3000 }))
const cuts = FastCheck.array(FastCheck.nat(), { maxLength: 12 })

describe("pop3 codec: multi-line bodies", () => {
  it.prop(
    "any mail survives dot-stuffing whatever the chunk boundaries",
    { mail: anyMail, cuts },
    ({ cuts, mail }) => {
      const decoded = decodeChunks(split(encodeMultiline(mail), cuts))
      assert.isTrue(decoded.done)
      assert.deepStrictEqual(decoded.body, Buffer.from(normalizeMailEnd(mail)))
      assert.strictEqual(decoded.after.length, 0)
    },
    { fastCheck: { numRuns: 500 } }
  )

  it.prop(
    "the bytes after the terminator (the next pipelined reply) are handed back intact",
    { first: anyMail, next: FastCheck.uint8Array({ maxLength: 200 }), cuts },
    ({ cuts, first, next }) => {
      const wire = Buffer.concat([encodeMultiline(first), next])
      const decoded = decodeChunks(split(wire, cuts))
      assert.isTrue(decoded.done)
      assert.deepStrictEqual(decoded.body, Buffer.from(normalizeMailEnd(first)))
      assert.deepStrictEqual(decoded.after, Buffer.from(next))
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "a mail whose lines all end in CRLF comes back byte for byte",
    { lines: FastCheck.array(FastCheck.stringMatching(/^[^\r\n]{0,20}$/), { maxLength: 30 }), cuts },
    ({ cuts, lines }) => {
      const mail = bytes(lines.map((line) => `${line}\r\n`).join(""))
      assert.deepStrictEqual(decodeChunks(split(encodeMultiline(mail), cuts)).body, Buffer.from(mail))
    }
  )

  it("stuffs every line that starts with a dot, and only those", () => {
    assert.strictEqual(text(encodeMultiline(bytes(".a\r\nb.\r\n.\r\n..\r\n"))), "..a\r\nb.\r\n..\r\n...\r\n.\r\n")
    assert.strictEqual(text(encodeMultiline(bytes(""))), ".\r\n")
    assert.strictEqual(text(encodeMultiline(bytes("no end"))), "no end\r\n.\r\n")
  })

  it("finds the terminator split at every position", () => {
    const wire = bytes("line\r\n..dot\r\n.\r\n+OK next")
    for (let cut = 0; cut <= wire.length; cut++) {
      for (let second = cut; second <= wire.length; second++) {
        const decoded = decodeChunks([wire.subarray(0, cut), wire.subarray(cut, second), wire.subarray(second)])
        assert.strictEqual(text(decoded.body), "line\r\n.dot\r\n")
        assert.strictEqual(text(decoded.after), "+OK next")
      }
    }
  })

  it("decodes byte by byte", () => {
    const wire = bytes("a\r\n.\r.\r\n..\r\n.\r\n")
    const decoded = decodeChunks(Array.from(wire, (byte) => new Uint8Array([byte])))
    assert.strictEqual(text(decoded.body), "a\r\n\r.\r\n.\r\n")
    assert.isTrue(decoded.done)
  })

  it("accepts a bare-LF terminator and does not end on a dot inside a line", () => {
    assert.strictEqual(text(decodeChunks([bytes("a.\r\nb\n.\n")]).body), "a.\r\nb\n")
    assert.isFalse(decodeChunks([bytes("a\r\n.x\r\n")]).done)
  })

  it("decodes what Dovecot sends for a mail with dot lines", () => {
    const wire = bytes("From: a@b\r\nSubject: x\r\n\r\n..hello\r\n...\r\n..\r\nbody\r\n.\r\n")
    assert.strictEqual(text(decodeChunks([wire]).body), "From: a@b\r\nSubject: x\r\n\r\n.hello\r\n..\r\n.\r\nbody\r\n")
  })

  it("returns views into the chunk, without copying", () => {
    const chunk = bytes("no dots here\r\nnor here\r\n")
    const step = decodeMultiline(multilineStart, chunk)
    assert.strictEqual(step.output.length, 1)
    assert.strictEqual(step.output[0]!.buffer, chunk.buffer)
  })
})

describe("pop3 codec: status lines and replies", () => {
  it("parses +OK, -ERR with and without response codes, and continuations", () => {
    assert.deepStrictEqual(parseStatusLine("+OK Dovecot ready."), Either.right({ _tag: "Ok", text: "Dovecot ready." }))
    assert.deepStrictEqual(parseStatusLine("+OK"), Either.right({ _tag: "Ok", text: "" }))
    assert.deepStrictEqual(parseStatusLine("+ok lower"), Either.right({ _tag: "Ok", text: "lower" }))
    assert.deepStrictEqual(
      parseStatusLine("-ERR [IN-USE] Mailbox is locked"),
      Either.right({ _tag: "Err", code: "IN-USE", text: "Mailbox is locked" })
    )
    assert.deepStrictEqual(
      parseStatusLine("-ERR [sys/temp] try later"),
      Either.right({ _tag: "Err", code: "SYS/TEMP", text: "try later" })
    )
    assert.deepStrictEqual(parseStatusLine("-ERR"), Either.right({ _tag: "Err", code: undefined, text: "" }))
    assert.deepStrictEqual(parseStatusLine("+ "), Either.right({ _tag: "Continue", text: "" }))
    assert.deepStrictEqual(parseStatusLine("+ VXNlcm5hbWU6"), Either.right({ _tag: "Continue", text: "VXNlcm5hbWU6" }))
    assert.isTrue(Either.isLeft(parseStatusLine("+OKAY")))
    assert.isTrue(Either.isLeft(parseStatusLine("* OK IMAP4rev1")))
    assert.isTrue(Either.isLeft(parseStatusLine("")))
  })

  it("turns RFC 2449 / RFC 3206 response codes into typed errors", () => {
    const reason = (code: string | undefined, authentication = false) =>
      errorFromReply("PASS", { code, text: "x" }, authentication).reason
    assert.strictEqual(reason("IN-USE"), "InUse")
    assert.strictEqual(reason("LOGIN-DELAY"), "LoginDelay")
    assert.strictEqual(reason("SYS/TEMP"), "SysTemp")
    assert.strictEqual(reason("SYS/PERM"), "SysPerm")
    assert.strictEqual(reason("AUTH"), "Auth")
    assert.strictEqual(reason(undefined, true), "Auth")
    assert.strictEqual(reason(undefined), "ServerError")
    assert.strictEqual(reason("UNKNOWN-CODE"), "ServerError")
    const error = errorFromReply("RETR", { code: "SYS/TEMP", text: "disk" })
    assert.strictEqual(error.message, "RETR refused by the server: -ERR [SYS/TEMP] disk")
    assert.isTrue(error.retryable)
    assert.isFalse(errorFromReply("PASS", { code: "AUTH", text: "" }, true).retryable)
  })

  it("parses Dovecot's CAPA and RFC 2449 arguments", () => {
    const capabilities = parseCapabilities([
      "TOP",
      "UIDL",
      "RESP-CODES",
      "PIPELINING",
      "AUTH-RESP-CODE",
      "STLS",
      "USER",
      "SASL PLAIN login",
      "LOGIN-DELAY 900 USER",
      "EXPIRE NEVER",
      "IMPLEMENTATION Shlemazle-Plotz-v302"
    ])
    assert.isTrue(capabilities.pipelining && capabilities.uidl && capabilities.top && capabilities.stls)
    assert.isTrue(capabilities.respCodes && capabilities.authRespCode && capabilities.user)
    assert.deepStrictEqual(capabilities.sasl, ["PLAIN", "LOGIN"])
    assert.strictEqual(capabilities.loginDelaySeconds, 900)
    assert.strictEqual(capabilities.expire, "never")
    assert.strictEqual(capabilities.implementation, "Shlemazle-Plotz-v302")
    assert.strictEqual(parseCapabilities(["EXPIRE 0"]).expire, 0)
    assert.isFalse(parseCapabilities(["USER"]).pipelining)
  })

  it("parses STAT, LIST and UIDL lines and rejects malformed ones", () => {
    assert.deepStrictEqual(parseStat("2 320"), Either.right({ count: 2, size: 320 }))
    assert.deepStrictEqual(parseScanListing("1 120"), Either.right({ number: 1, size: 120 }))
    assert.deepStrictEqual(
      parseUniqueIdListing("1 whqtswO00WBw418f9t5JxYwZ"),
      Either.right({ number: 1, uid: "whqtswO00WBw418f9t5JxYwZ" })
    )
    assert.isTrue(Either.isLeft(parseStat("two hundred")))
    assert.isTrue(Either.isLeft(parseScanListing("x 1")))
    assert.isTrue(Either.isLeft(parseUniqueIdListing(`1 ${"u".repeat(71)}`)))
    assert.isTrue(Either.isLeft(parseUniqueIdListing("1 has space")))
  })

  it("refuses command arguments that would inject a second command", () => {
    assert.strictEqual(encodeCommand("RETR", 3), "RETR 3\r\n")
    assert.throws(() => encodeCommand("USER", "bounce\r\nDELE 1"))
  })
})

describe("pop3 codec: authentication", () => {
  it("computes the RFC 1939 APOP digest", () => {
    const greeting = "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
    assert.strictEqual(greetingTimestamp(greeting), "<1896.697170952@dbc.mtview.ca.us>")
    assert.strictEqual(apopDigest(greetingTimestamp(greeting)!, "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb")
    assert.isUndefined(greetingTimestamp("Dovecot ready."))
  })

  it("builds the SASL initial responses of RFC 5034, RFC 7628 and XOAUTH2", () => {
    // RFC 5034 section 6 example
    assert.strictEqual(saslPlain("tim", "tanstaaftanstaaf"), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
    // RFC 7628 section 4.1 example
    assert.strictEqual(
      saslOauthBearer("user@example.com", "server.example.com", 143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
      "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
    )
    assert.strictEqual(
      Buffer.from(saslXoauth2("someuser@example.com", "ya29.token"), "base64").toString(),
      "user=someuser@example.com\x01auth=Bearer ya29.token\x01\x01"
    )
    assert.strictEqual(
      Buffer.from(saslOauthBearer("a,b=c", "h", 1, "t"), "base64")
        .toString()
        .split("\x01")[0],
      "n,a=a=2Cb=3Dc,"
    )
  })
})
