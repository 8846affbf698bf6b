import { type AcquireSource, acquire, resolveAcquireOptions } from '../acquire/acquire';
import { waitDecision } from '../decision';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import { isRateLimitError } from '../errors/rate-limit-error';
import { createLimiter, type Limiter } from '../limiter';
import type { Rule } from '../rules';
import type { Store } from '../stores/types';
import { HostPauses } from './host-pauses';
import { retryAfterFromHeaders } from './retry-after';

/** The `fetch` signature this module wraps and returns. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options of {@link rateLimitedFetch}. */
export interface RateLimitedFetchOptions {
  /** The limit(s) each host gets, e.g. `{ limit: 2, window: '1s' }`; the key is the URL's `host` (with port). */
  perHost: Rule | readonly Rule[];
  /** The fetch to call. @default globalThis.fetch */
  fetch?: FetchLike;
  /** Where the per-host state lives; a `RedisStore` shares each host's budget across processes. @default a new MemoryStore() */
  store?: Store;
  /** Storage key prefix. @default 'rk:fetch:' */
  prefix?: string;
  /** A request whose wait would be longer rejects at once with `RateLimitError`. @default Infinity */
  maxWaitMs?: number;
  /**
   * The most requests one host's line may hold; a request that finds it full rejects at once with
   * `RateLimitError` (a retry after a 429 that finds it full returns the 429). @default Infinity
   */
  maxQueue?: number;
  /** How many times a 429 (or a 503 with `Retry-After`) is retried after the pause the server asked for. @default 0 */
  retries?: number;
  /** A 429 that names no delay pauses its host this long (ms). @default 1000 */
  defaultPauseMs?: number;
  /**
   * The longest pause a server can impose (ms): a longer `Retry-After` (or `RateLimit` `t`, or
   * `RateLimit-Reset`) pauses the host only this long. Guards against a server, buggy or hostile, that
   * asks for a month or for ever. Raise it to honour longer pauses; pauses longer than a timer can hold
   * (about 24.8 days) are slept in slices. Must be finite. @default 86_400_000 (one day)
   */
  maxRetryAfterMs?: number;
  /** Current time in epoch ms (tests pass a manual clock). @default monotonic epoch ms */
  now?: () => number;
  /** Called with each wait (ms) and the host it is for. */
  onWait?: (ms: number, host: string) => void;
}

/** A `fetch`-compatible function limited per host; see {@link rateLimitedFetch}. */
export interface RateLimitedFetch extends FetchLike {
  /** The per-host limiter (key: host). */
  readonly limiter: Limiter;
  /**
   * Stops sending to `host` for `ms` (what a 429's `Retry-After` does). Never shortens an existing pause.
   * Not capped by `maxRetryAfterMs`: that guards against servers, not against you.
   */
  pause(host: string, ms: number): void;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'perHost',
  'fetch',
  'store',
  'prefix',
  'maxWaitMs',
  'maxQueue',
  'retries',
  'defaultPauseMs',
  'maxRetryAfterMs',
  'now',
  'onWait',
]);

/** @default of `maxRetryAfterMs`: one day. */
const DEFAULT_MAX_RETRY_AFTER_MS = 86_400_000;

// Each fetch's pauses, for tests (`pausedHosts`); a WeakMap keeps them off the public object.
const pausesOf = new WeakMap<RateLimitedFetch, HostPauses>();

/**
 * A `fetch` that keeps to a rate per host. Requests to one host go out first in, first out, each when
 * the host's limiter allows. A 429 response (or a 503 with `Retry-After`) pauses its host for the time
 * the server named in `Retry-After` (seconds or HTTP-date) or in the IETF `RateLimit` header (`t`), at
 * most `maxRetryAfterMs`, and is retried up to `retries` times; the last response is returned as is, like `fetch` does. The pause
 * is local to this process; the rate itself is shared when the store is.
 * @example
 * const politeFetch = rateLimitedFetch({ perHost: { limit: 2, window: '1s' }, retries: 2 });
 * const res = await politeFetch('https://example.org/robots.txt');
 */
export function rateLimitedFetch(options: RateLimitedFetchOptions): RateLimitedFetch {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
  rejectUnknownOptions(options, OPTION_KEYS);
  const {
    perHost,
    store,
    prefix = 'rk:fetch:',
    maxWaitMs,
    maxQueue,
    retries = 0,
    defaultPauseMs = 1000,
    maxRetryAfterMs = DEFAULT_MAX_RETRY_AFTER_MS,
    now,
    onWait,
  } = options;
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new ConfigError('fetch', 'a fetch function', fetchImpl);
  if (!Number.isSafeInteger(retries) || retries < 0) throw new ConfigError('retries', 'a non-negative integer', retries);
  if (!Number.isFinite(defaultPauseMs) || defaultPauseMs < 0)
    throw new ConfigError('defaultPauseMs', 'a non-negative number of milliseconds', defaultPauseMs);
  if (typeof maxRetryAfterMs !== 'number' || !Number.isFinite(maxRetryAfterMs) || maxRetryAfterMs < 0)
    throw new ConfigError('maxRetryAfterMs', 'a non-negative, finite number of milliseconds', maxRetryAfterMs);
  // Checked here, so a bad value fails at creation rather than on the first request.
  resolveAcquireOptions({
    ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
    ...(maxQueue !== undefined ? { maxQueue } : {}),
  });
  if (onWait !== undefined && typeof onWait !== 'function') throw new ConfigError('onWait', 'a function', onWait);
  const rules = Array.isArray(perHost) ? perHost : [perHost];
  if (perHost === undefined) throw new ConfigError('perHost', 'a rule or rules, e.g. { limit: 2, window: "1s" }', perHost);
  const limiter = createLimiter({
    rules,
    prefix,
    ...(store !== undefined ? { store } : {}),
    ...(now !== undefined ? { now } : {}),
  });

  // The end of the pause a server asked for, per host, in the limiter's clock; ended pauses are dropped.
  const paused = new HostPauses();
  // The pause gates the limiter: a paused host answers "wait" without touching the store, so waiting,
  // FIFO order, maxWaitMs, maxQueue and abort work the same for both reasons to wait.
  const gate: AcquireSource = {
    now: limiter.now,
    rules: limiter.rules,
    consume(key, o) {
      const t = limiter.now();
      const ms = paused.remainingMs(key, t);
      if (ms !== undefined) return Promise.resolve(waitDecision(limiter.rules, Math.ceil(ms), t));
      return limiter.consume(key, o);
    },
    refund: (key, cost, o) => limiter.refund(key, cost, o),
  };
  const pause = (host: string, ms: number): void => {
    const t = limiter.now();
    paused.extend(host, t + ms, t);
  };

  const limitedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const host = url.host;
    const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
    // A streamed body can be sent only once, so such requests are never retried.
    const replayable = !(init?.body instanceof ReadableStream);
    const acquireOptions = {
      ...(maxWaitMs !== undefined ? { maxWaitMs } : {}),
      ...(maxQueue !== undefined ? { maxQueue } : {}),
      ...(signal ? { signal } : {}),
      ...(onWait ? { onWait: (ms: number) => onWait(ms, host) } : {}),
    };
    let last: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        await acquire(gate, host, acquireOptions);
      } catch (error) {
        // Out of patience for a retry: hand back the server's own answer rather than our error.
        if (last && isRateLimitError(error)) return last;
        await last?.body?.cancel();
        throw error;
      }
      if (last) await last.body?.cancel();
      const request = input instanceof Request && retries > 0 ? input.clone() : input;
      const response = await fetchImpl(request, init);
      const limited = response.status === 429 || (response.status === 503 && response.headers.has('retry-after'));
      if (!limited) return response;
      const ms = retryAfterFromHeaders(response.headers, limiter.now());
      pause(host, ms === undefined ? (response.status === 429 ? defaultPauseMs : 0) : Math.min(ms, maxRetryAfterMs));
      if (attempt >= retries || !replayable) return response;
      last = response;
    }
  };
  const result = Object.defineProperties(limitedFetch, {
    limiter: { value: limiter, enumerable: true },
    pause: {
      value: (host: string, ms: number) => {
        if (typeof host !== 'string') throw new ConfigError('host', 'a string', host);
        if (!Number.isFinite(ms) || ms < 0) throw new ConfigError('ms', 'a non-negative number of milliseconds', ms);
        pause(host, ms);
      },
    },
  }) as RateLimitedFetch;
  pausesOf.set(result, paused);
  return result;
}

/** @internal How many hosts `fetch` holds a pause for (ended ones go at its next request or pause); for tests. */
export function pausedHosts(fetch: RateLimitedFetch): number {
  return pausesOf.get(fetch)?.size ?? 0;
}
