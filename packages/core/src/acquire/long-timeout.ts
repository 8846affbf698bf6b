/**
 * The longest delay a timer takes: 2^31 − 1 ms, about 24.8 days. Node clamps a longer delay to 1 ms
 * (with a `TimeoutOverflowWarning`), so a 30-day wait would wake up every millisecond.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** @internal A pending {@link setLongTimeout}. */
export interface LongTimeout {
  /** Stops it; no timer is left behind. */
  cancel(): void;
}

/**
 * @internal Calls `callback` after `ms`, however long: the delay is slept in slices of at most
 * {@link MAX_TIMEOUT_MS}, and waking from a slice that is not the last only arms the next one. A 30-day
 * delay takes two timers. The global `setTimeout` is looked up at each slice (tests replace it).
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimeout {
  let left = ms;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const slice = Math.min(left, MAX_TIMEOUT_MS);
    left -= slice;
    timer = setTimeout(left > 0 ? arm : callback, slice);
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
