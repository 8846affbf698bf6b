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
 * A plain object without functions or cycles: `structuredClone` and `JSON.stringify` copy it.
 */
export interface Decision extends RuleDecision {
  /** Every rule's view, in the limiter's rule order. */
  readonly rules: readonly RuleDecision[];
  /** The store's time of the decision (epoch ms); pass it to `refund` to refund the right window. */
  readonly at: number;
  /** Set when the store failed and `onStoreError` decided instead (`'allow'` or `'deny'`). */
  readonly error?: StoreError;
}

/*
 * Every Decision is made here: `decide` (store results), `policyDecision` (onStoreError),
 * `waitDecision` (waits the store did not compute), `combineDecisions` (composites), and copies by
 * `reviseDecision`. They share `ruleView`, `bindingOf` and `assemble`, so each has one shape.
 */

const NEVER = Number.POSITIVE_INFINITY;

/** What one rule said, as a plain literal (always these keys in this order: one object shape). */
function ruleView(rule: ResolvedRule, allowed: boolean, remaining: number, resetMs: number, retryAfterMs: number): RuleDecision {
  return { rule, allowed, limit: rule.limit, remaining, resetMs, retryAfterMs };
}

/**
 * @internal The binding view: when `allowed`, the one with the least remaining; else the refusing
 * one with the longest wait (the earliest the whole request can pass). The first wins ties.
 */
export function bindingOf<V extends RuleDecision>(views: readonly V[], allowed: boolean): V {
  let b = views[0] as V;
  for (let i = 1; i < views.length; i++) {
    const d = views[i] as V;
    if (allowed ? d.remaining < b.remaining : !d.allowed && (b.allowed || d.retryAfterMs > b.retryAfterMs)) b = d;
  }
  return b;
}

/**
 * The one Decision literal: `bind`'s numbers on top (`retryAfterMs` 0 when allowed). A literal
 * (prototype Object.prototype) lets V8 skip the generic `then` lookup when a promise is resolved
 * with it, which a class instance would cost on every decision; keeping `rules` a separate array of
 * plain views (never the decision itself) keeps it free of cycles and functions, so it clones.
 */
function assemble(
  allowed: boolean,
  bind: RuleDecision,
  rules: readonly RuleDecision[],
  at: number,
  error: StoreError | undefined,
): Decision {
  const d: Decision = {
    allowed,
    limit: bind.limit,
    remaining: bind.remaining,
    resetMs: bind.resetMs,
    retryAfterMs: allowed ? 0 : bind.retryAfterMs,
    rule: bind.rule,
    rules,
    at,
  };
  return error === undefined ? d : { ...d, error };
}

/** @internal Builds a Decision from raw store results (see `RawResult`). */
export function decide(rules: readonly ResolvedRule[], raw: ArrayLike<number>): Decision {
  const n = rules.length;
  if (n === 1) {
    // The common case, without loops: one view, one one-element array, one decision.
    const retry = raw[4] as number;
    const view = ruleView(rules[0] as ResolvedRule, raw[1] === 1, raw[2] as number, raw[3] as number, retry < 0 ? NEVER : retry);
    return assemble(view.allowed, view, [view], raw[0] as number, undefined);
  }
  const list: RuleDecision[] = new Array(n);
  let allowed = true;
  for (let i = 0, j = 1; i < n; i++, j += 4) {
    const retry = raw[j + 3] as number;
    const d = ruleView(rules[i] as ResolvedRule, raw[j] === 1, raw[j + 1] as number, raw[j + 2] as number, retry < 0 ? NEVER : retry);
    list[i] = d;
    if (!d.allowed) allowed = false;
  }
  return assemble(allowed, bindingOf(list, allowed), list, raw[0] as number, undefined);
}

/**
 * @internal A decision made by the `onStoreError` policy instead of the store: every rule allows
 * (full quota) or denies (retry in a second); the first rule's numbers are on top.
 */
export function policyDecision(rules: readonly ResolvedRule[], allowed: boolean, at: number, error: StoreError): Decision {
  const list = rules.map((rule) => (allowed ? ruleView(rule, true, rule.limit, 0, 0) : ruleView(rule, false, 0, rule.windowMs, 1000)));
  return assemble(allowed, list[0] as RuleDecision, list, at, error);
}

/** @internal A refusal by every rule with the same wait, for waits the store did not compute (a line, a paused host). */
export function waitDecision(rules: readonly ResolvedRule[], waitMs: number, at: number): Decision {
  const list = rules.map((rule) => ruleView(rule, false, 0, waitMs, waitMs));
  return assemble(false, bindingOf(list, false), list, at, undefined);
}

/**
 * @internal The decision of a composite: `bind` (a member's decision) on top, the views of every
 * member asked in `rules`, and `bind`'s time and store error.
 */
export function combineDecisions(allowed: boolean, bind: Decision, rules: readonly RuleDecision[]): Decision {
  return assemble(allowed, bind, rules, bind.at, bind.error);
}

/**
 * @internal A copy of `d` with `changes` applied, e.g. another `retryAfterMs`. `rules` is copied by
 * name: a decision from a foreign limiter may keep it in a getter, which a spread would drop.
 */
export function reviseDecision<C extends object>(d: Decision, changes: C): Decision & C {
  return { ...d, rules: d.rules, ...changes };
}
