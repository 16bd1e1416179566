import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import { FastCheck } from "effect"
import { takeUntilEffectChunked } from "../../src/app/streams.js"

/** The chunks a stream emits, as arrays. */
const chunksOf = <A, E>(stream: Stream.Stream<A, E>) =>
  Effect.map(Stream.runCollect(Stream.mapChunks(stream, (chunk) => Chunk.of(Chunk.toReadonlyArray(chunk)))), (chunks) =>
    Chunk.toReadonlyArray(chunks)
  )

describe("takeUntilEffectChunked", () => {
  it.effect("emits whole chunks and stops after the first element that satisfies the predicate", () =>
    Effect.gen(function* () {
      const pulled = yield* Ref.make(0)
      const source = Stream.fromChunks(Chunk.make(1, 2, 3), Chunk.make(4, 5, 6), Chunk.make(7, 8, 9)).pipe(
        Stream.mapChunksEffect((chunk) =>
          Effect.as(
            Ref.update(pulled, (n) => n + 1),
            chunk
          )
        )
      )
      const asked: Array<number> = []
      const chunks = yield* chunksOf(takeUntilEffectChunked(source, (n) => Effect.sync(() => (asked.push(n), n === 5))))
      assert.deepStrictEqual(chunks, [
        [1, 2, 3],
        [4, 5]
      ])
      // every element up to the stop, in order, and nothing after it: the third chunk is never pulled
      assert.deepStrictEqual(asked, [1, 2, 3, 4, 5])
      assert.strictEqual(yield* Ref.get(pulled), 2)
    })
  )

  it.effect("passes a failure of the predicate or of the stream on", () =>
    Effect.gen(function* () {
      const fromPredicate = yield* Effect.flip(
        Stream.runCollect(
          takeUntilEffectChunked(Stream.make(1, 2, 3), (n) => (n === 2 ? Effect.fail("no") : Effect.succeed(false)))
        )
      )
      assert.strictEqual(fromPredicate, "no")
      const fromStream = yield* Effect.flip(
        Stream.runCollect(
          takeUntilEffectChunked(Stream.concat(Stream.make(1), Stream.fail("broken")), () => Effect.succeed(false))
        )
      )
      assert.strictEqual(fromStream, "broken")
    })
  )

  it.prop(
    "gives the elements Stream.takeUntilEffect gives, whatever the chunks",
    [
      FastCheck.array(FastCheck.array(FastCheck.integer({ min: 0, max: 20 }), { maxLength: 6 }), { maxLength: 8 }),
      FastCheck.integer({ min: 0, max: 20 })
    ],
    ([chunks, stopAt]) => {
      const source = Stream.fromChunks(...chunks.map((chunk) => Chunk.unsafeFromArray(chunk)))
      const predicate = (n: number) => Effect.succeed(n === stopAt)
      const ours = Effect.runSync(Stream.runCollect(takeUntilEffectChunked(source, predicate)))
      const library = Effect.runSync(Stream.runCollect(Stream.takeUntilEffect(source, predicate)))
      assert.deepStrictEqual(Chunk.toReadonlyArray(ours), Chunk.toReadonlyArray(library))
    }
  )
})
