import { type AlgorithmImpl, type BaseState, EPSILON_MS } from './types';

/**
 * GCRA (generic cell rate algorithm, "virtual scheduling"): one number per key, the theoretical
 * arrival time (TAT). Emission interval `T = window / limit`, tolerance `τ = burst × T`; a request
 * of cost c passes iff `max(TAT, now) + c·T − now ≤ τ`. Same decisions as a token bucket with
 * capacity `burst`, in a single value: the smallest state and a natural TTL (`TAT − now`).
 * T may be fractional, so a sub-nanosecond tolerance absorbs floating-point noise.
 */
export interface GcraState extends BaseState {
  /** Theoretical arrival time (epoch ms, fractional). */
  tat: number;
}

export const gcra: AlgorithmImpl<GcraState> = {
  name: 'gcra',
  create: () => ({ tat: 0, blk: 0 }),
  evaluate(s, now, rule, cost, out) {
    const T = rule.windowMs / rule.limit;
    const tau = rule.burst * T;
    // Subtract first: `tat − now` of two nearby epoch values is exact.
    const backlog = Math.max(s.tat, now) - now;
    const after = backlog + cost * T;
    if (after <= tau + EPSILON_MS) {
      out.allowed = true;
      out.remaining = Math.max(0, Math.floor((tau - after) / T + EPSILON_MS));
      out.resetMs = Math.ceil(after - EPSILON_MS);
      out.retryAfterMs = 0;
    } else {
      out.allowed = false;
      out.remaining = Math.max(0, Math.floor((tau - backlog) / T + EPSILON_MS));
      out.resetMs = Math.ceil(backlog - EPSILON_MS);
      out.retryAfterMs = cost > rule.burst ? Number.POSITIVE_INFINITY : Math.ceil(after - tau - EPSILON_MS);
    }
  },
  commit(s, now, rule, cost) {
    s.tat = Math.max(s.tat, now) + cost * (rule.windowMs / rule.limit);
  },
  refund(s, now, rule, cost, chargedAt) {
    // The backlog never exceeds τ = burst × W / limit, so a charge that old has been repaid:
    // refunding it would grant quota that was never taken.
    if ((now - chargedAt) * rule.limit >= rule.burst * rule.windowMs) return;
    if (s.tat > now) s.tat = Math.max(now, s.tat - cost * (rule.windowMs / rule.limit));
  },
  expiresAt: (s) => Math.ceil(s.tat),
};
