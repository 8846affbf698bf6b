import type { BoundStore, RawResult, Store } from '@ratekeeper/core';
import type { FastifyRateLimitStore, StoreResult } from './types';

/**
 * A store in @fastify/rate-limit's contract (`incr(key, cb, timeWindow, max)`, `read`) as a
 * ratekeeper {@link Store}, so a custom store plugs into the same limiter, pipeline and failure
 * handling as the memory and Redis stores. The store counts and owns its windows (and
 * `continueExceeding`, which it receives with the options): this translator only reads its answer.
 * One per limit and window, which `incr` receives as the original passes them.
 */
export class TheirStore implements Store {
  readonly #store: FastifyRateLimitStore;
  readonly #max: number;
  readonly #timeWindow: number;

  constructor(store: FastifyRateLimitStore, max: number, timeWindow: number) {
    this.#store = store;
    this.#max = max;
    this.#timeWindow = timeWindow;
  }

  /** The limiter's prefix is put before the key (empty for the main count: the store sees the original key). */
  bind(_rules: unknown, prefix: string): BoundStore {
    const store = this.#store;
    const max = this.#max;
    const timeWindow = this.#timeWindow;
    const call = (method: 'incr' | 'read', key: string, now: number): Promise<RawResult> =>
      new Promise((resolve, reject) => {
        const fn = store[method] as NonNullable<FastifyRateLimitStore['read']>;
        fn.call(
          store,
          prefix + key,
          (error, result) => {
            if (error) reject(error);
            else resolve(toRaw(result, now, max));
          },
          timeWindow,
          max,
        );
      });
    return {
      consume: (key, _cost, now) => call('incr', key, now),
      peek: (key, now) => call('read', key, now),
      // The contract has no way to give a hit back or forget a key: hits stay counted, as in the original.
      refund: () => {},
      reset: () => {},
    };
  }
}

/**
 * `{ current, ttl }` as a raw decision for one rule: allowed while `current ≤ max` (for `read` too:
 * "not exceeded"), `remaining = max − current`, reset and retry in `ttl` ms.
 */
function toRaw(result: StoreResult | undefined, now: number, max: number): RawResult {
  const current = Number(result?.current ?? 0);
  const ttl = Math.max(0, Number(result?.ttl ?? 0)) || 0;
  const allowed = current <= max;
  return [now, allowed ? 1 : 0, Math.max(0, max - current), ttl, allowed ? 0 : ttl];
}
