/**
 * The listener in a process of its own, for the crash test and the benchmark: argv[2] is the JSON config; prints
 * "LISTENING <port> CPU-AT-START <user µs> <system µs>" when ready, stops on SIGTERM, and prints "CPU <user µs> <system µs>" when it exits.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import { decodeSmtpListenerConfig } from "../../../src/adapters/smtp/config.js"
import * as SmtpListener from "../../../src/adapters/smtp/listener.js"

const program = Effect.gen(function* () {
  const config = yield* decodeSmtpListenerConfig(JSON.parse(process.argv[2] ?? "{}"))
  const listener = yield* SmtpListener.make(config)
  const ready = process.cpuUsage()
  process.stdout.write(`LISTENING ${listener.address.port} CPU-AT-START ${ready.user} ${ready.system}\n`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(Logger.remove(Logger.defaultLogger)))

const fiber = Effect.runFork(program)
process.on("SIGTERM", () => Effect.runFork(Fiber.interrupt(fiber)))
// for the benchmark: the CPU time this process used, which load from other processes does not inflate
process.on("exit", () => {
  const used = process.cpuUsage()
  process.stdout.write(`CPU ${used.user} ${used.system}\n`)
})
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
    process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
    process.exit(1)
  }
  process.exit(0)
})
