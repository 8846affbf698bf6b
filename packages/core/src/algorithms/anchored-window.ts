import { type BaseState, defineAlgorithm } from './types';

/**
 * Anchored window: a fixed window per key that starts at the key's first charged request (its
 * anchor) and lasts `window`; the next charge after it opens a new one. This is how
 * express-rate-limit's, @fastify/rate-limit's and koa-ratelimit's memory stores count, so a client
 * sees the full window in its reset time after its first request. One counter and its start per
 * key, exact, and `retryAfterMs` is exact (the anchor plus the window). Like `fixed-window`, a
 * client can pass `2 × limit` within moments across the end of its window; unlike it, windows
 * differ per key (no boundary shared by every client), so the state holds the start too.
 * A denied request opens no window and consumes nothing.
 */
export interface AnchoredWindowState extends BaseState {
  /** Start of the key's window (epoch ms): its first charge; −∞ before any. */
  start: number;
  /** Units charged in that window. */
  count: number;
}

export const anchoredWindow = defineAlgorithm({
  name: 'anchored-window',
  idPrefix: 'aw',
  takesBurst: false,
  capacity: (rule) => rule.limit,
  impl: {
    create: (): AnchoredWindowState => ({ start: Number.NEGATIVE_INFINITY, count: 0, blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      // `now - start < W` rather than `now < start + W`: the Lua twin compares the same way. A
      // window whose start is ahead of `now` (another process's clock) still lasts.
      const live = now - s.start < rule.windowMs;
      // The window is over: the key is empty (the start stays, so it stays over as time passes).
      if (!live) s.count = 0;
      // Without a window, a charge now opens one: the quota is back a full window later.
      const resetMs = live ? s.start + rule.windowMs - now : rule.windowMs;
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
    commit(s, now, rule, cost) {
      if (now - s.start >= rule.windowMs) {
        s.start = now;
        s.count = 0;
      }
      s.count += cost;
    },
    refund(s, now, rule, cost, chargedAt) {
      // Only the window the units were charged in (it started at or before the charge), and only
      // while it lasts: a later window never had them. A window refunded to 0 keeps its start, as
      // express-rate-limit's `decrement` keeps the client's reset time.
      if (now - s.start < rule.windowMs && chargedAt >= s.start && chargedAt - s.start < rule.windowMs) {
        s.count = Math.max(0, s.count - cost);
      }
    },
    expiresAt: (s, rule) => s.start + rule.windowMs,
  },
});
