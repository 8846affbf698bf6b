import { createLimiter, type Decision, type Limiter, type RateLimitLogger, type Store, type StoreError } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type HttpLimiter, nodeHeader } from '@ratekeeper/core/http';
import type { FastifyRequest } from 'fastify';
import { normalizeIP } from './ip';
import type { Params } from './params';
import { TheirStore } from './their-store';
import type { FastifyRateLimitStore, RateLimitResult } from './types';

/** Where one limiter's counts live: a ratekeeper store, or a store in @fastify/rate-limit's contract. */
export type Backing =
  | {
      readonly store: Store;
      readonly theirs?: undefined;
      /**
       * The error the original would meet on the app's own Redis client, checked first: that client
       * was closed (RedisStore counts on a duplicate of it, which closes a moment later).
       */
      readonly unusable?: () => Error | undefined;
    }
  | { readonly theirs: FastifyRateLimitStore; readonly unusable?: undefined };

/** What every limiter of one plugin registration shares. */
export interface Shared {
  /** The clock: `Date.now`, as @fastify/rate-limit reads time (fake timers move it too). */
  readonly now: () => number;
  readonly logger: RateLimitLogger | undefined;
}

/** One request through the pipeline: the key is computed here, before, as the original does. */
interface Call {
  readonly request: FastifyRequest;
  readonly key: string;
}

const adapter: HttpAdapter<Call> = {
  ip: (call) => call.request.ip,
  route: () => undefined,
  // As in the native plugin: Fastify's trustProxy shows as request.ip differing from the socket's.
  trustsProxy: (call) => call.request.ip !== call.request.raw.socket.remoteAddress,
  header: (call, name) => nodeHeader(call.request.raw, name),
};

/** ratekeeper's bounds on a rule (see core `rules.ts` and `duration.ts`): a window of at most a year… */
const MAX_WINDOW_MS = 365 * 86_400_000;
/** …and limit × window × 4 at most 2^50. */
const MAX_PRODUCT = 2 ** 50;
/**
 * The largest limit ratekeeper's sliding log takes (it keeps one timestamp per request; core's
 * `SLIDING_LOG_MAX_LIMIT`): refusals are counted in one.
 */
const MAX_LOGGED = 10_000;
/** Distinct (max, timeWindow) pairs kept per limiter (a `max` function per plan): least recently used dropped. */
const MAX_ENGINES = 1000;

const NOT_READABLE = 'The configured rate-limit store does not implement a `read` method, which is required to use `{ increment: false }`';

/** What a `max` or `timeWindow` function returned: it must be a non-negative number (the original's README says so). */
function returned(option: string, value: unknown): number {
  if (typeof value === 'number' && value >= 0) return value;
  throw new TypeError(`The \`${option}\` function must return a non-negative number, got ${String(value)}`);
}

/** The limiters for one (max, timeWindow). */
interface Engine {
  readonly http: HttpLimiter<Call>;
  /** The pipeline's limiter (for reads). */
  readonly limiter: Limiter;
  /** The window as the engine counts it (see `#build`). */
  readonly windowMs: number;
  /** Refusals of a key in the last window, when `ban` or `exponentialBackoff` needs the number. */
  readonly refusals: Limiter | undefined;
  /**
   * Restarts the key's window so that it is refused for `ms` from now (continueExceeding,
   * exponentialBackoff); answers `ms`. Undefined when neither option is on, or a custom store counts.
   */
  readonly rearm: ((key: string, ms: number) => Promise<number>) | undefined;
}

/** The engine's view of one request: @fastify/rate-limit's `current` and `ttl`. */
interface Count {
  current: number;
  ttl: number;
  banned: boolean;
}

/**
 * One limiter of @fastify/rate-limit (the plugin-wide one, a route's, or a decorator call's) on
 * ratekeeper's engine: the key, allow list, `max` and `timeWindow` are resolved as the original
 * resolves them, then the native HTTP pipeline decides (`max` per `timeWindow` from the key's first
 * request: an anchored window, as the original's stores count)
 * in a ratekeeper store, or in a custom store through {@link TheirStore}.
 */
export class CompatLimiter {
  readonly params: Params;
  readonly #backing: Backing;
  readonly #prefix: string;
  readonly #shared: Shared;
  readonly #engines = new Map<string, Engine>();

  constructor(params: Params, backing: Backing, prefix: string, shared: Shared) {
    this.params = params;
    this.#backing = backing;
    this.#prefix = prefix;
    this.#shared = shared;
  }

  /** `createRateLimit()(request, { increment })`, which the hooks use too. */
  async check(request: FastifyRequest, increment = true): Promise<RateLimitResult> {
    const p = this.params;
    let key = (
      typeof p.keyGenerator === 'function' ? await p.keyGenerator(request) : normalizeIP(request.ip ?? '', p.ipv6Subnet)
    ) as string;
    const groupId = (request.routeOptions.config as { rateLimit?: { groupId?: unknown } } | undefined)?.rateLimit?.groupId;
    if (groupId) key += groupId;
    const allow = p.allowList;
    if (allow) {
      if (typeof allow === 'function' ? await allow(request, key) : Array.isArray(allow) && allow.includes(key))
        return { isAllowed: true, key };
    }
    const max = typeof p.max === 'number' ? p.max : returned('max', await p.max(request, key));
    const timeWindow = typeof p.timeWindow === 'number' ? p.timeWindow : returned('timeWindow', await p.timeWindow(request, key));
    if (!increment && this.#backing.theirs !== undefined && typeof this.#backing.theirs.read !== 'function') throw new Error(NOT_READABLE);
    const engine = this.#engine(max, timeWindow);
    const unusable = this.#backing.unusable?.();
    if (unusable !== undefined) {
      if (!p.skipOnError) throw unusable;
      return { isAllowed: false, key, max, timeWindow, remaining: max, ttl: 0, ttlInSeconds: 0, isExceeded: false, isBanned: false };
    }
    const count = increment
      ? await this.#consume(request, engine, String(key), max, timeWindow)
      : await this.#peek(engine, String(key), max);
    return {
      isAllowed: false,
      key,
      max,
      timeWindow,
      remaining: Math.max(0, max - count.current),
      ttl: count.ttl,
      ttlInSeconds: Math.ceil(count.ttl / 1000),
      isExceeded: count.current > max,
      isBanned: count.banned,
    };
  }

  async #consume(request: FastifyRequest, engine: Engine, key: string, max: number, timeWindow: number): Promise<Count> {
    if (max < 1 && this.#backing.theirs === undefined) {
      // `max: 0` refuses everything; ratekeeper's rules need a limit of at least 1, so no count is kept.
      const refusals = await this.#refuse(engine, key);
      return { current: 1, ttl: timeWindow, banned: this.#banned(refusals) };
    }
    // A fresh carrier (the original counts a request each time it is checked) and no skip or
    // allow list in the pipeline: it always answers.
    const outcome = engine.http.handle({ request, key }, {});
    const d = ((outcome instanceof Promise ? await outcome : outcome) as { decision: Decision }).decision;
    if (d.error !== undefined) return this.#failed(d.error);
    if (d.allowed) return { current: max - d.remaining, ttl: d.resetMs, banned: false };
    const refusals = await this.#refuse(engine, key);
    const p = this.params;
    let ttl = d.retryAfterMs;
    // A refusal restarts the key's window (continueExceeding), or blocks it for timeWindow × 2^(n−1)
    // after its n-th refusal (exponentialBackoff); a custom store does this itself.
    if (engine.rearm !== undefined && p.continueExceeding === true) ttl = await engine.rearm(key, engine.windowMs);
    else if (engine.rearm !== undefined && p.exponentialBackoff === true)
      ttl = await engine.rearm(key, Math.min(engine.windowMs * 2 ** Math.max(0, refusals - 1), MAX_WINDOW_MS));
    return { current: max + 1, ttl, banned: this.#banned(refusals) };
  }

  /** Counts a refusal: how many the key has had in the last window, this one included (0: not counted). */
  async #refuse(engine: Engine, key: string): Promise<number> {
    const refusals = engine.refusals;
    if (refusals === undefined) return 0;
    const d = await refusals.consume(key);
    if (d.error !== undefined) return this.#failed(d.error).current;
    // A full counter refuses without counting: at least one more than it holds.
    return d.allowed ? d.limit - d.remaining : d.limit + 1;
  }

  /** `ban` refusals are tolerated; the next one is answered 403. */
  #banned(refusals: number): boolean {
    const ban = this.params.ban;
    return ban >= 0 && refusals > ban;
  }

  async #peek(engine: Engine, key: string, max: number): Promise<Count> {
    const d = await engine.limiter.peek(key);
    if (d.error !== undefined) return this.#failed(d.error);
    const counted = engine.refusals === undefined ? undefined : await engine.refusals.peek(key);
    if (counted?.error !== undefined) return this.#failed(counted.error);
    // Refusals so far (a full counter: at least one more than it holds).
    const refusals = counted === undefined ? 0 : counted.allowed ? counted.limit - counted.remaining : counted.limit + 1;
    const banned = this.#banned(refusals);
    if (this.#backing.theirs !== undefined) {
      // The store's own `read`: allowed means "not over the limit" (see TheirStore).
      return d.allowed ? { current: max - d.remaining, ttl: d.resetMs, banned } : { current: max + 1, ttl: d.retryAfterMs, banned };
    }
    // Nothing counted in this window: @fastify/rate-limit reports a clean state with no ttl.
    if (d.allowed && d.remaining >= d.limit) return { current: 0, ttl: 0, banned };
    if (d.allowed) return { current: max - d.remaining, ttl: d.resetMs, banned };
    // Refused: over the limit when a refusal was counted, or when refusals restart the window
    // (only a refusal fills it then); else read as exactly at the limit. (The original counts every
    // refusal; ratekeeper does not charge one, so that is all a read can tell.)
    const over = counted !== undefined ? refusals > 0 : engine.rearm !== undefined;
    return { current: over ? max + 1 : max, ttl: d.retryAfterMs, banned };
  }

  /** A store failure: the store's error answers the request, or with `skipOnError` nothing was counted. */
  #failed(error: StoreError): Count {
    if (!this.params.skipOnError) throw error.cause instanceof Error ? error.cause : error;
    return { current: 0, ttl: 0, banned: false };
  }

  /** The pipeline (and refusal counter) for one (max, timeWindow), built on first use. */
  #engine(max: number, timeWindow: number): Engine {
    const id = `${max}:${timeWindow}`;
    const engines = this.#engines;
    let engine = engines.get(id);
    if (engine !== undefined) {
      engines.delete(id);
      engines.set(id, engine);
      return engine;
    }
    engine = this.#build(max, timeWindow);
    if (engines.size >= MAX_ENGINES) engines.delete(engines.keys().next().value as string);
    engines.set(id, engine);
    return engine;
  }

  #build(max: number, timeWindow: number): Engine {
    const p = this.params;
    const theirs = this.#backing.theirs;
    // The original takes any non-negative window and limit; ratekeeper's rules are bounded, so a
    // window beyond them is shortened (the count stays exact).
    const limit = Math.min(Math.max(1, Math.trunc(max) || 1), MAX_PRODUCT / 4);
    const windowMs = Math.max(1, Math.min(Math.trunc(timeWindow) || 1, MAX_WINDOW_MS, Math.floor(MAX_PRODUCT / (4 * limit))));
    // The original's stores count a window that starts at the key's first request and ends
    // timeWindow later (LocalStore's iterationStartMs, the Redis store's PEXPIRE on the first
    // INCR): ratekeeper's anchored window, so ttl and the reset headers are the window's end.
    const algorithm = 'anchored-window' as const;
    const store = theirs === undefined ? this.#backing.store : new TheirStore(theirs, max, timeWindow);
    const { now, logger } = this.#shared;
    const options = {
      store,
      // A custom store keys its own counts (its `child()` is per route): it gets the original key.
      prefix: theirs === undefined ? this.#prefix : '',
      now,
      onStoreError: 'allow' as const,
      ...(logger === undefined ? {} : { logger }),
      // The original asks a custom store on every request and waits for it as long as it takes.
      ...(theirs === undefined ? {} : { retryStoreAfterMs: 0, timeoutMs: 10_000 }),
    };
    const rule = { limit, window: windowMs, algorithm, name: 'hits' };
    const http = createHttpLimiter<Call>({ ...rule, ...options, key: (call) => call.key, headers: false, dryRun: true }, adapter);
    const limiter = http.limiter as Limiter;

    // Refusals are counted (ratekeeper charges none) when `ban` or the backoff needs their number:
    // `ban + 1` of them per window are enough to tell a ban, 54 to reach 2^53 × timeWindow.
    const need = Math.max(p.ban + 1, theirs === undefined && p.exponentialBackoff === true && p.continueExceeding !== true ? 54 : 0);
    const refusals =
      need > 0
        ? createLimiter({
            ...options,
            limit: Math.min(need, MAX_LOGGED, Math.floor(MAX_PRODUCT / (4 * windowMs))),
            window: windowMs,
            algorithm: 'sliding-log',
            name: 'refusals',
            // A custom store counts them under a key of their own.
            ...(theirs === undefined ? {} : { store: new TheirStore(theirs, need, timeWindow), prefix: 'refusals-' }),
          })
        : undefined;

    const restarts = theirs === undefined && (p.continueExceeding === true || p.exponentialBackoff === true);
    // Holders of a block of `ms`: the same rule (so the same state) with `blockFor`.
    const blockers = new Map<number, Limiter>();
    const rearm = async (key: string, ms: number): Promise<number> => {
      try {
        // Forget the key, fill a window that starts now (refused for windowMs), and when the wait
        // is longer, refuse it once more through a limiter whose refusal blocks the key for `ms`.
        // Native operations only: ratekeeper never charges a refusal.
        await limiter.reset(key);
        await limiter.consume(key, { cost: limit });
        if (ms > windowMs) {
          let blocker = blockers.get(ms);
          if (blocker === undefined) {
            blocker = createLimiter({ ...rule, ...options, blockFor: ms });
            blockers.set(ms, blocker);
          }
          await blocker.consume(key);
        }
        return ms;
      } catch (error) {
        const cause = (error as StoreError).cause;
        if (!p.skipOnError) throw cause instanceof Error ? cause : error;
        return ms;
      }
    };
    return { http, limiter, windowMs, refusals, rearm: restarts ? rearm : undefined };
  }
}
