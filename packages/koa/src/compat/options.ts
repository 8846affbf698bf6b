import { AssertionError } from 'node:assert';
import { ConfigError, SLIDING_LOG_MAX_LIMIT } from '@ratekeeper/core';
import type { RedisStoreClient } from '@ratekeeper/core/redis';
import type { Context } from 'koa';

/** Names of the three rate-limit headers; a name left out keeps its default. */
export interface RatelimitHeaderNames {
  /** @default 'X-RateLimit-Remaining' */
  remaining?: string | undefined;
  /** @default 'X-RateLimit-Reset' */
  reset?: string | undefined;
  /** @default 'X-RateLimit-Limit' */
  total?: string | undefined;
}

/** What `id` may return: the client's id, or `false` to leave the request unlimited. */
export type RatelimitId = string | number | false;

/**
 * koa-ratelimit 5/6's options, with its defaults (`undefined` means the default). Names it does not
 * know are ignored, as it ignores them.
 */
export interface RatelimitOptions {
  /** Where the counts live. @default 'redis' */
  driver?: 'memory' | 'redis' | undefined;
  /**
   * `memory`: a `Map` that holds each id's window (`${namespace}:${id}` → `{ id, reset, remaining,
   * total }`); clearing it, or deleting an entry, starts a fresh window. Default: one Map shared by
   * every middleware without one. `redis`: an ioredis (or iovalkey, or node-redis) client.
   */
  db?: Map<unknown, unknown> | RedisStoreClient | undefined;
  /** Window length in milliseconds. @default 3600000 */
  duration?: number | undefined;
  /** Requests allowed per id in a window; `0` limits every request. @default 2500 */
  max?: number | undefined;
  /** Prefix of every key (`limit:1.2.3.4`). @default 'limit' */
  namespace?: string | undefined;
  /** The id requests are counted under; `false` leaves the request unlimited, without headers. @default ctx => ctx.ip */
  id?: ((ctx: Context) => RatelimitId | PromiseLike<RatelimitId>) | undefined;
  /** Custom header names. */
  headers?: RatelimitHeaderNames | undefined;
  /** Send no `X-RateLimit-*` headers (a limited response still carries `Retry-After`). @default false */
  disableHeader?: boolean | undefined;
  /** True (or a promise of true): not counted, no headers. */
  whitelist?: ((ctx: Context) => boolean | PromiseLike<boolean>) | undefined;
  /** True (or a promise of true): answered `403 Forbidden` (thrown with `ctx.throw`), before anything else. */
  blacklist?: ((ctx: Context) => boolean | PromiseLike<boolean>) | undefined;
  /** Body of the limited response. @default `Rate limit exceeded, retry in ${duration in words}.` */
  errorMessage?: unknown;
  /** Status of the limited response. @default 429 */
  status?: number | undefined;
  /** Throw the limited response with `ctx.throw(status, message, { headers })` instead of setting it. @default false */
  throw?: boolean | undefined;
  /** Called with `ctx` for every limited request, after `ctx.state.rateLimit` is set (6.x). */
  onLimited?: ((ctx: Context) => unknown) | undefined;
  /** ratekeeper's addition: the clock, in epoch milliseconds (tests pass a manual one). Redis then uses it too. */
  now?: (() => number) | undefined;
}

type Predicate = (ctx: Context) => unknown;

/** The options resolved once, at construction. */
export interface Settings {
  readonly driver: 'memory' | 'redis';
  /** The memory driver's Map, or the Redis client. */
  readonly db: unknown;
  readonly durationMs: number;
  readonly max: number;
  readonly namespace: string;
  readonly id: (ctx: Context) => unknown;
  /** Whether `id` is the app's own (then the proxy-header warning about `ctx.ip` does not apply). */
  readonly customId: boolean;
  readonly whitelist: Predicate | undefined;
  readonly blacklist: Predicate | undefined;
  readonly names: { readonly remaining: string; readonly reset: string; readonly total: string };
  readonly disableHeader: boolean;
  readonly errorMessage: unknown;
  readonly status: number;
  readonly throws: boolean;
  readonly onLimited: Predicate | undefined;
  readonly now: (() => number) | undefined;
  /**
   * Set when koa-ratelimit would fail every request it counts (an unknown driver, a memory `db`
   * that is not a Map, no Redis client): the same error, thrown at the same point.
   */
  readonly failure: (() => Error) | undefined;
}

const ONE_YEAR_MS = 365 * 86_400_000;

/** A number, or a string holding one (koa-ratelimit does arithmetic on whatever it is given). */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '') return Number(value);
  return undefined;
}

function optionalPredicate(o: Record<string, unknown>, name: string): Predicate | undefined {
  const v = o[name];
  // `false` and `null` read naturally as "none"; anything else that is not a function would be
  // ignored by koa-ratelimit without a word (an array of addresses, say), so it is refused.
  if (v === undefined || v === null || v === false) return undefined;
  if (typeof v !== 'function') throw new ConfigError(name, 'a function of ctx', v);
  return v as Predicate;
}

function headerName(names: Record<string, unknown>, field: keyof RatelimitHeaderNames, fallback: string): string {
  const v = names[field];
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`headers.${field}`, 'a header name', v);
  return v;
}

/**
 * Applies koa-ratelimit's defaults and checks the values it would misuse in silence. The errors
 * it raises on every request rather than at construction (driver, db) stay per request.
 */
export function resolveOptions(options: unknown): Settings {
  if (options === null || (options !== undefined && typeof options !== 'object')) throw new ConfigError('options', 'an object', options);
  const o = (options ?? {}) as Record<string, unknown>;

  const durationMs = o.duration === undefined ? 3_600_000 : numeric(o.duration);
  if (durationMs === undefined || !Number.isInteger(durationMs) || durationMs < 1 || durationMs > ONE_YEAR_MS)
    throw new ConfigError('duration', `a whole number of milliseconds from 1 to ${ONE_YEAR_MS} (one year)`, o.duration);
  const max = o.max === undefined ? 2500 : numeric(o.max);
  if (max === undefined || !Number.isSafeInteger(max) || max < 0) throw new ConfigError('max', 'a non-negative integer', o.max);
  // ratekeeper's bound on its integer arithmetic (the rules check it too, naming `limit`).
  if (max * durationMs * 4 > 2 ** 50)
    throw new ConfigError('max', `small enough that max × duration (ms) stays below 2^48 (duration ${durationMs} ms)`, max);

  const namespace = o.namespace === undefined ? 'limit' : o.namespace;
  if (typeof namespace !== 'string') throw new ConfigError('namespace', 'a string', namespace);

  if (o.id !== undefined && typeof o.id !== 'function') throw new ConfigError('id', 'a function of ctx', o.id);
  const id = (o.id as ((ctx: Context) => unknown) | undefined) ?? ((ctx: Context) => ctx.ip);

  const headers = o.headers ?? {};
  if (typeof headers !== 'object') throw new ConfigError('headers', 'an object of header names', headers);
  const h = headers as Record<string, unknown>;
  const names = {
    remaining: headerName(h, 'remaining', 'X-RateLimit-Remaining'),
    reset: headerName(h, 'reset', 'X-RateLimit-Reset'),
    total: headerName(h, 'total', 'X-RateLimit-Limit'),
  };

  const status = o.status === undefined || o.status === null || o.status === 0 ? 429 : o.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 999)
    throw new ConfigError('status', 'an HTTP status code', status);

  if (o.onLimited !== undefined && typeof o.onLimited !== 'function') throw new ConfigError('onLimited', 'a function of ctx', o.onLimited);
  if (o.now !== undefined && typeof o.now !== 'function') throw new ConfigError('now', 'a function returning epoch milliseconds', o.now);

  const driver = o.driver === undefined ? 'redis' : o.driver;
  let failure: (() => Error) | undefined;
  if (driver === 'memory') {
    if (o.db && !(o.db instanceof Map)) failure = () => new AssertionError({ message: 'for memory driver, .db must be Map instance' });
  } else if (driver === 'redis') {
    if (!o.db) failure = () => new AssertionError({ message: 'db required' });
    // ratekeeper's sliding log (koa-ratelimit's Redis algorithm) keeps one timestamp per request and caps the limit.
    else if (max > SLIDING_LOG_MAX_LIMIT)
      throw new ConfigError(
        'max',
        `at most ${SLIDING_LOG_MAX_LIMIT} with driver 'redis' (use @ratekeeper/koa's rateLimit for larger limits)`,
        max,
      );
  } else {
    failure = () => new Error(`invalid driver. Expecting memory or redis, got ${String(driver)}`);
  }

  return {
    driver: driver === 'memory' ? 'memory' : 'redis',
    db: o.db,
    durationMs,
    max,
    namespace,
    id,
    customId: o.id !== undefined,
    whitelist: optionalPredicate(o, 'whitelist'),
    blacklist: optionalPredicate(o, 'blacklist'),
    names,
    disableHeader: Boolean(o.disableHeader),
    errorMessage: o.errorMessage,
    status,
    throws: Boolean(o.throw),
    onLimited: o.onLimited as Predicate | undefined,
    now: o.now as (() => number) | undefined,
    failure,
  };
}
