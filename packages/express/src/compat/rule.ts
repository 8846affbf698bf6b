import type { Rule } from '@ratekeeper/core';

/**
 * The one ratekeeper rule behind an express-rate-limit configuration: an anchored window of
 * `windowMs` (the original's MemoryStore counts each client's hits in a window that starts at its
 * first hit) and the request's `limit`.
 */

/** The longest window a ratekeeper rule takes (one year). */
const MAX_WINDOW_MS = 365 * 86_400_000;

/** The window of the rule, in whole milliseconds: `windowMs` rounded up into [1 ms, one year]. */
export function ruleWindow(windowMs: unknown): number {
  if (typeof windowMs !== 'number' || Number.isNaN(windowMs)) return 60_000;
  return Math.min(MAX_WINDOW_MS, Math.max(1, Math.ceil(windowMs)));
}

/**
 * The most hits one key can count in a window: ratekeeper keeps `limit × window` exact below 2^50
 * (with a factor 4 of headroom). A limit above it cannot be reached anyway.
 */
export function counterCap(window: number): number {
  return Math.floor(2 ** 48 / window);
}

/**
 * An express-rate-limit `limit` as the number it compares hits with: the original refuses when
 * `hits > limit`, and `>` reads `'10'` as 10 (a limit from an environment variable), `undefined`
 * as NaN (never refuses) and `null` as 0.
 */
function numeric(limit: unknown): number {
  return typeof limit === 'number' ? limit : Number(limit);
}

/**
 * The rule's id, which is part of its storage key. A fixed limit gets ratekeeper's derived id
 * (`aw-5-60000`: a native `anchored-window` rule of the same limit and window on the same store
 * reads the same counters); a per-request limit gets one id for every value (`aw-60000`), so its counts
 * are shared whatever the function returns.
 */
export function ruleId(limit: unknown, window: number): string {
  if (typeof limit === 'function') return `aw-${window}`;
  return `aw-${ruleLimit(numeric(limit), window)}-${window}`;
}

/** A rule's limit for an express-rate-limit `limit`: whole hits, at least 1, at most the cap. */
function ruleLimit(limit: number, window: number): number {
  // Hits are whole: `limit: 2.5` lets 2 through, as `hits > limit` does. Below 1, see `costOf`.
  if (Number.isNaN(limit)) return counterCap(window);
  return Math.max(1, Math.min(counterCap(window), Math.floor(limit)));
}

/**
 * The cost a request is charged so that the rule refuses it exactly when the original would. A
 * limit below 1 blocks every request (`hits > 0`); a ratekeeper rule cannot have a limit of 0, so
 * such requests cost 2 against a limit of 1: refused, and nothing is consumed.
 */
export function costOf(limit: unknown): 1 | 2 {
  return numeric(limit) < 1 ? 2 : 1;
}

/** Rules of one window, by limit value: one array per value, so the pipeline finds its limiter by identity. */
export class RuleCache {
  readonly #window: number;
  readonly #id: string;
  readonly #byLimit = new Map<number, readonly Rule[]>();

  constructor(window: number, id: string) {
    this.#window = window;
    this.#id = id;
  }

  /** The rules for a limit value (one that is not a number never refuses, as `hits > NaN` never holds). */
  rules(limit: unknown): readonly Rule[] {
    const value = ruleLimit(numeric(limit), this.#window);
    let rules = this.#byLimit.get(value);
    if (rules === undefined) {
      // A function returning ever new limits must not grow this without bound.
      if (this.#byLimit.size >= 1000) this.#byLimit.clear();
      rules = Object.freeze([{ algorithm: 'anchored-window', limit: value, window: this.#window, name: this.#id }] as const);
      this.#byLimit.set(value, rules);
    }
    return rules;
  }
}
