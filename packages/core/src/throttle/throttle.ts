import { type Acquired, resolveAcquireOptions } from '../acquire/acquire';
import { type ConcurrencyLimiter, createConcurrencyLimiter } from '../concurrency/concurrency-limiter';
import type { Lease } from '../concurrency/lease';
import type { Decision } from '../decision';
import { ConfigError, describe } from '../errors/config-error';
import { createLimiter, type Limiter, type LimiterOptions } from '../limiter';
import { type GatedLimiter, isConcurrencyLimiter, keepAlive, WaitingCalls } from './gated';

/** How a throttled call waits, keys and refunds; shared by {@link throttle} and `@rateLimited`. */
export interface ThrottleCallOptions<This, Args extends unknown[], R> {
  /**
   * Which budget a call uses: a fixed string, or computed from the call's arguments (and `this`), e.g.
   * per tenant. @default one key for every call (`'throttle'`; `@rateLimited`: the method's name)
   */
  key?: string | ((this: This, ...args: Args) => string);
  /** Units a call takes, fixed or from the arguments (e.g. a batch size). @default 1 */
  cost?: number | ((this: This, ...args: Args) => number);
  /** Reject with `RateLimitError` at once when the wait would be longer (ms). @default Infinity */
  maxWaitMs?: number;
  /**
   * The most calls one key's line may hold (waiting, or being decided); a call that finds it full throws
   * `RateLimitError` at once and `fn` does not run. @default Infinity
   */
  maxQueue?: number;
  /** `false`: never wait; a call that is not allowed now throws `RateLimitError` immediately. @default true */
  wait?: boolean;
  /** Aborts every waiting call (each rejects with the signal's reason and consumes nothing). */
  signal?: AbortSignal;
  /** Called with the length of each sleep (ms). */
  onWait?: (ms: number) => void;
  /**
   * Decides from the call's outcome whether its units go back, e.g. on a 5xx or a network error.
   * @example refundIf: (o) => o.status === 'rejected' || o.value.status >= 500
   */
  refundIf?: (outcome: PromiseSettledResult<R>) => boolean;
  /**
   * At most this many calls run at once (per key), besides the rate: a number (in this process), or
   * a `createConcurrencyLimiter` (e.g. on Redis, shared by every process). A call takes its slot
   * first, then its turn of the rate, and frees the slot when it settles: Bottleneck's
   * `maxConcurrent` and `minTime` in one wrapper.
   * @example throttle(callModel, { limit: 5, window: '1s', concurrency: 2 })
   */
  concurrency?: number | ConcurrencyLimiter;
}

/**
 * Where a throttled function takes its quota: an existing limiter (also `allOf(rate, concurrency)`,
 * whose slots then bound the calls), or options to create one.
 */
export type LimiterSource = { limiter: Limiter | GatedLimiter } | LimiterOptions;

/** Options of {@link throttle}: call options plus `limiter`, or limiter options such as `limit` and `window`. */
export type ThrottleOptions<This, Args extends unknown[], R> = ThrottleCallOptions<This, Args, R> & LimiterSource;

/** The outcome of {@link Throttled.withHandle}: the value and a handle to give the quota back. */
export interface ThrottledCall<R> {
  /** What the wrapped function returned. */
  readonly value: R;
  /** The decision that let the call go. */
  readonly decision: Decision;
  /** Returns the call's units (e.g. the response was a 5xx). Effective once. */
  refund(): Promise<void>;
}

/** A throttled function: same parameters, returns a promise of the same value. */
export interface Throttled<This, Args extends unknown[], R> {
  (this: This, ...args: Args): Promise<R>;
  /** Like calling it, but resolves to `{ value, decision, refund }` so the caller can refund later. */
  withHandle(this: This, ...args: Args): Promise<ThrottledCall<R>>;
  /** The limiter the calls draw from. */
  readonly limiter: Limiter;
}

const CALL_KEYS = ['key', 'cost', 'maxWaitMs', 'maxQueue', 'wait', 'signal', 'onWait', 'refundIf', 'concurrency'] as const;

/** @internal The validated call machinery behind `throttle` and `@rateLimited`. */
export interface Caller<This, Args extends unknown[], R> {
  readonly limiter: Limiter;
  call(self: This, fn: (this: This, ...args: Args) => R | PromiseLike<R>, args: Args): Promise<ThrottledCall<R>>;
}

/** @internal Validates options once and builds the caller. `defaultKey` names the budget when `key` is absent. */
export function createCaller<This, Args extends unknown[], R>(
  options: ThrottleOptions<This, Args, R>,
  defaultKey: string,
  where: string,
): Caller<This, Args, R> {
  if (typeof options !== 'object' || options === null) throw new ConfigError(where, 'an options object', options);
  const o = options as Record<string, unknown>;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (k !== 'limiter' && !(CALL_KEYS as readonly string[]).includes(k)) rest[k] = v;
  }
  let limiter: Limiter;
  let gate: GatedLimiter | undefined;
  if (o.limiter !== undefined) {
    // allOf(rate, concurrency): its rate part paces the calls and its slots bound them.
    if (isGated(o.limiter)) gate = o.limiter;
    const l = (gate ? gate.limiter : o.limiter) as Limiter;
    if (typeof l !== 'object' || l === null || typeof l.acquire !== 'function')
      throw new ConfigError('limiter', 'a limiter (createLimiter, allOf or anyOf)', l);
    const stray = Object.keys(rest)[0];
    if (stray !== undefined) throw new ConfigError(stray, 'undefined when `limiter` is given (configure the limiter instead)', rest[stray]);
    limiter = l;
  } else {
    limiter = createLimiter(rest as LimiterOptions);
  }
  const { key = defaultKey, cost = 1, wait, maxWaitMs, maxQueue, signal, onWait, refundIf } = options;
  if (gate && options.concurrency !== undefined)
    throw new ConfigError('concurrency', 'undefined when `limiter` already has concurrency limiters (allOf)', options.concurrency);
  const slots = gate ? gate.concurrency : resolveConcurrency(options.concurrency);
  if (typeof key !== 'string' && typeof key !== 'function') throw new ConfigError('key', 'a string or a function', key);
  if (typeof cost !== 'function') resolveAcquireOptions({ cost });
  if (wait !== undefined && typeof wait !== 'boolean') throw new ConfigError('wait', 'a boolean', wait);
  if (wait === false && maxWaitMs !== undefined)
    throw new ConfigError('maxWaitMs', 'undefined when `wait` is false (it never waits)', maxWaitMs);
  if (refundIf !== undefined && typeof refundIf !== 'function') throw new ConfigError('refundIf', 'a function', refundIf);
  const base = resolveAcquireOptions({
    ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
    ...(maxQueue !== undefined ? { maxQueue } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(onWait !== undefined ? { onWait } : {}),
  });
  const acquireBase = {
    maxWaitMs: wait === false ? 0 : base.maxWaitMs,
    maxQueue: base.maxQueue,
    ...(base.signal ? { signal: base.signal } : {}),
    ...(base.onWait ? { onWait: base.onWait } : {}),
  };

  // With slots first, the calls waiting for a slot are in no rate line: maxQueue counts them here.
  const waiting = new WaitingCalls();

  /** Waits for the rate's turn (at most `maxWait`), then `granted()`; runs `fn`, refunds by `refundIf`. */
  async function run(
    self: This,
    fn: (this: This, ...args: Args) => R | PromiseLike<R>,
    args: Args,
    k: string,
    c: number,
    maxWait = acquireBase.maxWaitMs,
    granted?: () => void,
  ) {
    const acquired: Acquired = await limiter.acquire(k, { ...acquireBase, maxWaitMs: maxWait, cost: c });
    granted?.();
    let value: R;
    try {
      value = await fn.apply(self, args);
    } catch (error) {
      if (refundIf?.({ status: 'rejected', reason: error })) await acquired.refund();
      throw error;
    }
    if (refundIf?.({ status: 'fulfilled', value })) await acquired.refund();
    return { value, decision: acquired as Decision, refund: () => acquired.refund() };
  }

  return {
    limiter,
    async call(self, fn, args) {
      const k = typeof key === 'function' ? key.apply(self, args) : key;
      if (typeof k !== 'string') throw new ConfigError('key', 'a function returning a string', `it returned ${describe(k)}`);
      const c = typeof cost === 'function' ? cost.apply(self, args) : cost;
      if (slots.length === 0) return run(self, fn, args, k, c);
      // The slots first, then the rate's turn: the rate paces starts, the slots bound what runs at once.
      // One maxWaitMs covers every wait (as allOf's acquire): each step gets what the earlier ones left.
      const leases: Lease[] = [];
      const start = limiter.now();
      const left = () => Math.max(0, acquireBase.maxWaitMs - (limiter.now() - start));
      const leave = waiting.enter(k, acquireBase.maxQueue, limiter);
      const stop = keepAlive(leases, slots);
      try {
        for (const s of slots) {
          const wait = left();
          leases.push(
            await s.acquire(k, {
              ...(acquireBase.signal ? { signal: acquireBase.signal } : {}),
              ...(Number.isFinite(wait) ? { maxWaitMs: wait } : {}),
            }),
          );
        }
        return await run(self, fn, args, k, c, left(), () => {
          leave();
          stop();
        });
      } finally {
        leave();
        stop();
        await Promise.all(leases.map((l) => l.release()));
      }
    },
  };
}

function isGated(value: unknown): value is GatedLimiter {
  return typeof value === 'object' && value !== null && 'concurrency' in value && Array.isArray((value as GatedLimiter).concurrency);
}

function resolveConcurrency(value: unknown): readonly ConcurrencyLimiter[] {
  if (value === undefined) return [];
  if (typeof value === 'number') return [createConcurrencyLimiter({ max: value })];
  if (isConcurrencyLimiter(value)) return [value];
  throw new ConfigError('concurrency', 'a positive integer or a concurrency limiter (createConcurrencyLimiter)', value);
}

/**
 * Wraps `fn` so that each call first waits for its turn (first in, first out per key), then runs.
 * The wrapper has `fn`'s parameters and resolves to its value; `fn` runs only when the limiter allows.
 * @example
 * const search = throttle(api.search, { limit: 10, window: '1s', algorithm: 'token-bucket', burst: 20 });
 * const perTenant = throttle((tenant: string, q: string) => api.query(tenant, q), { limit: 5, window: '1s', key: (tenant) => tenant });
 */
export function throttle<This, Args extends unknown[], R>(
  fn: (this: This, ...args: Args) => R,
  options: ThrottleOptions<This, Args, Awaited<R>>,
): Throttled<This, Args, Awaited<R>> {
  if (typeof fn !== 'function') throw new ConfigError('fn', 'a function', fn);
  const caller = createCaller<This, Args, Awaited<R>>(options, 'throttle', 'options');
  const run = fn as (this: This, ...args: Args) => Awaited<R> | PromiseLike<Awaited<R>>;
  const throttled = function (this: This, ...args: Args): Promise<Awaited<R>> {
    return caller.call(this, run, args).then((r) => r.value);
  };
  return Object.defineProperties(throttled, {
    withHandle: {
      value: function withHandle(this: This, ...args: Args) {
        return caller.call(this, run, args);
      },
    },
    limiter: { value: caller.limiter, enumerable: true },
    name: { value: `throttled ${fn.name}`.trimEnd() },
  }) as unknown as Throttled<This, Args, Awaited<R>>;
}
