/**
 * The default clock: epoch milliseconds that never jump with wall-clock changes
 * (`performance.timeOrigin` is fixed at process start; `performance.now()` is monotonic).
 */
const origin = performance.timeOrigin;
export const monotonicNow = (): number => origin + performance.now();
