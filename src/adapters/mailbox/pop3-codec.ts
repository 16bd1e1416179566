import { createHash } from "node:crypto"
import * as Either from "effect/Either"
import { MailboxError, type MailboxErrorReason } from "./mailbox.js"

/**
 * The POP3 wire format as pure functions: command lines, status lines, RFC 2449 capabilities and response codes,
 * the multi-line decoder (RFC 1939 section 3 byte-stuffing) and the SASL initial responses.
 */

const CR = 0x0d
const LF = 0x0a
const DOT = 0x2e
const crBytes = new Uint8Array([CR])
const crlfBytes = new Uint8Array([CR, LF])
const terminatorBytes = new Uint8Array([DOT, CR, LF])

/** Command keywords this client sends. */
export type Pop3Command =
  | "USER"
  | "PASS"
  | "APOP"
  | "AUTH"
  | "CAPA"
  | "STLS"
  | "STAT"
  | "LIST"
  | "UIDL"
  | "TOP"
  | "RETR"
  | "DELE"
  | "RSET"
  | "NOOP"
  | "QUIT"

/** A command line: keyword, arguments separated by one space, CRLF. Arguments never hold CR, LF or NUL. */
export const encodeCommand = (keyword: Pop3Command | string, ...args: ReadonlyArray<string | number>): string => {
  const line = args.length === 0 ? keyword : `${keyword} ${args.join(" ")}`
  if (/[\r\n\0]/.test(line)) throw new Error(`a ${keyword} command argument holds CR, LF or NUL`)
  return `${line}\r\n`
}

/** A bare SASL continuation answer (RFC 5034 section 4): the base64 text and CRLF. */
export const encodeContinuation = (base64: string): string => {
  if (/[\r\n\0]/.test(base64)) throw new Error("a SASL response holds CR, LF or NUL")
  return `${base64}\r\n`
}

/** A status line: "+OK", "-ERR" with an optional RFC 2449 response code, or a SASL "+ " continuation. */
export type StatusLine =
  | { readonly _tag: "Ok"; readonly text: string }
  | { readonly _tag: "Err"; readonly code: string | undefined; readonly text: string }
  | { readonly _tag: "Continue"; readonly text: string }

const respCodePattern = /^\[([^\]\s]+)\]\s?/

/** Parses one status line (without its CRLF); Left holds a description of what is wrong. */
export const parseStatusLine = (line: string): Either.Either<StatusLine, string> => {
  if (line.slice(0, 3).toUpperCase() === "+OK" && (line.length === 3 || line[3] === " ")) {
    return Either.right({ _tag: "Ok", text: line.slice(4) })
  }
  if (line.slice(0, 4).toUpperCase() === "-ERR" && (line.length === 4 || line[4] === " ")) {
    const rest = line.slice(5)
    const match = respCodePattern.exec(rest)
    return Either.right(
      match === null
        ? { _tag: "Err", code: undefined, text: rest }
        : { _tag: "Err", code: match[1]!.toUpperCase(), text: rest.slice(match[0].length) }
    )
  }
  if (line === "+" || line.startsWith("+ ")) {
    return Either.right({ _tag: "Continue", text: line.slice(2) })
  }
  return Either.left(`not a POP3 status line: ${printable(line)}`)
}

/** A line shown in an error message: control characters escaped, cut to 120 characters. */
export const printable = (line: string): string => {
  const escaped = JSON.stringify(line.length > 120 ? `${line.slice(0, 120)}...` : line)
  return escaped
}

const reasonOfCode = (code: string): MailboxErrorReason | undefined => {
  const top = code.split("/")[0]
  switch (top) {
    case "IN-USE":
      return "InUse"
    case "LOGIN-DELAY":
      return "LoginDelay"
    case "AUTH":
      return "Auth"
    case "SYS":
      return code === "SYS/PERM" || code.startsWith("SYS/PERM/") ? "SysPerm" : "SysTemp"
    default:
      return undefined
  }
}

/**
 * The typed error for an -ERR reply (RFC 2449 section 8, RFC 3206). Without a known response code, an -ERR to an
 * authentication command is "Auth" and any other is "ServerError". The message names the command, never its
 * arguments.
 */
export const errorFromReply = (
  command: Pop3Command | "greeting",
  reply: { readonly code: string | undefined; readonly text: string },
  authentication = false
): MailboxError => {
  const reason =
    (reply.code === undefined ? undefined : reasonOfCode(reply.code)) ?? (authentication ? "Auth" : "ServerError")
  const code = reply.code === undefined ? "" : `[${reply.code}] `
  return new MailboxError({ reason, message: `${command} refused by the server: -ERR ${code}${reply.text}`.trimEnd() })
}

/** RFC 2449 capabilities, as announced by CAPA. */
export interface Pop3Capabilities {
  /** the CAPA lines as sent */
  readonly lines: ReadonlyArray<string>
  readonly top: boolean
  readonly user: boolean
  readonly uidl: boolean
  readonly pipelining: boolean
  readonly respCodes: boolean
  readonly authRespCode: boolean
  readonly stls: boolean
  /** SASL mechanisms, upper case */
  readonly sasl: ReadonlyArray<string>
  readonly loginDelaySeconds: number | undefined
  readonly expire: number | "never" | undefined
  readonly implementation: string | undefined
}

/** Capabilities of a server that does not answer CAPA: RFC 1939 only, optional commands unknown. */
export const noCapabilities: Pop3Capabilities = {
  lines: [],
  top: false,
  user: false,
  uidl: false,
  pipelining: false,
  respCodes: false,
  authRespCode: false,
  stls: false,
  sasl: [],
  loginDelaySeconds: undefined,
  expire: undefined,
  implementation: undefined
}

/** Parses the lines of a CAPA response (RFC 2449 section 5). */
export const parseCapabilities = (lines: ReadonlyArray<string>): Pop3Capabilities => {
  const tags = new Map<string, ReadonlyArray<string>>()
  for (const line of lines) {
    const [tag, ...args] = line.trim().split(/\s+/)
    if (tag !== undefined && tag !== "") tags.set(tag.toUpperCase(), args)
  }
  const number = (value: string | undefined): number | undefined =>
    value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined
  const expireArg = tags.get("EXPIRE")?.[0]
  const implementation = lines.find((line) => /^IMPLEMENTATION\b/i.test(line.trim()))
  return {
    lines,
    top: tags.has("TOP"),
    user: tags.has("USER"),
    uidl: tags.has("UIDL"),
    pipelining: tags.has("PIPELINING"),
    respCodes: tags.has("RESP-CODES"),
    authRespCode: tags.has("AUTH-RESP-CODE"),
    stls: tags.has("STLS"),
    sasl: (tags.get("SASL") ?? []).map((mechanism) => mechanism.toUpperCase()),
    loginDelaySeconds: number(tags.get("LOGIN-DELAY")?.[0]),
    expire: expireArg?.toUpperCase() === "NEVER" ? "never" : number(expireArg),
    implementation: implementation?.trim().slice("IMPLEMENTATION".length).trim() || undefined
  }
}

/** "+OK 2 320" from STAT: message count and total octets. */
export const parseStat = (text: string): Either.Either<{ count: number; size: number }, string> => {
  const match = /^(\d+)\s+(\d+)/.exec(text)
  return match === null
    ? Either.left(`STAT reply without a count and a size: ${printable(text)}`)
    : Either.right({ count: Number(match[1]), size: Number(match[2]) })
}

/** One line of a LIST response: "1 120". */
export const parseScanListing = (line: string): Either.Either<{ number: number; size: number }, string> => {
  const match = /^(\d+)\s+(\d+)/.exec(line)
  return match === null
    ? Either.left(`LIST line without a number and a size: ${printable(line)}`)
    : Either.right({ number: Number(match[1]), size: Number(match[2]) })
}

/** One line of a UIDL response: "1 whqtswO00WBw418f9t5JxYwZ" (RFC 1939: 1 to 70 characters 0x21 to 0x7E). */
export const parseUniqueIdListing = (line: string): Either.Either<{ number: number; uid: string }, string> => {
  const match = /^(\d+)\s+([\x21-\x7e]{1,70})\s*$/.exec(line)
  return match === null
    ? Either.left(`UIDL line without a number and a unique id: ${printable(line)}`)
    : Either.right({ number: Number(match[1]), uid: match[2]! })
}

/** The RFC 1939 APOP timestamp of a greeting ("<1896.697170952@dbc.mtview.ca.us>"), if any. */
export const greetingTimestamp = (greeting: string): string | undefined => {
  const matches = greeting.match(/<[^<>\s]+>/g)
  return matches === null ? undefined : matches[matches.length - 1]
}

/** RFC 1939 section 7 APOP digest: lowercase hex MD5 of timestamp and shared secret. */
export const apopDigest = (timestamp: string, secret: string): string =>
  createHash("md5")
    .update(timestamp + secret, "utf8")
    .digest("hex")

const base64 = (text: string): string => Buffer.from(text, "utf8").toString("base64")

/** RFC 4616 PLAIN initial response: authzid NUL authcid NUL passwd, base64. */
export const saslPlain = (username: string, password: string, authorizationId = ""): string =>
  base64(`${authorizationId}\0${username}\0${password}`)

/** Google and Microsoft XOAUTH2 initial response. */
export const saslXoauth2 = (username: string, token: string): string =>
  base64(`user=${username}\x01auth=Bearer ${token}\x01\x01`)

/** RFC 7628 section 3.1 OAUTHBEARER initial response (gs2 header with the authzid, host, port, bearer token). */
export const saslOauthBearer = (username: string, host: string, port: number, token: string): string => {
  const saslName = username.replace(/=/g, "=3D").replace(/,/g, "=2C")
  return base64(`n,a=${saslName},\x01host=${host}\x01port=${port}\x01auth=Bearer ${token}\x01\x01`)
}

/** RFC 7628 section 3.2.3: the client's answer to an error challenge, a single %x01. */
export const oauthBearerErrorAck = base64("\x01")

/** The base64 of a SASL text (AUTH LOGIN answers). */
export const saslText = base64

/** Decodes a SASL challenge; undefined when it is not valid base64. */
export const decodeChallenge = (text: string): string | undefined => {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(trimmed)) return undefined
  return Buffer.from(trimmed, "base64").toString("utf8")
}

/** Where the multi-line decoder stands between two chunks. */
export type MultilineState = "LineStart" | "Dot" | "DotCR" | "Middle"

/** The decoder's state before the first byte of a multi-line body. */
export const multilineStart: MultilineState = "LineStart"

/** What one chunk gave: unstuffed output (views into the chunk), and once the terminator is seen, what follows it. */
export interface MultilineStep {
  readonly state: MultilineState
  readonly output: Array<Uint8Array>
  readonly done: boolean
  /** the bytes after the terminator (the next pipelined reply); empty until done */
  readonly rest: Uint8Array
}

const empty = new Uint8Array(0)

/**
 * Decodes one chunk of a multi-line body (RFC 1939 section 3): a line starting with "." loses that dot, and "."
 * alone on a line ends the body. A line starts after LF, so bodies with bare LF decode too, and a lone "." with
 * a bare LF terminates as well. The output holds views into `chunk`; nothing is copied.
 */
export const decodeMultiline = (state: MultilineState, chunk: Uint8Array): MultilineStep => {
  const output: Array<Uint8Array> = []
  const length = chunk.length
  let current = state
  let segmentStart = current === "Middle" ? 0 : -1
  let index = 0
  while (index < length) {
    switch (current) {
      case "LineStart": {
        if (chunk[index] === DOT) {
          if (segmentStart >= 0 && segmentStart < index) output.push(chunk.subarray(segmentStart, index))
          segmentStart = -1
          index++
          current = "Dot"
        } else {
          if (segmentStart < 0) segmentStart = index
          current = "Middle"
        }
        break
      }
      case "Dot": {
        const byte = chunk[index]
        if (byte === CR) {
          index++
          current = "DotCR"
        } else if (byte === LF) {
          return { state: "LineStart", output, done: true, rest: chunk.subarray(index + 1) }
        } else {
          segmentStart = index
          current = "Middle"
        }
        break
      }
      case "DotCR": {
        if (chunk[index] === LF) {
          return { state: "LineStart", output, done: true, rest: chunk.subarray(index + 1) }
        }
        output.push(crBytes)
        segmentStart = index
        current = "Middle"
        break
      }
      case "Middle": {
        const lineFeed = chunk.indexOf(LF, index)
        if (lineFeed < 0) {
          index = length
        } else {
          index = lineFeed + 1
          current = "LineStart"
        }
        break
      }
    }
  }
  if (segmentStart >= 0 && segmentStart < length) output.push(chunk.subarray(segmentStart, length))
  return { state: current, output, done: false, rest: empty }
}

/**
 * Encodes a mail as a multi-line body: dot-stuffing, a CRLF if the mail does not end with a line end, then the
 * terminator. What a server sends for RETR; used by the test server and the codec's properties.
 */
export const encodeMultiline = (mail: Uint8Array): Uint8Array => {
  const parts: Array<Uint8Array> = []
  let lineStart = 0
  while (lineStart < mail.length) {
    const lineFeed = mail.indexOf(LF, lineStart)
    const lineEnd = lineFeed < 0 ? mail.length : lineFeed + 1
    if (mail[lineStart] === DOT) parts.push(terminatorBytes.subarray(0, 1))
    parts.push(mail.subarray(lineStart, lineEnd))
    lineStart = lineEnd
  }
  if (mail.length > 0 && mail[mail.length - 1] !== LF) parts.push(crlfBytes)
  parts.push(terminatorBytes)
  return Buffer.concat(parts)
}

/** What decoding an encoded mail gives back: the mail itself, with a CRLF added if it did not end a line. */
export const normalizeMailEnd = (mail: Uint8Array): Uint8Array =>
  mail.length === 0 || mail[mail.length - 1] === LF ? mail : Buffer.concat([mail, crlfBytes])
