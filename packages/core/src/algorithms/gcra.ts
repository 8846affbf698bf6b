import { type BaseState, defineAlgorithm } from './types';

/**
 * GCRA (generic cell rate algorithm, "virtual scheduling"): per key, the theoretical arrival time
 * (TAT). Emission interval `T = window / limit`, tolerance `τ = burst × T`; a request of cost c
 * passes iff `max(TAT, now) + c·T − now ≤ τ`. Same decisions as a token bucket with capacity
 * `burst`, in the smallest state and with a natural TTL (`TAT − now`).
 *
 * T is usually fractional and epoch ms are around 2^40, where a double keeps only ~1/4096 ms: a
 * fractional TAT would drift and flip exact decisions. So TAT is kept exactly, as whole
 * milliseconds plus a remainder in 1/limit ms (`tat + rem / limit`, `0 ≤ rem < limit`), and every
 * comparison runs on the backlog scaled by `limit` (`(TAT − now) × limit`, at most `burst × window`),
 * in integers that stay far below 2^53 (the Lua twin computes the same expressions).
 */
export interface GcraState extends BaseState {
  /** Whole milliseconds of the theoretical arrival time (epoch ms). */
  tat: number;
  /** The TAT's fraction of a millisecond, in units of 1/limit ms: `0 ≤ rem < limit`. */
  rem: number;
}

/** `(TAT − now) × limit` when TAT is ahead of now, else 0. */
function backlogOf(s: GcraState, now: number, limit: number): number {
  return s.tat > now || (s.tat === now && s.rem > 0) ? (s.tat - now) * limit + s.rem : 0;
}

/** Sets TAT to `now + scaled / limit`. */
function setTat(s: GcraState, now: number, limit: number, scaled: number): void {
  const whole = Math.floor(scaled / limit);
  s.tat = now + whole;
  s.rem = scaled - whole * limit;
}

export const gcra = defineAlgorithm({
  name: 'gcra',
  idPrefix: 'gcra',
  takesBurst: true,
  capacity: (rule) => rule.burst,
  impl: {
    create: (): GcraState => ({ tat: 0, rem: 0, blk: 0 }),
    evaluate(s, now, rule, cost, out) {
      const L = rule.limit;
      const W = rule.windowMs;
      // Scaled by limit: one unit is W, the tolerance τ is burst × W.
      const tau = rule.burst * W;
      const backlog = backlogOf(s, now, L);
      const after = backlog + cost * W;
      if (after <= tau) {
        out.allowed = true;
        out.remaining = Math.floor((tau - after) / W);
        out.resetMs = Math.ceil(after / L);
        out.retryAfterMs = 0;
      } else {
        out.allowed = false;
        out.remaining = Math.floor((tau - backlog) / W);
        out.resetMs = Math.ceil(backlog / L);
        out.retryAfterMs = cost > rule.burst ? Number.POSITIVE_INFINITY : Math.ceil((after - tau) / L);
      }
    },
    commit(s, now, rule, cost) {
      setTat(s, now, rule.limit, backlogOf(s, now, rule.limit) + cost * rule.windowMs);
    },
    refund(s, now, rule, cost, chargedAt) {
      // The backlog never exceeds τ, so a charge older than τ (burst × W / limit) has been repaid:
      // refunding it would grant quota that was never taken.
      if ((now - chargedAt) * rule.limit >= rule.burst * rule.windowMs) return;
      const backlog = backlogOf(s, now, rule.limit);
      if (backlog > 0) setTat(s, now, rule.limit, Math.max(0, backlog - cost * rule.windowMs));
    },
    expiresAt: (s) => (s.rem > 0 ? s.tat + 1 : s.tat),
  },
});
