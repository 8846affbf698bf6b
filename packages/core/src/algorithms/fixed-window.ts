import { type BaseState, defineAlgorithm, windowStart } from './types';

/**
 * Fixed window: a counter per window, windows aligned to multiples of the window since the epoch
 * so every process agrees on the boundaries. Cheapest state (one counter) and exact, but a client
 * can pass `2 × limit` within moments across a boundary. `retryAfterMs` is exact: the window end.
 */
export interface FixedWindowState extends BaseState {
  /** Start of the window the count belongs to (epoch ms). */
  start: number;
  count: number;
}

export const fixedWindow = defineAlgorithm({
  name: 'fixed-window',
  idPrefix: 'fw',
  takesBurst: false,
  capacity: (rule) => rule.limit,
  impl: {
    create: (): FixedWindowState => ({ start: 0, count: 0, blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      // Still in the stored window (the common case) needs no division.
      if (now < s.start || now - s.start >= rule.windowMs) {
        s.start = windowStart(now, rule.windowMs);
        s.count = 0;
      }
      const resetMs = s.start + rule.windowMs - now;
      out.resetMs = resetMs;
      if (s.count + cost <= rule.limit) {
        out.allowed = true;
        out.remaining = rule.limit - s.count - cost;
        out.retryAfterMs = 0;
      } else {
        out.allowed = false;
        out.remaining = rule.limit - s.count;
        out.retryAfterMs = cost > rule.limit ? Number.POSITIVE_INFINITY : resetMs;
      }
    },
    commit(s, _now, _rule, cost) {
      s.count += cost;
    },
    refund(s, now, rule, cost, chargedAt) {
      // Only the window the units were charged in may get them back: refunding into a later
      // window would grant quota that was never taken from it.
      if (s.start === windowStart(chargedAt, rule.windowMs) && s.start + rule.windowMs > now) {
        s.count = Math.max(0, s.count - cost);
      }
    },
    expiresAt: (s, rule) => s.start + rule.windowMs,
  },
});
