import type { Decision, RuleDecision } from '../decision';
import type { StoreError } from '../errors/store-error';
import type { Limiter } from '../limiter';
import type { ResolvedRule } from '../rules';

/**
 * The decision of one request as an HTTP adapter exposes it (`req.rateLimit`,
 * `request.rateLimit`, `ctx.state.rateLimit`): the limiter's {@link Decision}, the key it was
 * counted under, and this request's limiter bound to that key.
 * @example
 * // a login handler gives the attempt back when it succeeds
 * if (ok) await req.rateLimit?.refund();
 */
export interface RequestDecision extends Decision {
  /** The key the request was counted under (e.g. the client address, `u:42`). */
  readonly key: string;
  /** The units this request took. */
  readonly cost: number;
  /**
   * Gives back `cost` units (default: what this request took) to the window they were charged in.
   * Does nothing for a decision of the `concurrency` limit alone (no rate rules).
   */
  refund(cost?: number): Promise<void>;
  /** Forgets this key in this request's limiter (e.g. after a successful login); nothing with `concurrency` alone. */
  reset(): Promise<void>;
}

/**
 * A class with the decision's fields copied in: one allocation of a fixed shape per request, and
 * `refund`/`reset` on the prototype rather than two closures per request.
 * @internal
 */
export class BoundDecision implements RequestDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number;
  readonly rule: ResolvedRule;
  readonly rules: readonly RuleDecision[];
  readonly at: number;
  readonly error?: StoreError;
  readonly key: string;
  readonly cost: number;
  /** Undefined for a decision no rate limiter made (the `concurrency` limit): refund and reset do nothing. */
  readonly #limiter: Limiter | undefined;

  constructor(decision: Decision, key: string, cost: number, limiter: Limiter | undefined) {
    this.allowed = decision.allowed;
    this.limit = decision.limit;
    this.remaining = decision.remaining;
    this.resetMs = decision.resetMs;
    this.retryAfterMs = decision.retryAfterMs;
    this.rule = decision.rule;
    this.rules = decision.rules;
    this.at = decision.at;
    if (decision.error !== undefined) this.error = decision.error;
    this.key = key;
    this.cost = cost;
    this.#limiter = limiter;
  }

  refund(cost: number = this.cost): Promise<void> {
    return this.#limiter === undefined ? Promise.resolve() : this.#limiter.refund(this.key, cost, { at: this.at });
  }

  reset(): Promise<void> {
    return this.#limiter === undefined ? Promise.resolve() : this.#limiter.reset(this.key);
  }
}
