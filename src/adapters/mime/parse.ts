import { TextDecoder } from "node:util"
import libmime from "libmime"
import libqp from "libqp"
import type { MailHeader, MimeEntity } from "../../domain/mail.js"

const maxDepth = 50
const defaultTextLimit = 1 << 20
const headerNamePattern = /^([!-9;-~]+)[ \t]*:/
const enclosingTypes = new Set(["message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"])
const headerOnlyTypes = new Set(["text/rfc822-headers", "message/global-headers"])

const decoders = new Map<string, TextDecoder | null>()
const decoderFor = (label: string): TextDecoder | null => {
  let decoder = decoders.get(label)
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(charsetAliases[label] ?? label)
    } catch {
      decoder = null
    }
    decoders.set(label, decoder)
  }
  return decoder
}
const charsetAliases: Record<string, string> = {
  "x-sjis": "shift_jis",
  sjis: "shift_jis",
  "shift-jis": "shift_jis",
  "ks_c_5601-1987": "euc-kr",
  "x-unknown": "utf-8",
  "unknown-8bit": "windows-1252",
  utf8: "utf-8",
  cp932: "shift_jis",
  "windows-31j": "shift_jis"
}
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })
const windows1252 = new TextDecoder("windows-1252")

/** Decodes bytes in the named charset; unknown or absent charsets: UTF-8 when the bytes are valid UTF-8, else 1252. */
export const decodeCharset = (bytes: Uint8Array, charset: string | undefined): string => {
  const label = charset?.trim().toLowerCase()
  if (label !== undefined && label !== "" && label !== "us-ascii" && label !== "ascii") {
    const decoder = decoderFor(label)
    if (decoder !== null) return decoder.decode(bytes)
  }
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return windows1252.decode(bytes)
  }
}

const eightBit = /[\x80-\xff]/
const decodeHeaderValue = (latin1: string): string => {
  let value = latin1
  if (eightBit.test(value)) value = decodeCharset(Buffer.from(value, "latin1"), undefined)
  if (value.includes("=?")) {
    try {
      value = libmime.decodeWords(value)
    } catch {
      // a malformed encoded word stays as written
    }
  }
  return value
}

/** Position just after the line that starts at `from` (or `end`), and whether that line is empty. */
const lineEnd = (raw: string, from: number, end: number): number => {
  const newline = raw.indexOf("\n", from)
  return newline === -1 || newline >= end ? end : newline + 1
}

const isBlankLine = (raw: string, from: number, next: number): boolean =>
  next === from || (next - from === 1 && raw.charCodeAt(from) === 10) || (next - from === 2 && raw[from] === "\r")

interface HeaderBlock {
  readonly headers: Array<MailHeader>
  readonly bodyStart: number
}

const parseHeaderBlock = (raw: string, start: number, end: number): HeaderBlock => {
  const headers: Array<MailHeader> = []
  let position = start
  let name: string | undefined
  let value = ""
  const flush = () => {
    if (name !== undefined) headers.push({ name, value: decodeHeaderValue(value.trim()) })
    name = undefined
  }
  let first = true
  while (position < end) {
    const next = lineEnd(raw, position, end)
    if (isBlankLine(raw, position, next)) {
      flush()
      return { headers, bodyStart: next }
    }
    // the line without its line end (CRLF or LF)
    let stop = next
    if (stop > position && raw.charCodeAt(stop - 1) === 10)
      stop -= stop - 1 > position && raw.charCodeAt(stop - 2) === 13 ? 2 : 1
    const line = raw.slice(position, stop)
    const first_char = line.charCodeAt(0)
    if ((first_char === 32 || first_char === 9) && name !== undefined) {
      value += " " + line.trim()
    } else {
      const match = headerNamePattern.exec(line)
      if (match !== null) {
        flush()
        name = match[1]!.toLowerCase()
        value = line.slice(match[0].length)
      } else if (first && !line.startsWith("From ")) {
        // no header block at all: the entity is all body
        return { headers, bodyStart: start }
      } else if (name !== undefined && /^[A-Za-z0-9*-]+=/.test(line)) {
        // a parameter that a careless mailer wrapped without indenting it
        value += " " + line.trim()
      }
    }
    first = false
    position = next
  }
  flush()
  return { headers, bodyStart: end }
}

interface ContentType {
  readonly type: string
  readonly params: Record<string, string>
}

const parseContentType = (value: string | undefined, fallback: string): ContentType => {
  if (value === undefined) return { type: fallback, params: {} }
  try {
    const parsed = libmime.parseHeaderValue(value)
    const type = parsed.value.trim().toLowerCase()
    const params: Record<string, string> = {}
    for (const [key, param] of Object.entries(parsed.params)) params[key.toLowerCase()] = String(param)
    return { type: /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : fallback, params }
  } catch {
    return { type: fallback, params: {} }
  }
}

/** Offsets of the body of each child between multipart delimiters (RFC 2046 §5.1.1). */
const splitMultipart = (raw: string, start: number, end: number, boundary: string): Array<[number, number]> => {
  const delimiter = "--" + boundary
  const parts: Array<[number, number]> = []
  let partStart = -1
  let search = start
  while (search < end) {
    const found = raw.indexOf(delimiter, search)
    if (found === -1 || found >= end) break
    search = found + delimiter.length
    const atLineStart = found === start || raw.charCodeAt(found - 1) === 10
    if (!atLineStart) continue
    const after = raw.slice(found + delimiter.length, found + delimiter.length + 2)
    const closing = after === "--"
    const next = lineEnd(raw, found, end)
    if (!closing && raw.slice(found + delimiter.length, next).trim() !== "") continue
    if (partStart !== -1) {
      let partEnd = found
      if (partEnd > partStart && raw.charCodeAt(partEnd - 1) === 10) partEnd--
      if (partEnd > partStart && raw.charCodeAt(partEnd - 1) === 13) partEnd--
      parts.push([partStart, Math.max(partStart, partEnd)])
    }
    if (closing) return parts
    partStart = next
    search = next
  }
  if (partStart !== -1 && partStart < end) parts.push([partStart, end])
  return parts
}

/**
 * Some MTAs (old Sendmail among them) send a MIME-encapsulated report without a Content-Type header. When the body
 * opens with a delimiter line that recurs and is followed by part headers, read it as multipart/mixed.
 */
const undeclaredMultipart = (raw: string, start: number, end: number): ContentType | undefined => {
  // only a short preamble ("This is a MIME-encapsulated message") may precede the first delimiter
  const head = raw
    .slice(start, Math.min(end, start + 4096))
    .split("\n")
    .slice(0, 8)
    .join("\n")
  const match = /^--([^\s]{1,100})[ \t]*\r?\n(?:Content-[A-Za-z-]+:|\r?\n)/m.exec(head)
  if (match === null) return undefined
  const boundary = match[1]!
  const second = raw.indexOf("\n--" + boundary, start + match.index + boundary.length + 2)
  if (second === -1 || second >= end) return undefined
  return { type: "multipart/mixed", params: { boundary } }
}

const transferDecode = (encoded: string, encoding: string): Buffer => {
  if (encoding === "base64") return Buffer.from(encoded, "base64")
  if (encoding === "quoted-printable") return libqp.decode(encoded)
  return Buffer.from(encoded, "latin1")
}

class Entity implements MimeEntity {
  readonly headers: ReadonlyArray<MailHeader>
  readonly contentType: string
  readonly params: Readonly<Record<string, string>>
  readonly bodySize: number
  private readonly bodyStart: number
  private childrenCache: ReadonlyArray<MimeEntity> | undefined
  private enclosedCache: MimeEntity | undefined | null = null
  private textCache: string | undefined

  constructor(
    private readonly raw: string,
    start: number,
    private readonly end: number,
    defaultType: string,
    private readonly depth: number
  ) {
    const block = parseHeaderBlock(raw, start, end)
    this.headers = block.headers
    this.bodyStart = block.bodyStart
    this.bodySize = end - block.bodyStart
    const declared = this.header("content-type")
    const contentType =
      declared === undefined
        ? (undeclaredMultipart(raw, block.bodyStart, end) ?? { type: defaultType, params: {} })
        : parseContentType(declared, defaultType)
    this.contentType = contentType.type
    this.params = contentType.params
  }

  parseText(text: string): MimeEntity {
    const raw = Buffer.from(text, "utf8").toString("latin1")
    return new Entity(raw, 0, raw.length, "text/plain", this.depth + 1)
  }

  header(name: string): string | undefined {
    const wanted = name.toLowerCase()
    for (const header of this.headers) if (header.name === wanted) return header.value
    return undefined
  }

  headerAll(name: string): ReadonlyArray<string> {
    const wanted = name.toLowerCase()
    return this.headers.filter((header) => header.name === wanted).map((header) => header.value)
  }

  private get transferEncoding(): string {
    return (this.header("content-transfer-encoding") ?? "7bit").trim().toLowerCase()
  }

  get children(): ReadonlyArray<MimeEntity> {
    if (this.childrenCache === undefined) {
      const boundary = this.params["boundary"]
      this.childrenCache =
        this.contentType.startsWith("multipart/") && boundary !== undefined && boundary !== "" && this.depth < maxDepth
          ? splitMultipart(this.raw, this.bodyStart, this.end, boundary).map(
              ([start, end]) =>
                new Entity(
                  this.raw,
                  start,
                  end,
                  this.contentType === "multipart/digest" ? "message/rfc822" : "text/plain",
                  this.depth + 1
                )
            )
          : []
    }
    return this.childrenCache
  }

  get enclosed(): MimeEntity | undefined {
    if (this.enclosedCache === null) {
      this.enclosedCache = undefined
      if (enclosingTypes.has(this.contentType) && this.depth < maxDepth) {
        const encoding = this.transferEncoding
        const headerOnly = headerOnlyTypes.has(this.contentType)
        if (encoding === "base64" || encoding === "quoted-printable") {
          const decoded = transferDecode(this.raw.slice(this.bodyStart, this.end), encoding).toString("latin1")
          this.enclosedCache = new Entity(decoded, 0, decoded.length, "text/plain", this.depth + 1)
        } else {
          let start = this.bodyStart
          // some MTAs leave blank lines between the part headers and the enclosed message's own headers
          while (!headerOnly && start < this.end && (this.raw[start] === "\n" || this.raw[start] === "\r")) start++
          const enclosed = new Entity(this.raw, start, this.end, "text/plain", this.depth + 1)
          this.enclosedCache = headerOnly || enclosed.headers.length > 0 ? enclosed : undefined
        }
      }
    }
    return this.enclosedCache
  }

  text(limit: number = defaultTextLimit): string {
    if (limit === defaultTextLimit && this.textCache !== undefined) return this.textCache
    const encoding = this.transferEncoding
    const rawLimit = encoding === "base64" ? Math.ceil(limit * 1.4) : limit * 3
    const slice = this.raw.slice(this.bodyStart, Math.min(this.end, this.bodyStart + rawLimit))
    const bytes = transferDecode(slice, encoding)
    const charset = this.params["charset"] ?? (this.contentType.startsWith("message/global") ? "utf-8" : undefined)
    let text = decodeCharset(bytes, charset)
    if (text.length > limit) text = text.slice(0, limit)
    if (limit === defaultTextLimit) this.textCache = text
    return text
  }
}

/**
 * Splits the bytes of one mail into MIME entities. Never throws: a malformed mail is read as far as it goes.
 * LF, CRLF and bare CR line ends and a leading mbox "From " line are accepted.
 */
export const parseMail = (bytes: Uint8Array): MimeEntity => {
  let raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")
  if (raw.indexOf("\n") === -1 && raw.indexOf("\r") !== -1) raw = raw.replace(/\r/g, "\n")
  let start = 0
  if (raw.startsWith("From ")) start = lineEnd(raw, 0, raw.length)
  return new Entity(raw, start, raw.length, "text/plain", 0)
}
