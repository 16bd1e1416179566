import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as net from "node:net"
import * as tls from "node:tls"
import { MailboxError } from "./mailbox.js"
import {
  decodeMultiline,
  multilineStart,
  type MultilineState,
  type MultilineStep,
  parseStatusLine,
  type StatusLine
} from "./pop3-codec.js"

/** How to reach the server and how long to wait for it. */
export interface ConnectionOptions {
  readonly host: string
  readonly port: number
  readonly implicitTls: boolean
  readonly tls: tls.ConnectionOptions
  readonly connectTimeout: Duration.Duration
  readonly commandTimeout: Duration.Duration
  readonly maxLineLength: number
}

// Reading pauses the socket above this many buffered octets, so a slow consumer never makes memory grow.
const highWaterMark = 1024 * 1024
const lowWaterMark = 256 * 1024
const LF = 0x0a
const CR = 0x0d

/** A RETR or TOP reply being read: its status line, then its body, kept up to `cap` octets. */
export interface MessageReply {
  status: StatusLine | undefined
  decoder: MultilineState
  readonly pieces: Array<Uint8Array>
  /** octets kept, or -1 once the body passed the cap (the rest is read and dropped) */
  kept: number
  total: number
  readonly cap: number
}

/** A reply to read, keeping at most `cap` octets of its body. */
export const messageReply = (cap: number): MessageReply => ({
  status: undefined,
  decoder: multilineStart,
  pieces: [],
  kept: 0,
  total: 0,
  cap
})

const networkErrorCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EADDRNOTAVAIL",
  "EPIPE"
])

const errorCode = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** Whether a socket error happened before TLS was up (a network failure) or in the handshake (a TLS failure). */
const connectFailure = (error: unknown, host: string, port: number, duringTls: boolean): MailboxError => {
  const code = errorCode(error)
  const network = code !== undefined && networkErrorCodes.has(code)
  return new MailboxError({
    reason: duringTls && !network ? "Tls" : "Connect",
    message: `${duringTls && !network ? "TLS with" : "cannot connect to"} ${host}:${port}: ${describe(error)}`,
    cause: error
  })
}

/**
 * A POP3 byte stream over node:net or node:tls: buffered reads with backpressure and a timeout on every wait,
 * status lines, multi-line bodies, and the STLS upgrade. Any timeout or protocol violation breaks the connection:
 * its state is unknown, so every later call fails with "Closed".
 */
export class Pop3Connection {
  private socket: net.Socket
  private readonly queue: Array<Buffer> = []
  private queued = 0
  /** Chunks received, and chunks a waiter has already been told about: a partial line must wait for new bytes. */
  private arrivals = 0
  private announced = 0
  private paused = false
  private ended = false
  private failure: MailboxError | undefined
  private wake: (() => void) | undefined
  private secureTransport: boolean
  private readonly onData = (chunk: Buffer) => {
    this.queue.push(chunk)
    this.queued += chunk.length
    this.arrivals++
    if (this.queued > highWaterMark && !this.paused) {
      this.paused = true
      this.socket.pause()
    }
    this.notify()
  }
  private readonly onEnd = () => {
    this.ended = true
    this.notify()
  }
  private readonly onError = (error: Error) => {
    this.failure ??= new MailboxError({
      reason: "Closed",
      message: `the connection to ${this.options.host}:${this.options.port} failed: ${error.message}`,
      cause: error
    })
    this.notify()
  }

  private readonly timeoutMillis: number

  private constructor(
    socket: net.Socket,
    readonly options: ConnectionOptions
  ) {
    this.socket = socket
    this.timeoutMillis = Duration.toMillis(options.commandTimeout)
    this.secureTransport = options.implicitTls
    this.attach(socket)
  }

  /** Opens the connection (TLS included when implicit); the scope closing destroys the socket. */
  static readonly open = (options: ConnectionOptions) =>
    Effect.acquireRelease(
      Effect.async<net.Socket, MailboxError>((resume) => {
        const socket = options.implicitTls
          ? tls.connect({ ...options.tls, host: options.host, port: options.port })
          : net.connect({ host: options.host, port: options.port })
        let tcpUp = false
        socket.once("connect", () => (tcpUp = true))
        const onError = (error: Error) => {
          socket.destroy()
          resume(Effect.fail(connectFailure(error, options.host, options.port, options.implicitTls && tcpUp)))
        }
        socket.once("error", onError)
        socket.once(options.implicitTls ? "secureConnect" : "connect", () => {
          socket.off("error", onError)
          resume(Effect.succeed(socket))
        })
        return Effect.sync(() => socket.destroy())
      }).pipe(
        Effect.timeoutFail({
          duration: options.connectTimeout,
          onTimeout: () =>
            new MailboxError({
              reason: "Timeout",
              message: `no connection to ${options.host}:${options.port} within ${Duration.format(options.connectTimeout)}`
            })
        }),
        Effect.map((socket) => {
          socket.setNoDelay(true)
          return new Pop3Connection(socket, options)
        })
      ),
      (connection) => Effect.sync(() => connection.destroy())
    )

  /** Whether the bytes travel under TLS. */
  get secure(): boolean {
    return this.secureTransport
  }

  /** Whether the connection can still be used. */
  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed
  }

  private attach(socket: net.Socket) {
    socket.on("data", this.onData)
    socket.on("end", this.onEnd)
    socket.on("close", this.onEnd)
    socket.on("error", this.onError)
  }

  private detach(socket: net.Socket) {
    socket.off("data", this.onData)
    socket.off("end", this.onEnd)
    socket.off("close", this.onEnd)
    socket.off("error", this.onError)
    // An error after detaching must not crash the process.
    socket.on("error", () => {})
  }

  private notify() {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  /** Breaks the connection for good: later calls fail with this error's message. */
  break(error: MailboxError): MailboxError {
    this.failure ??= new MailboxError({
      reason: "Closed",
      message: `the connection was abandoned after an earlier failure: ${error.message}`
    })
    this.socket.destroy()
    return error
  }

  /** Whether the open socket keeps the process alive (Node's ref / unref): a connection made ahead does not. */
  keepAlive(keep: boolean): void {
    if (keep) this.socket.ref()
    else this.socket.unref()
  }

  /** Destroys the socket without a word to the server (no QUIT: RFC 1939 section 6, nothing is deleted). */
  destroy(): void {
    this.failure ??= new MailboxError({ reason: "Closed", message: "the connection is closed" })
    this.socket.destroy()
  }

  /** Half-closes after QUIT, letting the server finish. */
  end(): void {
    this.failure ??= new MailboxError({ reason: "Closed", message: "the session has ended" })
    this.socket.end()
  }

  private timeoutError(what: string) {
    return new MailboxError({
      reason: "Timeout",
      message: `timed out after ${Duration.format(this.options.commandTimeout)} waiting for ${what} from ${this.options.host}:${this.options.port}`
    })
  }

  /** Takes the first buffered chunk; the socket resumes once the buffer has drained below the low-water mark. */
  private shift(): Buffer | undefined {
    const chunk = this.queue.shift()
    if (chunk !== undefined) this.consumed(chunk.length)
    return chunk
  }

  private consumed(octets: number) {
    this.queued -= octets
    if (this.paused && this.queued < lowWaterMark) {
      this.paused = false
      this.socket.resume()
    }
  }

  private unread(rest: Uint8Array) {
    if (rest.length === 0) return
    this.queue.unshift(Buffer.from(rest.buffer, rest.byteOffset, rest.length))
    this.queued += rest.length
  }

  /**
   * Waits until bytes arrive that the caller has not seen yet, at most the command timeout. Returning on bytes already
   * buffered would spin when a reply line spans two TLS records.
   */
  readonly waitForData = (what: string): Effect.Effect<void, MailboxError> =>
    Effect.suspend(() => {
      if (this.arrivals !== this.announced) {
        this.announced = this.arrivals
        return Effect.void
      }
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.ended) {
        return Effect.fail(
          this.break(
            new MailboxError({
              reason: "Closed",
              message: `${this.options.host}:${this.options.port} closed the connection while the client waited for ${what}`
            })
          )
        )
      }
      // A plain timer: Effect.timeoutFail forks a fiber per wait, which costs more than the wait on loopback.
      return Effect.async<void, MailboxError>((resume) => {
        const timer = setTimeout(() => {
          this.wake = undefined
          resume(Effect.fail(this.break(this.timeoutError(what))))
        }, this.timeoutMillis)
        this.wake = () => {
          clearTimeout(timer)
          this.announced = this.arrivals
          resume(Effect.void)
        }
        return Effect.sync(() => {
          clearTimeout(timer)
          this.wake = undefined
        })
      })
    })

  /** Runs `attempt` on the buffered data, waiting for more until it gives a result or an error. */
  private until<A>(what: string, attempt: () => A | undefined | MailboxError): Effect.Effect<A, MailboxError> {
    const loop: Effect.Effect<A, MailboxError> = Effect.suspend(() => {
      const result = attempt()
      if (result instanceof MailboxError) return Effect.fail(result)
      if (result !== undefined) return Effect.succeed(result)
      return Effect.zipRight(this.waitForData(what), loop)
    })
    return loop
  }

  /** Queues a command line on the socket; a failed write surfaces as a socket error on the next read. */
  writeNow(data: string): MailboxError | undefined {
    if (this.failure !== undefined) return this.failure
    this.socket.write(data, "utf8")
    return undefined
  }

  /** Writes command lines. Commands are small: there is no waiting for the kernel. */
  readonly write = (data: string): Effect.Effect<void, MailboxError> =>
    Effect.suspend(() => {
      const failure = this.writeNow(data)
      return failure === undefined ? Effect.void : Effect.fail(failure)
    })

  /** A complete buffered line without its line end, undefined until one is complete, or the over-long line error. */
  private takeLine(what: string): string | undefined | MailboxError {
    const max = this.options.maxLineLength
    while (true) {
      const first = this.queue[0]
      if (first === undefined) return undefined
      const lineFeed = first.indexOf(LF)
      if (lineFeed < 0) {
        if (first.length > max || this.queue.length === 1)
          return first.length > max ? this.lineTooLong(what) : undefined
        // A line split across reads: join the two first chunks (bounded by maxLineLength).
        this.queue.splice(0, 2, Buffer.concat([first, this.queue[1]!]))
        continue
      }
      if (lineFeed > max) return this.lineTooLong(what)
      if (lineFeed + 1 === first.length) this.queue.shift()
      else this.queue[0] = first.subarray(lineFeed + 1)
      this.consumed(lineFeed + 1)
      const end = lineFeed > 0 && first[lineFeed - 1] === CR ? lineFeed - 1 : lineFeed
      return first.toString("latin1", 0, end)
    }
  }

  private lineTooLong(what: string): MailboxError {
    return this.break(
      new MailboxError({
        reason: "Protocol",
        message: `${what} from ${this.options.host} is longer than ${this.options.maxLineLength} octets without a line end`
      })
    )
  }

  /** A complete buffered status line, without waiting: undefined when none is complete yet. */
  takeStatus(what: string): StatusLine | undefined | MailboxError {
    const line = this.takeLine(what)
    if (line === undefined || line instanceof MailboxError) return line
    const status = parseStatusLine(line)
    return Either.isRight(status)
      ? status.right
      : this.break(new MailboxError({ reason: "Protocol", message: `${what}: ${status.left}` }))
  }

  /** One line without its line end (CRLF, or a bare LF), as latin1 text; longer than maxLineLength breaks. */
  readonly readLine = (what: string): Effect.Effect<string, MailboxError> => this.until(what, () => this.takeLine(what))

  /** A status line; anything that is not one breaks the connection. */
  readonly readStatus = (what: string): Effect.Effect<StatusLine, MailboxError> =>
    this.until(what, () => this.takeStatus(what))

  /** The lines of a multi-line listing (CAPA, LIST, UIDL), dot-unstuffed, without the terminator. */
  readonly readListing = (what: string, limit = Infinity): Effect.Effect<Array<string>, MailboxError> => {
    const lines: Array<string> = []
    return this.until(what, () => {
      while (true) {
        const line = this.takeLine(what)
        if (line === undefined || line instanceof MailboxError) return line
        if (line === ".") return lines
        // lines past the limit are read and dropped: a listing of 100,000 mails held as strings took 40 MB
        if (lines.length < limit) lines.push(line.startsWith(".") ? line.slice(1) : line)
      }
    })
  }

  /**
   * Advances a RETR / TOP reply on the buffered data: its status line, then its body. True once the reply is
   * complete, false when more data is needed.
   */
  advanceReply(reply: MessageReply, what: string): boolean | MailboxError {
    if (reply.status === undefined) {
      const status = this.takeStatus(what)
      if (status === undefined || status instanceof MailboxError) return status ?? false
      reply.status = status
      if (status._tag !== "Ok") return true
    }
    while (true) {
      const chunk = this.shift()
      if (chunk === undefined) return false
      const step = decodeMultiline(reply.decoder, chunk)
      for (const piece of step.output) {
        reply.total += piece.length
        if (reply.kept >= 0 && reply.kept + piece.length <= reply.cap) {
          reply.pieces.push(piece)
          reply.kept += piece.length
        } else if (reply.kept >= 0) {
          reply.kept = -1
          reply.pieces.length = 0
        }
      }
      reply.decoder = step.state
      if (step.done) {
        this.unread(step.rest)
        return true
      }
    }
  }

  /** Reads a RETR / TOP reply to its end. */
  readonly readReply = (reply: MessageReply, what: string): Effect.Effect<MessageReply, MailboxError> =>
    this.until(what, () => {
      const done = this.advanceReply(reply, what)
      return done === true ? reply : done === false ? undefined : done
    })

  /** Reads and drops the rest of a multi-line body, from decoder state `from`; gives the octets dropped. */
  readonly skipBody = (what: string, from: MultilineState): Effect.Effect<number, MailboxError> => {
    const reply = messageReply(0)
    reply.status = { _tag: "Ok", text: "" }
    reply.decoder = from
    return this.until(what, () => {
      const done = this.advanceReply(reply, what)
      return done === true ? reply.total : done === false ? undefined : done
    })
  }

  /** One step of a body read: the pieces of the next chunk and whether the terminator was reached. */
  readonly readBodyStep = (what: string, state: MultilineState): Effect.Effect<MultilineStep, MailboxError> =>
    this.until(what, () => {
      const chunk = this.shift()
      if (chunk === undefined) return undefined
      const step = decodeMultiline(state, chunk)
      if (step.done) this.unread(step.rest)
      return step
    })

  /**
   * RFC 2595 section 4: after "+OK" to STLS, start TLS on the same socket. Bytes the server sent after its "+OK"
   * would have been injected in clear text before the handshake, so they fail the upgrade.
   */
  readonly startTls: Effect.Effect<void, MailboxError> = Effect.suspend(() => {
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.queued > 0) {
      return Effect.fail(
        this.break(
          new MailboxError({
            reason: "Tls",
            message: `${this.options.host} sent data after accepting STLS, before the TLS handshake (possible injection)`
          })
        )
      )
    }
    const plain = this.socket
    this.detach(plain)
    return Effect.async<tls.TLSSocket, MailboxError>((resume) => {
      const secure = tls.connect({ ...this.options.tls, socket: plain })
      const onError = (error: Error) => {
        secure.destroy()
        resume(Effect.fail(connectFailure(error, this.options.host, this.options.port, true)))
      }
      secure.once("error", onError)
      secure.once("secureConnect", () => {
        secure.off("error", onError)
        resume(Effect.succeed(secure))
      })
      return Effect.sync(() => secure.destroy())
    }).pipe(
      Effect.timeoutFail({
        duration: this.options.connectTimeout,
        onTimeout: () =>
          new MailboxError({ reason: "Timeout", message: `no TLS handshake with ${this.options.host} after STLS` })
      }),
      Effect.tapError((error) => Effect.sync(() => this.break(error))),
      Effect.map((secure) => {
        this.socket = secure
        this.secureTransport = true
        this.attach(secure)
      })
    )
  })
}
