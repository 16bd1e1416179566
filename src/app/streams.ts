import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

/**
 * `Stream.takeUntilEffect` that keeps the chunks whole: it emits each element and stops after the first one for which
 * `predicate` succeeds with true, evaluating `predicate` on every element in order, as the library's does. The
 * library's version emits one chunk per element, so everything downstream then runs once per element instead of once
 * per chunk (the processor's decoding step, its batching).
 */
export const takeUntilEffectChunked = <A, E, R, E2, R2>(
  self: Stream.Stream<A, E, R>,
  predicate: (a: A) => Effect.Effect<boolean, E2, R2>
): Stream.Stream<A, E | E2, R | R2> => {
  const firstStop = (items: ReadonlyArray<A>): Effect.Effect<number, E2, R2> => {
    const from = (index: number): Effect.Effect<number, E2, R2> =>
      index >= items.length
        ? Effect.succeed(-1)
        : Effect.flatMap(predicate(items[index]!), (stop) => (stop ? Effect.succeed(index) : from(index + 1)))
    return from(0)
  }
  const loop: Channel.Channel<Chunk.Chunk<A>, Chunk.Chunk<A>, E | E2, E, unknown, unknown, R2> = Channel.readWithCause({
    onInput: (input: Chunk.Chunk<A>) =>
      Channel.unwrap(
        Effect.map(firstStop(Chunk.toReadonlyArray(input)), (index) =>
          index < 0 ? Channel.flatMap(Channel.write(input), () => loop) : Channel.write(Chunk.take(input, index + 1))
        )
      ),
    onFailure: Channel.failCause,
    onDone: () => Channel.void
  })
  return Stream.fromChannel(Channel.pipeTo(Stream.toChannel(self), loop))
}
