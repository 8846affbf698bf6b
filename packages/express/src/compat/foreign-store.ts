import type { BoundStore, Store as RatekeeperStore, RawResult, ResolvedRule } from '@ratekeeper/core';
import type { ClientRateLimitInfo, LegacyStore, Store } from './types';

/**
 * An express-rate-limit store (rate-limit-redis, rate-limit-memcached, a legacy `incr` store...)
 * as a ratekeeper `Store`, so the native pipeline drives it: one rule, whose limit is
 * compared with the hits the store counts.
 *
 * The store keeps its own contract: every request increments (a refused one too, as the original
 * counts it), and a refund is one `decrement`. So an app can move to the compat layer while other
 * instances still run express-rate-limit on the same backend.
 *
 * The raw result departs from ratekeeper's in one place, read by the compat layer only: `resetMs`
 * is NaN when the store gave no `resetTime` (the original then sends no reset header).
 */
export class ForeignStore implements RatekeeperStore {
  readonly #store: Store;
  readonly #windowMs: number;
  readonly #onHits: (hits: unknown) => void;

  /** `onHits` sees every `totalHits` the store answers (the `positiveHits` check). */
  constructor(store: Store, windowMs: number, onHits: (hits: unknown) => void) {
    this.#store = store;
    this.#windowMs = windowMs;
    this.#onHits = onHits;
  }

  /** The store the middleware's `getKey` and `resetKey` call. */
  get store(): Store {
    return this.#store;
  }

  bind(rules: readonly ResolvedRule[]): BoundStore {
    const limit = (rules[0] as ResolvedRule).limit;
    const store = this.#store;
    const windowMs = this.#windowMs;
    const result = (info: ClientRateLimitInfo | undefined, cost: number, now: number): RawResult => {
      const hits = info?.totalHits ?? 0;
      // `hits > limit` refuses, as in the original (a NaN from a broken store refuses nothing).
      const allowed = cost <= limit && !(hits > limit);
      const reset = info?.resetTime;
      const resetMs = reset instanceof Date ? reset.getTime() - now : Number.NaN;
      const wait = cost > limit ? -1 : Number.isNaN(resetMs) ? windowMs : Math.max(0, resetMs);
      // Refused: what was left when the request came, before the store counted it (as ratekeeper's
      // stores answer, which do not count a refused request).
      const remaining = Math.max(0, limit - hits + (allowed ? 0 : 1));
      return [now, allowed ? 1 : 0, remaining, resetMs, allowed ? 0 : wait];
    };
    return {
      consume: (key, cost, now) =>
        Promise.resolve(store.increment(key)).then((info) => {
          this.#onHits(info?.totalHits);
          return result(info, cost, now);
        }),
      peek: (key, now) => {
        if (typeof store.get !== 'function') throw new Error('This express-rate-limit store has no get()');
        return Promise.resolve(store.get(key)).then((info) => result(info, 1, now));
      },
      // One request, one decrement: the store counts requests, whatever the cost.
      refund: (key) => store.decrement(key),
      reset: (key) => (key === undefined ? store.resetAll?.() : store.resetKey(key)),
    };
  }
}

/** True for an express-rate-limit store: `increment`, or a legacy `incr`. */
export function isExpressRateLimitStore(store: unknown): store is Store | LegacyStore {
  const s = store as Partial<Store & LegacyStore> | null;
  return typeof s === 'object' && s !== null && (typeof s.increment === 'function' || typeof s.incr === 'function');
}

/**
 * A legacy store (`incr(key, callback)`, express-rate-limit 5 and earlier) with the promise-based
 * interface; a modern store (one with `increment`, even beside `incr`) as it is.
 */
export function promisifyStore(store: Store | LegacyStore): Store {
  const legacy = store as Partial<LegacyStore & Store>;
  if (typeof legacy.increment === 'function' || typeof legacy.incr !== 'function') return store as Store;
  const old = store as LegacyStore;
  return {
    increment: (key) =>
      new Promise<ClientRateLimitInfo>((resolve, reject) => {
        old.incr(key, (error, totalHits, resetTime) => {
          if (error) reject(error);
          else resolve({ totalHits, resetTime });
        });
      }),
    decrement: async (key) => old.decrement(key),
    resetKey: async (key) => old.resetKey(key),
    resetAll: async () => old.resetAll?.(),
  };
}

/** Throws the original's TypeError (its message names the store) unless `store` has the modern interface. */
export function checkStore(store: Store): void {
  const s = store as unknown as Record<string, unknown>;
  const fn = (name: string): boolean => typeof s[name] === 'function';
  const optional = (name: string): boolean => s[name] === undefined || fn(name);
  if (!fn('increment') || !fn('decrement') || !fn('resetKey') || !optional('resetAll') || !optional('init')) throw invalidStoreError();
}

/** The TypeError for a `store` that is neither an express-rate-limit store nor a ratekeeper one (its message names the store). */
export function invalidStoreError(): TypeError {
  return new TypeError(
    'Expected `store` to implement the express-rate-limit Store interface (increment, decrement and resetKey functions; ' +
      'init and resetAll, when present, functions) or to be a ratekeeper store (bind)',
  );
}
