import { type BaseState, defineAlgorithm } from './types';

/**
 * Token bucket: holds up to `burst` tokens and refills `limit` per `window`, continuously. Allows a
 * burst of `burst` at once, then the steady rate. Tokens are kept scaled by the window length
 * (`tokens × W`), so refills (`elapsed × limit`) and every result are exact integers.
 */
export interface TokenBucketState extends BaseState {
  /** Time of the last refill (epoch ms). */
  ts: number;
  /** Tokens × windowMs. */
  tokens: number;
}

function refill(s: TokenBucketState, now: number, limit: number, cap: number): void {
  const elapsed = now - s.ts;
  if (elapsed > 0) {
    const add = elapsed * limit;
    s.tokens = add >= cap - s.tokens ? cap : s.tokens + add;
    s.ts = now;
  }
}

export const tokenBucket = defineAlgorithm({
  name: 'token-bucket',
  idPrefix: 'tb',
  takesBurst: true,
  capacity: (rule) => rule.burst,
  impl: {
    create: (now, rule): TokenBucketState => ({ ts: now, tokens: rule.burst * rule.windowMs, blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      const W = rule.windowMs;
      const cap = rule.burst * W;
      refill(s, now, rule.limit, cap);
      const need = cost * W;
      if (s.tokens >= need) {
        out.allowed = true;
        out.remaining = Math.floor((s.tokens - need) / W);
        out.resetMs = Math.ceil((cap - s.tokens + need) / rule.limit);
        out.retryAfterMs = 0;
      } else {
        out.allowed = false;
        out.remaining = Math.floor(s.tokens / W);
        out.resetMs = Math.ceil((cap - s.tokens) / rule.limit);
        out.retryAfterMs = cost > rule.burst ? Number.POSITIVE_INFINITY : Math.ceil((need - s.tokens) / rule.limit);
      }
    },
    commit(s, _now, rule, cost) {
      s.tokens -= cost * rule.windowMs;
    },
    refund(s, now, rule, cost, chargedAt) {
      // An empty bucket refills completely within burst × W / limit: a charge that old has been
      // repaid by the refill already, so refunding it would grant quota that was never taken.
      if ((now - chargedAt) * rule.limit >= rule.burst * rule.windowMs) return;
      const cap = rule.burst * rule.windowMs;
      refill(s, now, rule.limit, cap);
      s.tokens = Math.min(cap, s.tokens + cost * rule.windowMs);
    },
    expiresAt: (s, rule) => s.ts + Math.ceil((rule.burst * rule.windowMs - s.tokens) / rule.limit),
  },
});
