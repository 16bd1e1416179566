import { Effect } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly answered: number
}

/**
 * A webhook receiver on 127.0.0.1: records every request and answers with the next status of `statuses` (the last
 * one repeats; `answer` starts a new list). Closed when the scope closes.
 */
export const receiver = (initial: ReadonlyArray<number>) =>
  Effect.acquireRelease(
    Effect.async<{
      url: string
      received: Array<Received>
      server: http.Server
      answer: (statuses: ReadonlyArray<number>) => void
    }>((resume) => {
      const received: Array<Received> = []
      let statuses = initial
      let offset = 0
      const answer = (next: ReadonlyArray<number>) => {
        statuses = next
        offset = received.length
      }
      const server = http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          const answered = statuses[Math.min(received.length - offset, statuses.length - 1)]!
          received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8"), answered })
          response.writeHead(answered, { "content-type": "text/plain" })
          response.end(answered < 300 ? "ok" : "nope")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}/hooks`, received, server, answer }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

/** Polls `check` every 25 ms until it holds, for at most `millis` (then fails with `what`). */
export const eventually = <A, E = never>(
  what: string,
  check: Effect.Effect<A, E>,
  holds: (a: A) => boolean,
  millis = 10_000
) =>
  Effect.gen(function* () {
    const deadline = Date.now() + millis
    while (true) {
      const value = yield* check
      if (holds(value)) return value
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("25 millis")
    }
  })
