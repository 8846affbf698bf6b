// The global `performance` of every runtime (Node, Bun, Deno, workerd, browsers), captured once: in
// Node the global is an accessor, which costs ~8 ns on every decision, and `node:perf_hooks` would
// not load on an edge runtime.
const perf: Pick<Performance, 'now' | 'timeOrigin'> = globalThis.performance;

// Read once: `timeOrigin` is fixed at process start. A runtime without one (0) counts `now()` from
// the epoch or from its start: either way `Date.now() - now()` is the origin.
const origin = perf.timeOrigin > 0 ? perf.timeOrigin : Date.now() - perf.now();

/**
 * The default clock: epoch milliseconds that never jump with wall-clock changes
 * (`performance.timeOrigin` is fixed at process start; `performance.now()` is monotonic).
 */
export const monotonicNow = (): number => origin + perf.now();
