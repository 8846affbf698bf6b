import { type BaseState, defineAlgorithm } from './types';

/**
 * Sliding log: one timestamp per consumed unit; a request passes when fewer than `limit` units were
 * consumed in the last `window`. Exact (no boundary burst, exact `retryAfterMs`) at O(limit)
 * memory per key, hence the cap on `limit` (`SLIDING_LOG_MAX_LIMIT`). Denied requests are not
 * logged, so a client hammering a full log recovers as soon as its old entries age out.
 */
export interface SlidingLogState extends BaseState {
  /** Timestamps (epoch ms), oldest first. */
  log: number[];
}

function prune(s: SlidingLogState, now: number, windowMs: number): void {
  const log = s.log;
  let drop = 0;
  // An entry made at t counts while now < t + W.
  while (drop < log.length && (log[drop] as number) + windowMs <= now) drop++;
  if (drop > 0) log.splice(0, drop);
}

export const slidingLog = defineAlgorithm({
  name: 'sliding-log',
  idPrefix: 'sl',
  takesBurst: false,
  capacity: (rule) => rule.limit,
  impl: {
    create: (): SlidingLogState => ({ log: [], blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      prune(s, now, rule.windowMs);
      const n = s.log.length;
      if (n + cost <= rule.limit) {
        out.allowed = true;
        out.remaining = rule.limit - n - cost;
        out.resetMs = rule.windowMs;
        out.retryAfterMs = 0;
        return;
      }
      out.allowed = false;
      out.remaining = rule.limit - n;
      out.resetMs = n === 0 ? 0 : (s.log[n - 1] as number) + rule.windowMs - now;
      // The oldest `n + cost − limit` entries must age out first.
      out.retryAfterMs = cost > rule.limit ? Number.POSITIVE_INFINITY : (s.log[n + cost - rule.limit - 1] as number) + rule.windowMs - now;
    },
    commit(s, now, _rule, cost) {
      // A fresh array literal is sized exactly; push() on an empty one reserves 17 slots (~150 B),
      // which is most of the memory of a key seen once.
      if (s.log.length === 0) s.log = cost === 1 ? [now] : new Array<number>(cost).fill(now);
      else for (let i = 0; i < cost; i++) s.log.push(now);
    },
    refund(s, now, rule, cost, chargedAt) {
      prune(s, now, rule.windowMs);
      // Remove the newest live entries made at or before the charge: the charge's own entries
      // (logged at exactly `chargedAt`) when they are still live, never entries logged after it
      // (those belong to later requests; a charge that aged out must not refund them).
      const log = s.log;
      let end = log.length;
      while (end > 0 && (log[end - 1] as number) > chargedAt) end--;
      const take = Math.min(cost, end);
      if (take > 0) log.splice(end - take, take);
    },
    expiresAt: (s, rule) => (s.log.length === 0 ? 0 : (s.log[s.log.length - 1] as number) + rule.windowMs),
  },
});
