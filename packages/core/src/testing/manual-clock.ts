/** A clock a test moves by hand: pass `clock.now` as a limiter's `now`. */
export interface ManualClock {
  /** The current time, epoch ms (bound: pass it as it is). */
  readonly now: () => number;
  /** Moves the clock forward by `ms` (negative values are refused: time never goes back). */
  advance(ms: number): void;
  /** Sets the clock to `t` epoch ms (not before the current time). */
  set(t: number): void;
}

/**
 * A manual clock for tests, starting at `start` (default: an hour boundary, so window resets are
 * round numbers).
 * @example
 * const clock = manualClock();
 * const limiter = createLimiter({ limit: 1, window: '1m', now: clock.now });
 * await limiter.consume('k'); clock.advance(60_000); // the window has turned
 */
export function manualClock(start = 1_699_999_200_000): ManualClock {
  let t = start;
  const check = (next: number): void => {
    if (!Number.isFinite(next) || next < t) throw new RangeError(`manualClock: time cannot move back or be NaN (from ${t} to ${next})`);
  };
  return {
    now: () => t,
    advance(ms) {
      check(t + ms);
      t += ms;
    },
    set(next) {
      check(next);
      t = next;
    },
  };
}
