import type { Decision, RuleDecision } from '../decision';
import { ConfigError } from '../errors/config-error';
import type { ResolvedRule } from '../rules';

/**
 * Rate-limit header families: `legacy` (`X-RateLimit-*`, reset as epoch seconds), and the IETF
 * drafts `draft-6` (separate fields), `draft-7` (one `RateLimit` dictionary) and `draft-8`
 * (named policies, current through draft-11).
 */
export type HeaderFormat = 'legacy' | 'draft-6' | 'draft-7' | 'draft-8';

/** The header families sent when `headers` is not given. */
export const DEFAULT_HEADER_FORMATS: readonly HeaderFormat[] = Object.freeze(['legacy', 'draft-8'] as const);

const FORMATS: readonly HeaderFormat[] = ['legacy', 'draft-6', 'draft-7', 'draft-8'];

/** @internal Validated header families as flags, so formatting is a few branches per request. */
export interface HeaderPlan {
  readonly legacy: boolean;
  readonly draft6: boolean;
  readonly draft7: boolean;
  readonly draft8: boolean;
}

/** Validates the `headers` option; `undefined` plan means "send no rate-limit headers". */
export function resolveHeaderFormats(value: unknown): HeaderPlan | undefined {
  if (value === false) return undefined;
  const list = value === undefined ? DEFAULT_HEADER_FORMATS : typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError('headers', `one of ${FORMATS.map((f) => `'${f}'`).join(', ')}, a non-empty array of them, or false`, value);
  for (const f of list)
    if (!FORMATS.includes(f as HeaderFormat)) throw new ConfigError('headers', `made of ${FORMATS.map((x) => `'${x}'`).join(', ')}`, f);
  return {
    legacy: list.includes('legacy'),
    draft6: list.includes('draft-6'),
    draft7: list.includes('draft-7'),
    draft8: list.includes('draft-8'),
  };
}

/** Whole seconds, rounded up, never negative: header values are integers (RFC 9651 / RFC 9110). */
function seconds(ms: number): number {
  return ms > 0 ? Math.ceil(ms / 1000) : 0;
}

/** Window length in seconds for `w=`: a positive integer even for sub-second windows. */
function windowSeconds(rule: ResolvedRule): number {
  return Math.max(1, Math.ceil(rule.windowMs / 1000));
}

/**
 * The `Retry-After` value (delay-seconds) for a denied decision: whole seconds rounded up, at
 * least 1; `undefined` when the request can never pass (`retryAfterMs` is `Infinity`).
 */
export function retryAfterSeconds(decision: Pick<Decision, 'retryAfterMs'>): number | undefined {
  const ms = decision.retryAfterMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * Policy fields that depend only on the rules, built once per limiter. Draft-6/7 list every rule
 * as `100;w=60`; draft-8 names each: `"100-in-1min";q=100;w=60`.
 * @internal
 */
export interface PolicyText {
  readonly draft6: string;
  readonly draft8: string;
}

/** @internal */
export function policyText(rules: readonly ResolvedRule[]): PolicyText {
  return {
    draft6: rules.map((r) => `${r.limit};w=${windowSeconds(r)}`).join(', '),
    draft8: rules.map((r) => `"${r.name}";q=${r.limit};w=${windowSeconds(r)}`).join(', '),
  };
}

function rateItem(d: RuleDecision): string {
  const wait = d.allowed ? d.resetMs : d.retryAfterMs;
  // `t` is optional: a request that can never pass has no honest "seconds until quota".
  const t = Number.isFinite(wait) ? `;t=${seconds(wait)}` : '';
  return `"${d.rule.name}";r=${Math.max(0, Math.floor(d.remaining))}${t}`;
}

/** @internal The draft-8 `RateLimit` list: one item per rule, in rule order. */
export function draft8Rate(decision: Decision, ruleCount: number): string {
  if (ruleCount === 1) return rateItem(decision);
  let out = '';
  for (const d of decision.rules) out = out === '' ? rateItem(d) : `${out}, ${rateItem(d)}`;
  return out;
}

/**
 * Writes the headers of `decision` into `out` (name → value). `blocked` adds `Retry-After`.
 * Names use their registered capitalisation; every value is an integer or a structured field.
 * @internal
 */
export function writeHeaders(
  out: Record<string, string>,
  decision: Decision,
  plan: HeaderPlan,
  policy: PolicyText,
  ruleCount: number,
  blocked: boolean,
): void {
  const limit = `${decision.limit}`;
  const remaining = `${Math.max(0, Math.floor(decision.remaining))}`;
  // A denied client that waits for "reset" must not be refused again: no reset field comes before
  // Retry-After (a sliding window's end can: the previous window's weight still denies past it).
  const denied = !decision.allowed && Number.isFinite(decision.retryAfterMs) && decision.retryAfterMs > decision.resetMs;
  const resetMs = denied ? decision.retryAfterMs : Math.max(0, decision.resetMs);
  if (plan.legacy) {
    out['X-RateLimit-Limit'] = limit;
    out['X-RateLimit-Remaining'] = remaining;
    // Denied: whole seconds after the current second, so the epoch is never before now + Retry-After.
    out['X-RateLimit-Reset'] = denied
      ? `${Math.ceil(decision.at / 1000) + seconds(resetMs)}`
      : `${Math.ceil((decision.at + resetMs) / 1000)}`;
  }
  if (plan.draft6 || plan.draft7) {
    const reset = seconds(resetMs);
    out['RateLimit-Policy'] = policy.draft6;
    if (plan.draft6) {
      out['RateLimit-Limit'] = limit;
      out['RateLimit-Remaining'] = remaining;
      out['RateLimit-Reset'] = `${reset}`;
    }
    if (plan.draft7) out.RateLimit = `limit=${limit}, remaining=${remaining}, reset=${reset}`;
  }
  if (plan.draft8) {
    // Draft-8 fields are lists: when both families are on, the named form wins the shared names.
    out['RateLimit-Policy'] = policy.draft8;
    out.RateLimit = draft8Rate(decision, ruleCount);
  }
  if (blocked) {
    const retry = retryAfterSeconds(decision);
    if (retry !== undefined) out['Retry-After'] = `${retry}`;
  }
}

/**
 * Formats the rate-limit headers of a decision — a pure function, handy outside the adapters.
 * `blocked` (default: `!decision.allowed`) adds `Retry-After`.
 * @example
 * rateLimitHeaders(decision, ['legacy', 'draft-8']);
 * // { 'X-RateLimit-Limit': '100', …, 'RateLimit-Policy': '"100-in-1min";q=100;w=60', RateLimit: '"100-in-1min";r=99;t=60' }
 */
export function rateLimitHeaders(
  decision: Decision,
  formats: HeaderFormat | readonly HeaderFormat[] = DEFAULT_HEADER_FORMATS,
  blocked = !decision.allowed,
): Record<string, string> {
  const out: Record<string, string> = {};
  const plan = resolveHeaderFormats(formats);
  if (plan === undefined) return out;
  const rules = decision.rules.map((d) => d.rule);
  writeHeaders(out, decision, plan, policyText(rules), rules.length, blocked);
  return out;
}
