/**
 * A small seeded generator for the tests that compare a fast path with a plain walk over
 * random inputs: the same seed gives the same inputs on every run, so a failure can be replayed.
 * Returns whole numbers in [0, n).
 */
export function seededRandom(seed: number): (n: number) => number {
  let state = seed;
  return (n) => ((state = (state * 1103515245 + 12345) % 2 ** 31), state % n);
}
