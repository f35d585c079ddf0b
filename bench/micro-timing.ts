// Timing for the in-process microbenchmarks (bench:lines, bench:rebase): the best of three rounds,
// so that a round disturbed by the rest of a shared machine does not count.

/** Microseconds per call of `step(i)`, best of three rounds of `n` calls. */
export function microsPerCall(n: number, step: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    for (let i = 0; i < n; i++) step(i);
    best = Math.min(best, ((performance.now() - started) / n) * 1000);
  }
  return best;
}
