import { type Acquired, type AcquireOptions, resolveAcquireOptions } from '../acquire/acquire';
import type { ConcurrencyLimiter } from '../concurrency/concurrency-limiter';
import type { Lease } from '../concurrency/lease';
import { reviseDecision, waitDecision } from '../decision';
import { RateLimitError } from '../errors/rate-limit-error';
import type { Limiter } from '../limiter';

/** A granted acquisition of {@link GatedLimiter}: the rate's decision and the held concurrency slots. */
export type GatedAcquired = Acquired & {
  /** Frees every slot this acquisition holds (the first call; later calls do nothing). The rate's units stay spent. */
  release(): Promise<void>;
  /** Renews every slot's lease; false when any had already expired; rejects when a store call fails. */
  extend(): Promise<boolean>;
};

/**
 * `allOf(rateLimiter, concurrencyLimiter)`: a call waits for a slot of every concurrency limiter, then
 * for its turn of the rate, and holds the slots until it releases them — Bottleneck's `maxConcurrent`
 * plus `minTime`/`reservoir` in one object.
 */
export interface GatedLimiter {
  /** The rate part: the one rate limiter given, or `allOf` of them. */
  readonly limiter: Limiter;
  /** The concurrency limiters, in the order their slots are taken. */
  readonly concurrency: readonly ConcurrencyLimiter[];
  /**
   * Takes the slots (in member order), then the rate's turn. `maxWaitMs` bounds the whole wait,
   * `maxQueue` the calls of the key waiting for either, and `signal` aborts either step; when the rate
   * step fails, the slots are freed before the rejection. The slots are renewed while the call waits
   * for the rate (however long that is); from the grant on, `leaseMs` runs as for any lease (`extend()`).
   * @example
   * const call = await gateway.acquire(tenant);
   * try { await callModel(); } finally { await call.release(); }
   */
  acquire(key: string, options?: AcquireOptions): Promise<GatedAcquired>;
  /**
   * Acquires, runs `fn`, and releases the slots when it settles (also when it throws).
   * @example const answer = await gateway.run(tenant, () => callModel(prompt));
   */
  run<R>(key: string, fn: () => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>>;
}

/** @internal True for what `createConcurrencyLimiter` returns (it has leases, not decisions). */
export function isConcurrencyLimiter(value: unknown): value is ConcurrencyLimiter {
  return (
    typeof value === 'object' &&
    value !== null &&
    'leaseMs' in value &&
    typeof (value as ConcurrencyLimiter).acquire === 'function' &&
    typeof (value as ConcurrencyLimiter).tryAcquire === 'function'
  );
}

/**
 * @internal The calls of each key from their start until the rate grants them, whether they wait for
 * a slot or for the rate: what `maxQueue` bounds when slots are taken first (the rate's own line
 * sees only the calls that already hold their slots).
 */
export class WaitingCalls {
  readonly #byKey = new Map<string, number>();

  /**
   * Counts a call of `key` in, or throws `RateLimitError` when `max` calls already wait. Returns the
   * call's way out (later calls do nothing).
   */
  enter(key: string, max: number, limiter: Limiter): () => void {
    if (max === Number.POSITIVE_INFINITY) return () => {};
    const n = this.#byKey.get(key) ?? 0;
    if (n >= max) {
      const refusal = waitDecision(limiter.rules, 0, Math.floor(limiter.now()));
      throw new RateLimitError(
        refusal,
        `Rate limit exceeded (${refusal.rule.name}): ${n} calls already wait for this key, the most maxQueue (${max}) allows`,
      );
    }
    this.#byKey.set(key, n + 1);
    let out = false;
    return () => {
      if (out) return;
      out = true;
      const m = (this.#byKey.get(key) ?? 1) - 1;
      if (m > 0) this.#byKey.set(key, m);
      else this.#byKey.delete(key);
    };
  }
}

/**
 * @internal Renews `leases` (as they are at each tick: the array grows as slots are taken) every half
 * of the shortest `leaseMs` while their call waits for a later slot or the rate's turn, which may take
 * longer than a lease lasts: a slot that expired there would let another call run beside this one.
 * Returns the stop (idempotent). A failed renewal is left to the store's expiry.
 */
export function keepAlive(leases: readonly Lease[], limiters: readonly ConcurrencyLimiter[]): () => void {
  if (limiters.length === 0) return () => {};
  // A timer holds at most 2^31 − 1 ms (a longer one fires at once).
  const every = Math.min(2 ** 31 - 1, Math.max(1, Math.min(...limiters.map((l) => l.leaseMs)) / 2));
  const timer = setInterval(() => {
    for (const l of leases) {
      try {
        l.extend().catch(() => {});
      } catch {
        // A timer callback that throws would crash the process; the lease then expires as it would.
      }
    }
  }, every);
  timer.unref?.();
  return () => clearInterval(timer);
}

/** @internal Built by `allOf` when a member is a concurrency limiter. */
export function createGated(limiter: Limiter, concurrency: readonly ConcurrencyLimiter[]): GatedLimiter {
  return new Gated(limiter, concurrency);
}

class Gated implements GatedLimiter {
  readonly limiter: Limiter;
  readonly concurrency: readonly ConcurrencyLimiter[];
  readonly #waiting = new WaitingCalls();

  constructor(limiter: Limiter, concurrency: readonly ConcurrencyLimiter[]) {
    this.limiter = limiter;
    this.concurrency = Object.freeze([...concurrency]);
  }

  async acquire(key: string, options?: AcquireOptions): Promise<GatedAcquired> {
    // Every option is checked before a slot is taken: a bad one must not wait for a slot to say so.
    const { maxQueue } = resolveAcquireOptions(options);
    const maxWaitMs = options?.maxWaitMs;
    const start = this.limiter.now();
    const left = () => (maxWaitMs === undefined ? undefined : Math.max(0, maxWaitMs - (this.limiter.now() - start)));
    const signal = options?.signal;
    const leases: Lease[] = [];
    const leave = this.#waiting.enter(key, maxQueue, this.limiter);
    const stop = keepAlive(leases, this.concurrency);
    try {
      // Slots first: the rate paces starts, the slots bound what runs at once; taking the rate first
      // would spend quota on calls that then sit waiting for a slot.
      for (const c of this.concurrency) {
        const wait = left();
        leases.push(await c.acquire(key, { ...(signal ? { signal } : {}), ...(wait === undefined ? {} : { maxWaitMs: wait }) }));
      }
      const wait = left();
      const acquired = await this.limiter.acquire(key, { ...options, ...(wait === undefined ? {} : { maxWaitMs: wait }) });
      stop();
      leave();
      let released: Promise<void> | undefined;
      return reviseDecision(acquired, {
        refund: () => acquired.refund(),
        release: () => {
          released ??= Promise.all(leases.map((l) => l.release())).then(() => undefined);
          return released;
        },
        extend: () => Promise.all(leases.map((l) => l.extend())).then((r) => r.every(Boolean)),
      });
    } catch (error) {
      stop();
      leave();
      await Promise.all(leases.map((l) => l.release()));
      throw error;
    }
  }

  async run<R>(key: string, fn: () => R | PromiseLike<R>, options?: AcquireOptions): Promise<Awaited<R>> {
    const call = await this.acquire(key, options);
    try {
      return await fn();
    } finally {
      await call.release();
    }
  }
}
