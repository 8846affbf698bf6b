import { createLimiter, type Decision, type Limiter, type Store as RatekeeperStore } from '@ratekeeper/core';
import { counterCap } from './rule';
import type { ClientRateLimitInfo } from './types';

/**
 * express-rate-limit's store operations (`increment`, `decrement`, `get`, `resetKey`, `resetAll`)
 * over the counters a compat middleware keeps in a ratekeeper store: a limiter with the same
 * anchored-window rule id, prefix and window, whose limit is the counter's cap, so it reads and moves
 * the same counts. The `MemoryStore` export is this over ratekeeper's MemoryStore; a middleware on
 * a ratekeeper store (`RedisStore`) uses it for `getKey` and `resetKey`.
 */
export class CounterView {
  readonly #limiter: Limiter;
  readonly #cap: number;

  constructor(store: RatekeeperStore, id: string, window: number) {
    this.#cap = counterCap(window);
    this.#limiter = createLimiter({
      rules: [{ algorithm: 'anchored-window', limit: this.#cap, window, name: id }],
      store,
      // The original's clock: `resetTime` is a `Date`, and test clocks that fake `Date` move it.
      now: Date.now,
      // A failure is the caller's (a rejected promise), not a process warning.
      onError: () => {},
    });
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const d = this.#answer(await this.#limiter.consume(key));
    return { totalHits: this.#cap - d.remaining, resetTime: new Date(d.at + d.resetMs) };
  }

  decrement(key: string): Promise<void> {
    // Into the current window only, never below zero: an expired window is already reset.
    return this.#limiter.refund(key, 1);
  }

  /** The hits of `key` in its current window, or `undefined` when it has none. */
  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const d = this.#answer(await this.#limiter.peek(key));
    const hits = this.#cap - d.remaining;
    return hits === 0 ? undefined : { totalHits: hits, resetTime: new Date(d.at + d.resetMs) };
  }

  resetKey(key: string): Promise<void> {
    return this.#limiter.reset(key);
  }

  resetAll(): Promise<void> {
    return this.#limiter.reset();
  }

  /** A decision the store did not make (it failed) has no counts to show. */
  #answer(d: Decision): Decision {
    if (d.error !== undefined) throw d.error.cause ?? d.error;
    return d;
  }
}
