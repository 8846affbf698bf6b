/**
 * The default clock: epoch milliseconds that never jump with wall-clock changes
 * (`performance.timeOrigin` is fixed at process start; `performance.now()` is monotonic).
 */
export const monotonicNow = (): number => performance.timeOrigin + performance.now();
