/**
 * A small SMTP client for the listener's tests and benchmark: one command at a time, replies parsed as RFC 5321
 * section 4.2 multi-line replies, DATA dot-stuffed, STARTTLS over the same socket, and raw writes for fault tests.
 */
import * as net from "node:net"
import * as tls from "node:tls"

export interface SmtpReply {
  readonly code: number
  readonly lines: ReadonlyArray<string>
  /** the text of every line joined by a space, without the codes */
  readonly text: string
}

export class SmtpClosed extends Error {
  constructor() {
    super("the SMTP connection was closed")
  }
}

export class SmtpTestClient {
  private buffer = ""
  private readonly replies: Array<SmtpReply> = []
  private readonly waiting: Array<{ resolve: (reply: SmtpReply) => void; reject: (error: Error) => void }> = []
  private closed = false
  /** resolves when the socket is closed (by either side) */
  readonly ended: Promise<void>
  private markEnded!: () => void

  private constructor(private socket: net.Socket) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve))
    this.attach(socket)
  }

  private attach(socket: net.Socket) {
    socket.setEncoding("latin1")
    socket.on("data", (chunk: string) => this.onData(chunk))
    socket.on("error", () => undefined)
    socket.on("close", () => {
      if (socket !== this.socket) return
      this.closed = true
      for (const waiter of this.waiting.splice(0)) waiter.reject(new SmtpClosed())
      this.markEnded()
    })
  }

  private onData(chunk: string) {
    this.buffer += chunk
    for (;;) {
      const lines = this.buffer.split("\r\n")
      const last = lines.findIndex((line) => /^\d{3}(?: |$)/.test(line))
      if (last < 0 || last === lines.length - 1) return
      const replyLines = lines.slice(0, last + 1)
      this.buffer = lines.slice(last + 1).join("\r\n")
      const reply: SmtpReply = {
        code: Number(replyLines[last]!.slice(0, 3)),
        lines: replyLines,
        text: replyLines.map((line) => line.slice(4)).join(" ")
      }
      const waiter = this.waiting.shift()
      if (waiter === undefined) this.replies.push(reply)
      else waiter.resolve(reply)
    }
  }

  /** Connects and reads the greeting. */
  static async connect(port: number, host = "127.0.0.1"): Promise<{ client: SmtpTestClient; greeting: SmtpReply }> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ port, host }, () => resolve(socket))
      socket.once("error", reject)
    })
    const client = new SmtpTestClient(socket)
    return { client, greeting: await client.read() }
  }

  /** The next reply. */
  read(): Promise<SmtpReply> {
    const ready = this.replies.shift()
    if (ready !== undefined) return Promise.resolve(ready)
    if (this.closed) return Promise.reject(new SmtpClosed())
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }))
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data)
  }

  /** Sends one command line and reads its reply. */
  command(line: string): Promise<SmtpReply> {
    this.write(`${line}\r\n`)
    return this.read()
  }

  /** RFC 3207: STARTTLS, then the TLS handshake on the same socket. */
  async starttls(options: tls.ConnectionOptions = {}): Promise<SmtpReply> {
    const reply = await this.command("STARTTLS")
    if (reply.code !== 220) return reply
    const plain = this.socket
    plain.removeAllListeners("data")
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ ...options, socket: plain }, () => resolve(socket))
      socket.once("error", reject)
    })
    this.socket = secure
    this.attach(secure)
    return reply
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.socket instanceof tls.TLSSocket ? this.socket : undefined
  }

  /** Sends DATA, the message dot-stuffed (RFC 5321 section 4.5.2), and the final dot; returns both replies. */
  async data(message: Uint8Array | string): Promise<{ readonly start: SmtpReply; readonly end: SmtpReply | null }> {
    const start = await this.command("DATA")
    if (start.code !== 354) return { start, end: null }
    this.write(dotStuff(message))
    return { start, end: await this.read() }
  }

  /** Closes politely (QUIT) when possible. */
  async quit(): Promise<void> {
    if (!this.closed) {
      await this.command("QUIT").catch(() => undefined)
      this.socket.end()
    }
    await this.ended
  }

  /** Cuts the connection at once (a client that dies). */
  destroy(): void {
    this.socket.destroy()
  }

  get isClosed(): boolean {
    return this.closed
  }
}

/** The message as DATA sends it: CRLF line ends, leading dots doubled, the terminating dot line. */
export const dotStuff = (message: Uint8Array | string): Buffer => {
  const text = Buffer.isBuffer(message)
    ? message.toString("latin1")
    : typeof message === "string"
      ? Buffer.from(message, "utf8").toString("latin1")
      : Buffer.from(message).toString("latin1")
  const lines = text.replace(/\r?\n/g, "\r\n").replace(/\r\n$/, "").split("\r\n")
  return Buffer.from(
    lines.map((line) => (line.startsWith(".") ? `.${line}` : line)).join("\r\n") + "\r\n.\r\n",
    "latin1"
  )
}

/** One whole transaction on a fresh connection; every reply, for assertions. */
export const sendMail = async (
  port: number,
  mail: {
    readonly from: string
    readonly to: ReadonlyArray<string>
    readonly data: Uint8Array | string
    readonly mailParameters?: string
  }
): Promise<{
  readonly mailFrom: SmtpReply
  readonly rcptTo: ReadonlyArray<SmtpReply>
  readonly data: SmtpReply | null
}> => {
  const { client } = await SmtpTestClient.connect(port)
  try {
    await client.command("EHLO client.test")
    const mailFrom = await client.command(`MAIL FROM:<${mail.from}>${mail.mailParameters ?? ""}`)
    const rcptTo: Array<SmtpReply> = []
    for (const recipient of mail.to) rcptTo.push(await client.command(`RCPT TO:<${recipient}>`))
    const accepted = mailFrom.code === 250 && rcptTo.some((reply) => reply.code === 250)
    const data = accepted ? (await client.data(mail.data)).end : null
    return { mailFrom, rcptTo, data }
  } finally {
    await client.quit()
  }
}
