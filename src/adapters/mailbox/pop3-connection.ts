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
  private paused = false
  private ended = false
  private failure: MailboxError | undefined
  private wake: (() => void) | undefined
  private secureTransport: boolean
  private readonly onData = (chunk: Buffer) => {
    this.queue.push(chunk)
    this.queued += chunk.length
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
      message: `no ${what} from ${this.options.host}:${this.options.port} within ${Duration.format(this.options.commandTimeout)}`
    })
  }

  /** The next buffered chunk, waiting at most the command timeout for one. */
  private readonly nextChunk = (what: string): Effect.Effect<Buffer, MailboxError> =>
    Effect.suspend(() => {
      const chunk = this.queue.shift()
      if (chunk !== undefined) {
        this.queued -= chunk.length
        if (this.paused && this.queued < lowWaterMark) {
          this.paused = false
          this.socket.resume()
        }
        return Effect.succeed(chunk)
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
          resume(Effect.void)
        }
        return Effect.sync(() => {
          clearTimeout(timer)
          this.wake = undefined
        })
      }).pipe(Effect.zipRight(this.nextChunk(what)))
    })

  private unread(rest: Uint8Array) {
    if (rest.length === 0) return
    this.queue.unshift(Buffer.from(rest.buffer, rest.byteOffset, rest.length))
    this.queued += rest.length
  }

  /**
   * Queues a command line on the socket. Commands are small, so there is no waiting for the kernel: a failed write
   * surfaces as a socket error on the next read.
   */
  readonly write = (data: string): Effect.Effect<void, MailboxError> =>
    Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      this.socket.write(data, "utf8")
      return Effect.void
    })

  /** One line without its line end (CRLF, or a bare LF), as latin1 text; longer than maxLineLength breaks. */
  readonly readLine = (what: string): Effect.Effect<string, MailboxError> =>
    Effect.gen(this, function* () {
      const parts: Array<Buffer> = []
      let length = 0
      while (true) {
        const chunk = yield* this.nextChunk(what)
        const lineFeed = chunk.indexOf(LF)
        if (lineFeed < 0) {
          parts.push(chunk)
          length += chunk.length
          if (length > this.options.maxLineLength) return yield* this.lineTooLong(what)
          continue
        }
        if (length + lineFeed > this.options.maxLineLength) return yield* this.lineTooLong(what)
        this.unread(chunk.subarray(lineFeed + 1))
        parts.push(chunk.subarray(0, lineFeed))
        const line = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
        const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length
        return line.toString("latin1", 0, end)
      }
    })

  private lineTooLong(what: string) {
    return Effect.fail(
      this.break(
        new MailboxError({
          reason: "Protocol",
          message: `${what} from ${this.options.host} is longer than ${this.options.maxLineLength} octets without a line end`
        })
      )
    )
  }

  /** A status line; anything that is not one breaks the connection. */
  readonly readStatus = (what: string): Effect.Effect<StatusLine, MailboxError> =>
    Effect.flatMap(this.readLine(what), (line) => {
      const status = parseStatusLine(line)
      return Either.isRight(status)
        ? Effect.succeed(status.right)
        : Effect.fail(this.break(new MailboxError({ reason: "Protocol", message: `${what}: ${status.left}` })))
    })

  /** The lines of a multi-line listing (CAPA, LIST, UIDL), dot-unstuffed, without the terminator. */
  readonly readListing = (what: string): Effect.Effect<Array<string>, MailboxError> =>
    Effect.gen(this, function* () {
      const lines: Array<string> = []
      while (true) {
        const line = yield* this.readLine(what)
        if (line === ".") return lines
        lines.push(line.startsWith(".") ? line.slice(1) : line)
      }
    })

  /**
   * Reads a multi-line body to its terminator, handing each unstuffed piece to `onPiece` (views into the received
   * chunks). Returns the number of octets delivered.
   */
  readonly readBody = (
    what: string,
    onPiece: (piece: Uint8Array) => void,
    from: MultilineState = multilineStart
  ): Effect.Effect<number, MailboxError> =>
    Effect.gen(this, function* () {
      let state = from
      let total = 0
      while (true) {
        const chunk = yield* this.nextChunk(what)
        const step = decodeMultiline(state, chunk)
        for (const piece of step.output) {
          total += piece.length
          onPiece(piece)
        }
        if (step.done) {
          this.unread(step.rest)
          return total
        }
        state = step.state
      }
    })

  /** One step of a body read: the pieces of the next chunk and whether the terminator was reached. */
  readonly readBodyStep = (what: string, state: MultilineState): Effect.Effect<MultilineStep, MailboxError> =>
    Effect.map(this.nextChunk(what), (chunk) => {
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
