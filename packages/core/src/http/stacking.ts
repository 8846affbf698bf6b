import type { Decision } from '../decision';
import type { HeaderPlan } from './headers';

/**
 * Several ratekeeper limiters on one request (app-wide + route): every one counts, and the
 * headers stay honest. What each limiter wrote is remembered on the request:
 *
 * - a **429** carries the headers of the limiter that denied it, and only those (what earlier
 *   limiters wrote is cleared);
 * - on an **allowed** response, each single-valued family (`X-RateLimit-*`; draft-6/7) shows the
 *   most restrictive limiter, and draft-8's `RateLimit` / `RateLimit-Policy` list every limiter;
 * - draft-8 wins the names it shares with draft-6/7 (`RateLimit`, `RateLimit-Policy`), as it does
 *   within one limiter.
 * @internal
 */
export interface RequestMark {
  /** The first limiter that counted the request; `others` only exists when there are more. */
  readonly first: object;
  others: object[] | undefined;
  /** The decision the legacy family shows, and the one draft-6/7 show. */
  legacy: Decision | undefined;
  draft67: Decision | undefined;
  /** The draft-8 lists so far. */
  policy8: string | undefined;
  rate8: string | undefined;
  /** Header names written so far (cleared by a limiter that denies). */
  names: string[] | undefined;
}

const MARK = Symbol.for('ratekeeper.request');

type Carrier = object & { [MARK]?: RequestMark };

/**
 * Marks `carrier` (the framework's per-request object) as counted by `limiter`; `undefined` when
 * this limiter already counted it (the same middleware mounted twice on one path).
 */
export function markRequest(carrier: object, limiter: object): RequestMark | undefined {
  const c = carrier as Carrier;
  const mark = c[MARK];
  if (mark === undefined) {
    const fresh: RequestMark = {
      first: limiter,
      others: undefined,
      legacy: undefined,
      draft67: undefined,
      policy8: undefined,
      rate8: undefined,
      names: undefined,
    };
    c[MARK] = fresh;
    return fresh;
  }
  if (mark.first === limiter || mark.others?.includes(limiter)) return undefined;
  if (mark.others === undefined) mark.others = [limiter];
  else mark.others.push(limiter);
  return mark;
}

const LEGACY = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'] as const;
const DRAFT6 = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'] as const;

/** True when `a` leaves the client less room than `b`: denied, fewer units left, or a later reset. */
function tighter(a: Decision, b: Decision): boolean {
  if (a.allowed !== b.allowed) return !a.allowed;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining;
  return a.resetMs > b.resetMs;
}

/**
 * Merges this limiter's headers (`own`, written for its decision alone) with what earlier limiters
 * of the request wrote. Edits `own` in place; returns the names to remove from the response.
 */
export function stackHeaders(
  mark: RequestMark,
  own: Record<string, string>,
  decision: Decision,
  plan: HeaderPlan,
  blocked: boolean,
): readonly string[] | undefined {
  const before = mark.names;
  if (blocked) {
    mark.names = Object.keys(own);
    if (before === undefined) return undefined;
    const clear = before.filter((n) => !(n in own));
    return clear.length === 0 ? undefined : clear;
  }
  if (before === undefined) {
    // The first (or only) limiter: nothing to merge, the common case.
    if (plan.legacy) mark.legacy = decision;
    if (plan.draft6 || plan.draft7) mark.draft67 = decision;
    if (plan.draft8) {
      mark.policy8 = own['RateLimit-Policy'];
      mark.rate8 = own.RateLimit;
    }
    mark.names = Object.keys(own);
    return undefined;
  }
  if (plan.legacy) {
    if (mark.legacy !== undefined && !tighter(decision, mark.legacy)) for (const n of LEGACY) delete own[n];
    else mark.legacy = decision;
  }
  if (plan.draft6 || plan.draft7) {
    if (mark.draft67 !== undefined && !tighter(decision, mark.draft67)) {
      for (const n of DRAFT6) delete own[n];
      if (!plan.draft8) {
        delete own.RateLimit;
        delete own['RateLimit-Policy'];
      }
    } else mark.draft67 = decision;
  }
  if (plan.draft8) {
    if (mark.rate8 !== undefined) {
      own['RateLimit-Policy'] = `${mark.policy8}, ${own['RateLimit-Policy']}`;
      own.RateLimit = `${mark.rate8}, ${own.RateLimit}`;
    }
    mark.policy8 = own['RateLimit-Policy'];
    mark.rate8 = own.RateLimit;
  } else if (mark.rate8 !== undefined) {
    // Draft-8 lists are on the response already: a draft-6/7 form must not overwrite them.
    delete own.RateLimit;
    delete own['RateLimit-Policy'];
  }
  for (const n of Object.keys(own)) if (!before.includes(n)) before.push(n);
  return undefined;
}
