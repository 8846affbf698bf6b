import type { ResolvedRule } from '../../../rules';
import type { LeaseReply } from './lease-script';

/**
 * Units a process took from Redis in one round trip and spends locally. Pure bookkeeping: no I/O,
 * no clock (times are passed in), so the rules below are unit-tested with a manual clock.
 *
 * - Units are spent in order, 1 … n; `spent` of them are gone (spent, or skipped because expired).
 * - Fixed-window rules: every unit is valid until the window it was taken in ends (`end`).
 * - Token-bucket and GCRA rules: unit j is valid until its slot ends, `t0 + (b0 + j·W) / L`
 *   (b0: the backlog before the grant, × L): the units still held never exceed the backlog Redis
 *   keeps for them, so no admission is one the algorithm would not have made.
 * @internal
 */
export interface Lease {
  /** Units granted. */
  readonly n: number;
  /** Units gone: spent, or skipped because they expired (refunds lower it again). */
  spent: number;
  /** Redis time of the grant (ms). */
  readonly t0: number;
  /** Local time when the grant was sent (it ran later, so Redis time at local l is ≤ t0 + (l − l0)). */
  readonly l0: number;
  /** Redis time at which the earliest fixed-window rule's window ends (Infinity: no such rule). */
  readonly end: number;
  readonly rules: readonly LeaseRuleState[];
}

/** What a lease remembers of one rule. @internal */
export interface LeaseRuleState {
  /** True for token-bucket and GCRA (units expire one by one), false for fixed windows. */
  readonly slot: boolean;
  readonly limit: number;
  readonly windowMs: number;
  /** Backlog before the grant's first unit, × limit, its reserve included (slot rules). */
  readonly b0: number;
  /** Refill the grant reserved before its units, × limit (slot rules). */
  readonly reserved: number;
  /** The state string the grant wrote (slot rules): units go back only onto exactly that. */
  readonly state: string;
  /** Units Redis had left after the grant. */
  readonly remaining: number;
  /** The rule's reset after the grant, ms from `t0`. */
  readonly resetMs: number;
}

/** A lease from a granted reply, the request that asked for it having spent `cost`. @internal */
export function leaseFrom(rules: readonly ResolvedRule[], reply: LeaseReply, cost: number, l0: number): Lease {
  let end = Number.POSITIVE_INFINITY;
  const states = rules.map((r, i) => {
    const x = reply.rules[i] as LeaseReply['rules'][number];
    const slot = r.algorithm !== 'fixed-window';
    if (!slot) end = Math.min(end, Math.floor(reply.at / r.windowMs) * r.windowMs + r.windowMs);
    return {
      slot,
      limit: r.limit,
      windowMs: r.windowMs,
      b0: x.b0,
      reserved: x.reserved,
      state: x.state,
      remaining: x.remaining,
      resetMs: x.resetMs,
    };
  });
  return { n: reply.granted, spent: cost, t0: reply.at, l0, end, rules: states };
}

/** Units of `lease` whose validity has ended by Redis time `s` (0 … n). @internal */
export function expiredUnits(lease: Lease, s: number): number {
  if (s >= lease.end) return lease.n;
  let expired = 0;
  for (const r of lease.rules) {
    if (!r.slot) continue;
    // Unit j ends at t0 + (b0 + j·W) / L: ended by s when j ≤ ((s − t0)·L − b0) / W.
    const x = Math.floor(((s - lease.t0) * r.limit - r.b0) / r.windowMs);
    if (x > expired) expired = x;
  }
  return Math.min(expired, lease.n);
}

/** Units of `lease` that may still be spent at Redis time `s`. @internal */
export function usableUnits(lease: Lease, s: number): number {
  const gone = Math.max(lease.spent, expiredUnits(lease, s));
  return lease.n - gone;
}

/**
 * Spends `cost` units at Redis time `s` when that many are usable (expired ones are skipped for
 * good); returns whether it did.
 * @internal
 */
export function spend(lease: Lease, cost: number, s: number): boolean {
  const expired = expiredUnits(lease, s);
  if (expired > lease.spent) lease.spent = expired;
  if (lease.n - lease.spent < cost) return false;
  lease.spent += cost;
  return true;
}

/**
 * Gives `cost` refunded units back to the lease, as far as they were spent from it and are still
 * valid at `s`; returns how many it took (the rest is refunded to Redis).
 * @internal
 */
export function refundInto(lease: Lease, cost: number, s: number): number {
  const back = Math.min(cost, lease.spent - Math.max(0, expiredUnits(lease, s)));
  if (back <= 0) return 0;
  lease.spent -= back;
  return back;
}

/**
 * The raw result of a decision a lease answered at Redis time `at`: every rule allowed; remaining
 * is what Redis had left at the grant plus the units this process still holds (an estimate: other
 * processes may have taken some since).
 * @internal
 */
export function leaseResult(lease: Lease, at: number): number[] {
  const held = lease.n - lease.spent;
  const raw = new Array<number>(1 + 4 * lease.rules.length);
  raw[0] = at;
  let j = 1;
  for (const r of lease.rules) {
    raw[j] = 1;
    raw[j + 1] = r.remaining + held;
    raw[j + 2] = r.slot ? Math.max(0, r.resetMs - (at - lease.t0)) : Math.floor(lease.t0 / r.windowMs) * r.windowMs + r.windowMs - at;
    raw[j + 3] = 0;
    j += 4;
  }
  return raw;
}

/**
 * `'auto'` lease size from a key's observed local rate (units per ms): enough for about
 * `targetMs` of traffic, at least 1 (plain mode), at most `max`.
 * @internal
 */
export function autoSize(ratePerMs: number, targetMs: number, max: number): number {
  const size = Math.ceil(ratePerMs * targetMs);
  if (!(size > 1)) return 1;
  return Math.min(size, max);
}
