import { type BaseState, defineAlgorithm, windowStart } from './types';

/**
 * Sliding window counter (the default): counts for the current and the previous aligned window;
 * the previous one is weighted by how much of it still overlaps the sliding window:
 * `used = prev × (W − elapsed) / W + cur`. O(1) state, no 2× burst at edges (at most
 * `limit × (1 + δ/W)` in any span δ across a boundary). It assumes the previous window's requests
 * were spread evenly, so it is an approximation; `retryAfterMs` is exact for that estimate.
 * All arithmetic is scaled by W and stays in integers.
 */
export interface SlidingWindowState extends BaseState {
  /** Start of the current window (epoch ms). */
  start: number;
  cur: number;
  prev: number;
}

function roll(s: SlidingWindowState, now: number, windowMs: number): void {
  // Still in the stored window (the common case) needs no division.
  if (now >= s.start && now - s.start < windowMs) return;
  const start = windowStart(now, windowMs);
  if (s.start !== start) {
    s.prev = s.start === start - windowMs ? s.cur : 0;
    s.cur = 0;
    s.start = start;
  }
}

export const slidingWindow = defineAlgorithm({
  name: 'sliding-window',
  idPrefix: 'sw',
  takesBurst: false,
  capacity: (rule) => rule.limit,
  impl: {
    create: (): SlidingWindowState => ({ start: 0, cur: 0, prev: 0, blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      const W = rule.windowMs;
      const L = rule.limit;
      roll(s, now, W);
      const elapsed = now - s.start;
      // used × W, exactly
      const usedW = s.prev * (W - elapsed) + s.cur * W;
      out.resetMs = s.start + W - now;
      if (usedW + cost * W <= L * W) {
        out.allowed = true;
        out.remaining = Math.floor((L * W - usedW - cost * W) / W);
        out.retryAfterMs = 0;
        return;
      }
      out.allowed = false;
      out.remaining = Math.max(0, Math.floor((L * W - usedW) / W));
      if (cost > L) {
        out.retryAfterMs = Number.POSITIVE_INFINITY;
        return;
      }
      // Earliest time the estimate leaves room for `cost`, absent other traffic: first within the
      // current window (only the previous window's weight can shrink), else in the next one.
      const room = L - cost - s.cur;
      if (room >= 0 && s.prev > 0) {
        const at = W - Math.floor((room * W) / s.prev);
        if (at < W) {
          out.retryAfterMs = s.start + at - now;
          return;
        }
      }
      const next = s.cur === 0 ? 0 : Math.max(0, W - Math.floor(((L - cost) * W) / s.cur));
      out.retryAfterMs = s.start + W + next - now;
    },
    commit(s, _now, _rule, cost) {
      s.cur += cost;
    },
    refund(s, now, rule, cost, chargedAt) {
      roll(s, now, rule.windowMs);
      const charged = windowStart(chargedAt, rule.windowMs);
      if (charged === s.start) s.cur = Math.max(0, s.cur - cost);
      else if (charged === s.start - rule.windowMs) s.prev = Math.max(0, s.prev - cost);
    },
    expiresAt: (s, rule) => s.start + (s.cur > 0 ? 2 * rule.windowMs : rule.windowMs),
  },
});
