import { type MemoryStoreOptions, MemoryStore as RatekeeperMemoryStore } from '@ratekeeper/core';
import { CounterView } from './counter-view';
import { ruleId, ruleWindow } from './rule';
import type { ClientRateLimitInfo, Options, Store } from './types';

/**
 * express-rate-limit's `MemoryStore`, backed by ratekeeper's: the counters live in ratekeeper's
 * bounded memory store (no timer, at most `maxKeys` keys), each client's in a window of `windowMs`
 * from its first hit (the `anchored-window` algorithm, as the original counts), and a compat
 * middleware decides on it natively, in the same tick. Its express-rate-limit methods read and
 * move the counts that middleware keeps.
 *
 * Differences from the original: there is no `interval` timer to stop (`shutdown()` only forgets
 * every count); a request the middleware refuses is not counted (as every ratekeeper refusal), so
 * a client that keeps trying is let in again when its window ends; and `get()` answers `undefined`
 * for a client whose count went back to 0.
 * @example
 * app.use(rateLimit({ limit: 100, store: new MemoryStore() }));
 */
export class MemoryStore extends RatekeeperMemoryStore implements Store {
  /** The window length, from the middleware's options (`init`). @default 60000 */
  windowMs = 60_000;
  /** Counters are per instance: two instances never share them. */
  readonly localKeys = true;
  #id: string | undefined;
  #view: CounterView | undefined;

  constructor(options?: MemoryStoreOptions) {
    super(options);
  }

  /** Called by the middleware with its options: the window, and the rule its counters are kept under. */
  init(options: Partial<Options>): void {
    if (options.windowMs !== undefined) this.windowMs = options.windowMs;
    this.#id = ruleId(options.limit, ruleWindow(this.windowMs));
    this.#view = undefined;
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> {
    return this.#counter().get(key);
  }

  /** Counts a hit (beyond any limit: limits are the middleware's) and answers the window's hits. */
  increment(key: string): Promise<ClientRateLimitInfo> {
    return this.#counter().increment(key);
  }

  decrement(key: string): Promise<void> {
    return this.#counter().decrement(key);
  }

  resetKey(key: string): Promise<void> {
    return this.#counter().resetKey(key);
  }

  resetAll(): Promise<void> {
    return this.#counter().resetAll();
  }

  /** Forgets every count (there is no timer to stop). */
  shutdown(): void {
    void this.resetAll();
  }

  #counter(): CounterView {
    const window = ruleWindow(this.windowMs);
    this.#view ??= new CounterView(this, this.#id ?? ruleId(undefined, window), window);
    return this.#view;
  }
}
