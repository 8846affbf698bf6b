/**
 * The pieces of the lease script one leasing algorithm contributes, generated per rule with the
 * rule's numbers inlined (`lease-script.ts` assembles them). Each piece is straight Lua code that
 * may use the script's locals: `now`, `floor`, `ceil`, `sfmt`, `tonumber`, `type`, `INF`, `SLACK`,
 * `REPAIRED`, and for `give` the old lease's `on` (units), `ok` (units spent) and `ot0` (its grant
 * time).
 * @internal
 */
export interface LeaseTwin {
  /**
   * Gives the unspent units of the old lease back to rule `r` (only while they are still valid:
   * the same window, or the state exactly as the lease left it).
   */
  give(r: LeaseRuleCode): string;
  /**
   * Reads rule `r`'s state at `now` into `g<i>` (units it could grant), and its answer for a
   * request of `cost` (allowed `a<i>`, remaining `rm<i>` when denied, reset `rs<i>`, retry `rt<i>`).
   */
  evaluate(r: LeaseRuleCode): string;
  /**
   * Charges `g` units to rule `r` (every rule granted at least `g`), setting `rs<i>` to its reset
   * after the grant, `b<i>` to the backlog before its first unit (× limit, the reserve included; 0
   * for windows), `rv<i>` to the refill it reserved (0 for windows) and `st<i>` to the state string
   * written (`'0 0'` for windows).
   */
  take(r: LeaseRuleCode): string;
}

/** One rule of the lease script. @internal */
export interface LeaseRuleCode {
  /** 1-based rule index: suffix of the rule's locals. */
  readonly i: number;
  /** `KEYS[i]`. */
  readonly k: string;
  readonly W: number;
  readonly L: number;
  readonly B: number;
  /** ARGV holding the old lease's backlog before its grant and the state it wrote (slot algorithms). */
  readonly b0Arg: string;
  readonly stArg: string;
  /** ARGV holding the refill the old lease reserved (× limit; slot algorithms). */
  readonly rvArg: string;
}

/**
 * Bucket leases keep their units valid for at least this long: a grant tops the backlog up to this
 * much refill (see `GCRA_LEASE`).
 * @internal
 */
export const LEASE_HORIZON_MS = 100;

/** The backlog (× limit) a bucket grant tops up to: {@link LEASE_HORIZON_MS} of refill, at most a tenth of the capacity. @internal */
export function reserveTarget(W: number, L: number, B: number): number {
  return Math.min(LEASE_HORIZON_MS * L, Math.floor((B * W) / 10));
}
