import type { StoreError } from './errors/store-error';
import type { ResolvedRule } from './rules';

/** What one rule said about a request. */
export interface RuleDecision {
  readonly rule: ResolvedRule;
  readonly allowed: boolean;
  readonly limit: number;
  /** Units left (after this request when allowed); never negative. */
  readonly remaining: number;
  /** Milliseconds until this rule's quota is fully restored (window rules: until the window ends). */
  readonly resetMs: number;
  /** 0 when allowed; else ms until the same request passes this rule; `Infinity` if it never can. */
  readonly retryAfterMs: number;
}

/**
 * The answer to one request. Top-level numbers are those of the binding rule: when denied, the
 * denying rule with the longest wait; when allowed, the rule with the least remaining.
 */
export interface Decision extends RuleDecision {
  /** Every rule's view, in the limiter's rule order (with one rule: the decision itself). */
  readonly rules: readonly RuleDecision[];
  /** The store's time of the decision (epoch ms); pass it to `refund` to refund the right window. */
  readonly at: number;
  /** Set when the store failed and `onStoreError` decided instead (`'allow'` or `'deny'`). */
  readonly error?: StoreError;
}

const NEVER = Number.POSITIVE_INFINITY;

/** @internal Builds a Decision from raw store results (see `RawResult`). */
export function decide(rules: readonly ResolvedRule[], raw: ArrayLike<number>): Decision {
  const n = rules.length;
  if (n === 1) {
    const retry = raw[4] as number;
    return single(rules[0] as ResolvedRule, raw[1] === 1, raw[2] as number, raw[3] as number, retry < 0 ? NEVER : retry, raw[0] as number);
  }
  const list: RuleDecision[] = new Array(n);
  let allowed = true;
  let bind = 0;
  for (let i = 0, j = 1; i < n; i++, j += 4) {
    const retry = raw[j + 3] as number;
    const d: RuleDecision = {
      rule: rules[i] as ResolvedRule,
      allowed: raw[j] === 1,
      limit: (rules[i] as ResolvedRule).limit,
      remaining: raw[j + 1] as number,
      resetMs: raw[j + 2] as number,
      retryAfterMs: retry < 0 ? NEVER : retry,
    };
    list[i] = d;
    if (!d.allowed) allowed = false;
  }
  for (let i = 1; i < n; i++) {
    const d = list[i] as RuleDecision;
    const b = list[bind] as RuleDecision;
    if (allowed ? d.remaining < b.remaining : !d.allowed && (b.allowed || d.retryAfterMs > b.retryAfterMs)) bind = i;
  }
  const b = list[bind] as RuleDecision;
  return {
    allowed,
    limit: b.limit,
    remaining: b.remaining,
    resetMs: b.resetMs,
    retryAfterMs: allowed ? 0 : b.retryAfterMs,
    rule: b.rule,
    rules: list,
    at: raw[0] as number,
  };
}

/** @internal A decision made by the `onStoreError` policy instead of the store. */
export function policyDecision(rules: readonly ResolvedRule[], allowed: boolean, at: number, error: StoreError): Decision {
  const list = rules.map(
    (rule): RuleDecision => ({
      rule,
      allowed,
      limit: rule.limit,
      remaining: allowed ? rule.limit : 0,
      resetMs: allowed ? 0 : rule.windowMs,
      retryAfterMs: allowed ? 0 : 1000,
    }),
  );
  const b = list[0] as RuleDecision;
  return { ...b, rules: list, at, error };
}

/**
 * One rule: a plain object literal, whose only per-rule view is the decision itself. A literal
 * (prototype Object.prototype) lets V8 skip the generic `then` lookup when a promise is resolved
 * with it, which a class instance would cost on every decision; `toJSON` drops the cycle.
 */
function single(rule: ResolvedRule, allowed: boolean, remaining: number, resetMs: number, retryAfterMs: number, at: number): Decision {
  const d = { allowed, limit: rule.limit, remaining, resetMs, retryAfterMs, rule, rules: NO_RULES, at, toJSON: singleToJSON };
  d.rules = [d];
  return d;
}

const NO_RULES: readonly RuleDecision[] = [];

function singleToJSON(this: Decision): object {
  const { allowed, limit, remaining, resetMs, retryAfterMs, rule, at } = this;
  return {
    allowed,
    limit,
    remaining,
    resetMs,
    retryAfterMs,
    rule,
    rules: [{ rule, allowed, limit, remaining, resetMs, retryAfterMs }],
    at,
  };
}
