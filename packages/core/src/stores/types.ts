import type { StoreError } from '../errors/store-error';
import type { ResolvedRule } from '../rules';
import type { StoreHealth } from './health';

/**
 * Raw results of one store call, flat so a Lua script can return it as is:
 * `[at, allowed₀, remaining₀, resetMs₀, retryAfterMs₀, allowed₁, …]` with `allowed` 1/0, `at` the
 * store's time of the decision (epoch ms) and `retryAfterMs` −1 (or Infinity) for "never".
 */
export type RawResult = ArrayLike<number>;

/** A store bound to one limiter's rules and prefix. Sync results are allowed (memory store). */
export interface BoundStore {
  consume(key: string, cost: number, now: number): RawResult | Promise<RawResult>;
  peek(key: string, now: number): RawResult | Promise<RawResult>;
  /** Gives back `cost` units charged at `chargedAt` (store time); never creates state. */
  refund(key: string, cost: number, now: number, chargedAt: number): void | Promise<void>;
  /** Forgets `key`, or every key of these rules and prefix when `key` is undefined. */
  reset(key: string | undefined): void | Promise<void>;
}

/**
 * Where limiter state lives: {@link MemoryStore} (embedded, the default) or `RedisStore` from
 * `@ratekeeper/core/redis`. Every decision is atomic across all rules of a limiter.
 */
export interface Store {
  /** Prepares the store for one limiter's rules and key prefix; called once by `createLimiter`. */
  bind(rules: readonly ResolvedRule[], prefix: string, options?: BindOptions): BoundStore;
  /** @internal Failure state shared by every limiter on this store (stores that can fail). */
  readonly health?: StoreHealth;
  /**
   * Prepares the store for one concurrency limiter: slots held by leases (see
   * `createConcurrencyLimiter`). Stores without it cannot back a concurrency limiter.
   */
  bindConcurrency?(prefix: string, max: number, leaseMs: number): ConcurrencySlots;
}

/**
 * What a store answers to a slot request: `[granted 1/0, leases held now (after the grant),
 * ms until the earliest lease expires (−1: none)]`.
 */
export type SlotResult = readonly [granted: number, held: number, nextExpiryMs: number];

/** A store's slots for one concurrency limiter: at most `max` unexpired leases per key. */
export interface ConcurrencySlots {
  /** Grants `holder` a lease of `leaseMs` when fewer than `max` unexpired leases exist on `key` (idempotent per holder). */
  acquire(key: string, holder: string, now: number): SlotResult | Promise<SlotResult>;
  /** Ends `holder`'s lease (nothing when it has none). */
  release(key: string, holder: string, now: number): void | Promise<void>;
  /** Renews `holder`'s lease for `leaseMs` from now; false when it had expired (the slot may be someone else's). */
  extend(key: string, holder: string, now: number): boolean | Promise<boolean>;
}

/** What a limiter tells the store it binds to. */
export interface BindOptions {
  /** The limiter answers by policy after this long: a store must not charge a call later than that. */
  readonly timeoutMs: number;
  /** Reports a problem the store handled by itself (e.g. repaired foreign state) through the limiter's `onError`. */
  readonly report?: (error: StoreError) => void;
}
