import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import * as Effect from "effect/Effect"
import { encodeMultiline } from "../../src/adapters/mailbox/pop3-codec.js"
import { commandWorks } from "./services.js"

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl. */
export interface TestCertificate {
  readonly dir: string
  readonly keyFile: string
  readonly certFile: string
  readonly key: Buffer
  readonly cert: Buffer
}

export const opensslAvailable = commandWorks("openssl", ["version"])

/** Makes a throw-away self-signed certificate in a new temp directory (remove it with fs.rmSync). */
export const makeCertificate = (commonName = "localhost"): TestCertificate => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rebound-cert-"))
  const keyFile = path.join(dir, "key.pem")
  const certFile = path.join(dir, "cert.pem")
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      certFile,
      "-days",
      "2",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost"
    ],
    { stdio: "ignore" }
  )
  return { dir, keyFile, certFile, key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }
}

/** What the server does instead of its normal answer. */
export type Reply =
  /** raw bytes or text written as they are (include the CRLF) */
  | string
  | Uint8Array
  /** write this, then close the connection */
  | { readonly _tag: "WriteAndClose"; readonly data: string | Uint8Array }
  /** never answer */
  | { readonly _tag: "Hang" }
  /** write the parts one by one, pausing between them (a line split across network reads) */
  | { readonly _tag: "Trickle"; readonly parts: ReadonlyArray<string>; readonly pauseMillis: number }
  /** give `reply` once `until` settles; the replies to later commands of the session wait behind it, in order */
  | { readonly _tag: "Hold"; readonly until: Promise<unknown>; readonly reply: Reply }

export interface CommandContext {
  readonly keyword: string
  readonly args: ReadonlyArray<string>
  readonly session: ServerSession
  readonly server: TestPop3Server
}

export interface ServerSession {
  readonly id: number
  readonly secure: boolean
  readonly user: string | undefined
  readonly authenticated: boolean
  readonly deleted: ReadonlySet<number>
  /** the mails as they were at this session's login, in message number order (undefined before it) */
  readonly maildrop: ReadonlyArray<{ readonly uid: string; readonly bytes: Uint8Array }> | undefined
}

export interface TestPop3ServerOptions {
  readonly mails?: ReadonlyArray<string | Uint8Array>
  /** CAPA lines; null answers CAPA with -ERR (an RFC 1939-only server). STLS and SASL are added as configured */
  readonly capabilities?: ReadonlyArray<string> | null
  readonly pipelining?: boolean
  readonly uidl?: boolean
  readonly greeting?: Reply
  readonly users?: Readonly<Record<string, string>>
  /** valid bearer tokens for XOAUTH2 / OAUTHBEARER */
  readonly tokens?: ReadonlyArray<string>
  readonly sasl?: ReadonlyArray<string>
  /** offers STLS with this certificate */
  readonly starttls?: TestCertificate
  /** speaks TLS from the first byte with this certificate */
  readonly implicitTls?: TestCertificate
  /** one session at a time: a second login gets -ERR [IN-USE] */
  readonly exclusive?: boolean
  /** the size LIST announces for a mail (to play a server whose sizes are wrong) */
  readonly listSize?: (mail: Uint8Array) => number
  /** a hook that may answer a command itself */
  readonly onCommand?: (context: CommandContext) => Reply | undefined
}

/** One command as received: the line, whether TLS was up, and which network read brought it. */
export interface ReceivedCommand {
  readonly session: number
  readonly line: string
  readonly secure: boolean
  readonly read: number
}

/**
 * An in-process POP3 server (RFC 1939, RFC 2449 CAPA, STLS, SASL PLAIN / LOGIN / XOAUTH2 / OAUTHBEARER, APOP)
 * over real sockets on 127.0.0.1, with hooks to produce the faults real servers will not: garbage, endless lines,
 * replies cut in the middle, silence.
 */
export class TestPop3Server {
  readonly received: Array<ReceivedCommand> = []
  readonly mails: Array<{ uid: string; bytes: Uint8Array }>
  readonly sockets = new Set<net.Socket>()
  readonly timestamp = "<4242.1700000000@rebound.test>"
  connections = 0
  private locked: number | undefined
  private reads = 0
  private server!: net.Server

  constructor(readonly options: TestPop3ServerOptions) {
    this.mails = (options.mails ?? []).map((mail, index) => ({
      uid: `uid-${String(index + 1).padStart(4, "0")}`,
      bytes: typeof mail === "string" ? Buffer.from(mail, "utf8") : mail
    }))
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** The lines the server received, without session or TLS details. */
  lines(): Array<string> {
    return this.received.map((command) => command.line)
  }

  start(): Promise<void> {
    const onSocket = (socket: net.Socket) => this.serve(socket)
    this.server =
      this.options.implicitTls === undefined
        ? net.createServer(onSocket)
        : tls.createServer({ key: this.options.implicitTls.key, cert: this.options.implicitTls.cert }, onSocket)
    this.server.on("tlsClientError", () => {})
    return new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve))
  }

  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  private serve(initial: net.Socket) {
    const id = ++this.connections
    let socket = initial
    let buffer = ""
    let hung = false
    const session = {
      id,
      secure: this.options.implicitTls !== undefined,
      user: undefined as string | undefined,
      authenticated: false,
      deleted: new Set<number>(),
      // the maildrop as it was at login: message numbers stay those of the session (RFC 1939), whatever other
      // sessions delete meanwhile
      maildrop: undefined as Array<{ uid: string; bytes: Uint8Array }> | undefined,
      sasl: undefined as { mechanism: string; step: number; username?: string } | undefined
    }
    this.sockets.add(socket)
    socket.on("error", () => {})
    socket.on("close", () => {
      this.sockets.delete(socket)
      if (this.locked === id) this.locked = undefined
    })

    const write = (data: string | Uint8Array) => {
      if (!socket.destroyed) socket.write(data)
    }
    // set once a reply was held: every later reply of the session is chained behind it, so the order stays
    let held: Promise<void> | undefined
    const perform = (reply: Reply): void => {
      if (held !== undefined) held = held.then(() => performNow(reply))
      else held = performNow(reply)
    }
    const performNow = (reply: Reply): Promise<void> | undefined => {
      if (typeof reply === "string" || reply instanceof Uint8Array) write(reply)
      else if (reply._tag === "Hang") hung = true
      else if (reply._tag === "Hold") {
        const release = () => performNow(reply.reply)
        return reply.until.then(release, release)
      } else if (reply._tag === "Trickle") {
        reply.parts.forEach((part, index) => setTimeout(() => write(part), index * reply.pauseMillis))
      } else {
        write(reply.data)
        socket.end()
        setTimeout(() => socket.destroy(), 50)
      }
    }

    const onData = (data: Buffer) => {
      if (hung) return
      const read = ++this.reads
      buffer += data.toString("latin1")
      let lineFeed: number
      while (!hung && (lineFeed = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, lineFeed).replace(/\r$/, "")
        buffer = buffer.slice(lineFeed + 1)
        this.received.push({ session: id, line, secure: session.secure, read })
        const upgrade = this.handle(line, session, perform)
        if (upgrade !== undefined) {
          socket.off("data", onData)
          const secure = new tls.TLSSocket(socket, { isServer: true, key: upgrade.key, cert: upgrade.cert })
          secure.on("error", () => {})
          secure.on("data", onData)
          this.sockets.add(secure)
          socket = secure
          session.secure = true
          buffer = ""
          return
        }
      }
    }
    socket.on("data", onData)
    perform(this.options.greeting ?? `+OK rebound test server ready ${this.timestamp}\r\n`)
  }

  private capabilityLines(secure: boolean): Array<string> {
    const lines = [...(this.options.capabilities ?? ["TOP", "USER", "RESP-CODES", "AUTH-RESP-CODE"])]
    if (this.options.uidl !== false) lines.push("UIDL")
    if (this.options.pipelining !== false) lines.push("PIPELINING")
    if (this.options.starttls !== undefined && !secure) lines.push("STLS")
    const sasl = this.options.sasl ?? ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
    if (sasl.length > 0) lines.push(`SASL ${sasl.join(" ")}`)
    return lines
  }

  private login(
    session: { id: number; authenticated: boolean; maildrop: Array<{ uid: string; bytes: Uint8Array }> | undefined },
    user: string,
    ok: boolean
  ): string {
    if (!ok) return "-ERR [AUTH] invalid credentials\r\n"
    if (this.options.exclusive === true && this.locked !== undefined && this.locked !== session.id) {
      return "-ERR [IN-USE] the maildrop is locked by another session\r\n"
    }
    if (this.options.exclusive === true) this.locked = session.id
    session.authenticated = true
    session.maildrop = [...this.mails]
    return `+OK ${user} logged in\r\n`
  }

  private handle(
    line: string,
    session: {
      id: number
      secure: boolean
      user: string | undefined
      authenticated: boolean
      deleted: Set<number>
      maildrop: Array<{ uid: string; bytes: Uint8Array }> | undefined
      sasl: { mechanism: string; step: number; username?: string } | undefined
    },
    perform: (reply: Reply) => void
  ): TestCertificate | undefined {
    const users = this.options.users ?? { bounce: "secret" }
    if (session.sasl !== undefined) {
      const sasl = session.sasl
      const decoded = Buffer.from(line, "base64").toString("utf8")
      if (line === "*") {
        session.sasl = undefined
        perform("-ERR authentication cancelled\r\n")
      } else if (sasl.mechanism === "LOGIN" && sasl.step === 0) {
        sasl.step = 1
        sasl.username = decoded
        perform(`+ ${Buffer.from("Password:").toString("base64")}\r\n`)
      } else if (sasl.mechanism === "LOGIN") {
        session.sasl = undefined
        perform(this.login(session, sasl.username ?? "", users[sasl.username ?? ""] === decoded))
      } else if (sasl.step === 1) {
        // the answer to an OAuth error challenge
        session.sasl = undefined
        perform("-ERR [AUTH] invalid token\r\n")
      } else {
        session.sasl = undefined
        perform(this.saslInitial(sasl.mechanism, line, session, users))
      }
      return undefined
    }
    const [rawKeyword = "", ...args] = line.split(" ")
    const keyword = rawKeyword.toUpperCase()
    const hook = this.options.onCommand?.({ keyword, args, session, server: this })
    if (hook !== undefined) {
      perform(hook)
      return undefined
    }
    const maildrop = session.maildrop ?? this.mails
    const live = () => maildrop.filter((_, index) => !session.deleted.has(index + 1))
    const message = (arg: string | undefined) => {
      const number = Number(arg)
      const mail = maildrop[number - 1]
      return mail === undefined || session.deleted.has(number) ? undefined : { number, mail }
    }
    const sizeOf = (bytes: Uint8Array) => this.options.listSize?.(bytes) ?? bytes.length
    switch (keyword) {
      case "CAPA":
        if (this.options.capabilities === null) return (perform("-ERR unknown command\r\n"), undefined)
        perform(`+OK capability list follows\r\n${this.capabilityLines(session.secure).join("\r\n")}\r\n.\r\n`)
        return undefined
      case "STLS":
        if (this.options.starttls === undefined || session.secure) return (perform("-ERR no STLS\r\n"), undefined)
        perform("+OK begin TLS negotiation\r\n")
        return this.options.starttls
      case "QUIT": {
        if (session.authenticated) {
          const removed = new Set([...session.deleted].map((number) => maildrop[number - 1]!.uid))
          for (let i = this.mails.length - 1; i >= 0; i--) if (removed.has(this.mails[i]!.uid)) this.mails.splice(i, 1)
        }
        perform({ _tag: "WriteAndClose", data: "+OK bye\r\n" })
        return undefined
      }
      case "NOOP":
        perform("+OK\r\n")
        return undefined
    }
    if (!session.authenticated) {
      switch (keyword) {
        case "USER":
          session.user = args[0]
          perform(users[args[0] ?? ""] === undefined ? "-ERR [AUTH] unknown user\r\n" : "+OK send PASS\r\n")
          return undefined
        case "PASS": {
          const user = session.user ?? ""
          perform(this.login(session, user, users[user] !== undefined && users[user] === args.join(" ")))
          return undefined
        }
        case "APOP": {
          const [user = "", digest] = args
          const secret = users[user]
          const expected =
            secret === undefined
              ? undefined
              : createHash("md5")
                  .update(this.timestamp + secret)
                  .digest("hex")
          perform(this.login(session, user, expected !== undefined && expected === digest))
          return undefined
        }
        case "AUTH": {
          const mechanism = (args[0] ?? "").toUpperCase()
          const offered = this.options.sasl ?? ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"]
          if (!offered.includes(mechanism)) return (perform("-ERR unsupported mechanism\r\n"), undefined)
          if (mechanism === "LOGIN") {
            session.sasl = { mechanism, step: 0 }
            perform(`+ ${Buffer.from("Username:").toString("base64")}\r\n`)
          } else if (args[1] === undefined) {
            session.sasl = { mechanism, step: 0 }
            perform("+ \r\n")
          } else {
            perform(this.saslInitial(mechanism, args[1], session, users))
          }
          return undefined
        }
        default:
          perform("-ERR not authenticated\r\n")
          return undefined
      }
    }
    switch (keyword) {
      case "STAT": {
        const mails = live()
        perform(`+OK ${mails.length} ${mails.reduce((sum, m) => sum + sizeOf(m.bytes), 0)}\r\n`)
        return undefined
      }
      case "LIST":
      case "UIDL": {
        if (keyword === "UIDL" && this.options.uidl === false) return (perform("-ERR unknown command\r\n"), undefined)
        const value = (number: number, bytes: Uint8Array, uid: string) =>
          `${number} ${keyword === "LIST" ? sizeOf(bytes) : uid}`
        if (args[0] !== undefined) {
          const found = message(args[0])
          perform(
            found === undefined
              ? "-ERR no such message\r\n"
              : `+OK ${value(found.number, found.mail.bytes, found.mail.uid)}\r\n`
          )
          return undefined
        }
        const lines = maildrop.flatMap((mail, index) =>
          session.deleted.has(index + 1) ? [] : [value(index + 1, mail.bytes, mail.uid)]
        )
        perform(`+OK\r\n${lines.map((l) => `${l}\r\n`).join("")}.\r\n`)
        return undefined
      }
      case "RETR":
      case "TOP": {
        const found = message(args[0])
        if (found === undefined) return (perform("-ERR no such message\r\n"), undefined)
        let body = found.mail.bytes
        if (keyword === "TOP") {
          const text = Buffer.from(body).toString("latin1")
          const headerEnd = text.indexOf("\r\n\r\n")
          const head = headerEnd < 0 ? text : text.slice(0, headerEnd + 4)
          const bodyLines = headerEnd < 0 ? [] : text.slice(headerEnd + 4).split("\r\n")
          body = Buffer.from(
            head +
              bodyLines
                .slice(0, Number(args[1] ?? 0))
                .map((l) => `${l}\r\n`)
                .join(""),
            "latin1"
          )
        }
        perform(Buffer.concat([Buffer.from(`+OK ${body.length} octets\r\n`), encodeMultiline(body)]))
        return undefined
      }
      case "DELE": {
        const found = message(args[0])
        if (found === undefined) return (perform("-ERR no such message\r\n"), undefined)
        session.deleted.add(found.number)
        perform(`+OK message ${found.number} deleted\r\n`)
        return undefined
      }
      case "RSET":
        session.deleted.clear()
        perform("+OK\r\n")
        return undefined
      default:
        perform("-ERR unknown command\r\n")
        return undefined
    }
  }

  private saslInitial(
    mechanism: string,
    response: string,
    session: {
      id: number
      authenticated: boolean
      maildrop: Array<{ uid: string; bytes: Uint8Array }> | undefined
      sasl: { mechanism: string; step: number } | undefined
    },
    users: Readonly<Record<string, string>>
  ): string {
    const decoded = Buffer.from(response, "base64").toString("utf8")
    if (mechanism === "PLAIN") {
      const [, user = "", password = ""] = decoded.split("\0")
      return this.login(session, user, users[user] === password)
    }
    const tokens = this.options.tokens ?? []
    const user = mechanism === "XOAUTH2" ? /^user=([^\x01]*)/.exec(decoded)?.[1] : /^n,a=([^,]*),/.exec(decoded)?.[1]
    const token = /auth=Bearer ([^\x01]*)/.exec(decoded)?.[1]
    if (user !== undefined && token !== undefined && tokens.includes(token)) return this.login(session, user, true)
    session.sasl = { mechanism, step: 1 }
    const challenge = JSON.stringify({ status: "invalid_token", schemes: "bearer", scope: "pop" })
    return `+ ${Buffer.from(challenge).toString("base64")}\r\n`
  }
}

/** Starts a test server for the scope. */
export const testPop3Server = (options: TestPop3ServerOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const server = new TestPop3Server(options)
      await server.start()
      return server
    }),
    (server) => Effect.promise(() => server.stop())
  )

/**
 * A `rebound` configuration's POP3 account "bounces" on a test server: plaintext on loopback, user "bounce" with
 * password "secret" (the server's default user); `overrides` replace or add keys.
 */
export const loopbackAccount = (server: TestPop3Server, overrides: Record<string, unknown> = {}) => ({
  type: "pop3",
  name: "bounces",
  host: "127.0.0.1",
  port: server.port,
  tls: "none",
  auth: { mechanism: "user", username: "bounce", password: "secret" },
  ...overrides
})
