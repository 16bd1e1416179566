/**
 * A small seeded generator (mulberry32), for benches and fault tests that must draw the same numbers on every run.
 * Integer arithmetic throughout (Math.imul): a float LCG such as `seed * 1103515245 + 12345` loses its low bits past
 * 2^53 and falls into a short cycle (it drew 13,600 distinct values of 50,000 in the store bench).
 */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
