import { Context, Data, Effect, Layer, Ref } from "effect"

/** A forward that the relay did not take. */
export class ForwardError extends Data.TaggedError("ForwardError")<{
  readonly reason: "Refused" | "Unreachable"
  readonly message: string
  readonly cause?: unknown
}> {}

/** One mail handed to an operator, as it arrived. */
export interface Forward {
  readonly relay: { readonly host: string; readonly port: number }
  readonly to: string
  readonly bytes: Uint8Array
}

/** Hands mails that rebound did not apply to an operator, unchanged, over SMTP. */
export class Forwarder extends Context.Tag("rebound/Forward/Forwarder")<
  Forwarder,
  { readonly forward: (forward: Forward) => Effect.Effect<void, ForwardError> }
>() {
  /** Forwards through an SMTP relay with nodemailer; the envelope sender is null, as for any bounce. */
  static readonly layer = Layer.succeed(this, {
    forward: (forward) =>
      Effect.tryPromise({
        try: async () => {
          // loaded on the first forward: most runs never forward, and nodemailer is a large module graph
          const { default: nodemailer } = await import("nodemailer")
          const transport = nodemailer.createTransport({
            host: forward.relay.host,
            port: forward.relay.port,
            secure: false,
            ignoreTLS: forward.relay.host === "127.0.0.1" || forward.relay.host === "::1"
          })
          try {
            await transport.sendMail({ envelope: { from: "", to: [forward.to] }, raw: Buffer.from(forward.bytes) })
          } finally {
            transport.close()
          }
        },
        catch: (cause) => {
          const code = (cause as { readonly responseCode?: number }).responseCode
          return new ForwardError({
            reason: code !== undefined && code >= 500 ? "Refused" : "Unreachable",
            message: `forwarding to ${forward.to} via ${forward.relay.host}:${forward.relay.port} failed: ${String(cause)}`,
            cause
          })
        }
      }).pipe(Effect.withSpan("Forwarder.forward"))
  })

  /**
   * Keeps forwards in memory, for tests. `failing` (a Ref is one) says at each forward whether it fails as a relay
   * that is down would (true), or as a relay that refuses the mail for good ("Refused").
   */
  static readonly layerMemory = (
    sent: Ref.Ref<ReadonlyArray<Forward>>,
    failing: Effect.Effect<boolean | "Refused"> = Effect.succeed(false)
  ) =>
    Layer.succeed(this, {
      forward: (forward) =>
        Effect.flatMap(failing, (fail) =>
          fail === "Refused"
            ? Effect.fail(new ForwardError({ reason: "Refused", message: "550 the test relay refuses the mail" }))
            : fail
              ? Effect.fail(new ForwardError({ reason: "Unreachable", message: "the test relay is down" }))
              : Ref.update(sent, (all) => [...all, forward])
        )
    })
}
