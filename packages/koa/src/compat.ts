// Entry point of `@ratekeeper/koa/compat`: koa-ratelimit 5/6's `ratelimit(options)` on ratekeeper's
// pipeline and stores. It translates the options, keys each request by koa-ratelimit's rules (a
// window per id from its first request on the memory driver, a sliding log on Redis, as
// koa-ratelimit counts) and writes koa-ratelimit's headers, body and `ctx.state.rateLimit`.

import { AssertionError } from 'node:assert';
import type { Decision } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type HttpLimiter, nodeHeader, wrongFrameworkError } from '@ratekeeper/core/http';
import type { Context, Middleware, Next } from 'koa';
import { longDuration } from './compat/long-duration';
import { currentWindow } from './compat/memory-window';
import { type RatelimitOptions, resolveOptions, type Settings } from './compat/options';
import { DEFAULT_DB, memoryRule, memoryStoreFor, redisStoreFor } from './compat/stores';

export type { RatelimitHeaderNames, RatelimitId, RatelimitOptions } from './compat/options';

/** `ctx.state.rateLimit` of a limited request (koa-ratelimit 6). */
export interface RatelimitState {
  /** Whole seconds until the window resets (the `Retry-After` value). */
  after: number;
  /** The rate-limit headers sent (empty with `disableHeader`), plus `Retry-After` with `throw`. */
  headers: Record<string, number>;
  /** The id the request was counted under. */
  id: string | number;
  /** The body sent. */
  message: unknown;
}

/** One request as the pipeline sees it: the key is settled before the pipeline runs. */
interface Counted {
  readonly ctx: Context;
  readonly key: string;
}

/** What a request's window says, in koa-ratelimit's terms. */
interface Verdict {
  readonly allowed: boolean;
  /** The `remaining` header: requests left after this one (0 when limited). */
  readonly remaining: number;
  /** When the window (or, on Redis, the log's oldest request) resets, epoch ms. */
  readonly resetMs: number;
  /** The decision's time, epoch ms. */
  readonly at: number;
}

const ipAdapter: HttpAdapter<Counted> = {
  ip: (r) => r.ctx.ip,
  route: () => undefined,
  trustsProxy: (r) => r.ctx.app.proxy,
  // Read only for the warning about proxy headers Koa does not trust, which is about `ctx.ip`.
  header: (r, name) => nodeHeader(r.ctx.req, name),
};
// With the app's own `id`, `ctx.ip` may play no part: no warning about it.
const customIdAdapter: HttpAdapter<Counted> = { ...ipAdapter, header: () => undefined };

const defaultClock = (): number => performance.timeOrigin + performance.now();

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null | undefined)?.then === 'function';
}

/** The pipeline counting the windows; none when nothing is ever counted (`max: 0`, or a request-time failure). */
function pipelineFor(s: Settings, clock: () => number): HttpLimiter<Counted> | undefined {
  if (s.failure !== undefined || s.max === 0) return undefined;
  const memory = s.driver === 'memory';
  return createHttpLimiter<Counted>(
    {
      ...(memory ? memoryRule(s.max, s.durationMs) : { algorithm: 'sliding-log', limit: s.max, window: s.durationMs }),
      key: (r) => r.key,
      store: memory ? memoryStoreFor((s.db as Map<unknown, unknown> | undefined) || DEFAULT_DB) : redisStoreFor(s.db, s.now !== undefined),
      prefix: `${s.namespace}:`,
      // koa-ratelimit counts every response, 5xx included, and sets its own headers.
      headers: false,
      // Memory windows start on this clock, so the counts must use it too; Redis keeps its own time
      // unless the app passes one.
      ...(memory || s.now !== undefined ? { now: clock } : {}),
    },
    s.customId ? customIdAdapter : ipAdapter,
  );
}

/** The decision of a counted request. A fresh carrier per call: each pass through the middleware counts, as on koa-ratelimit. */
async function decide(pipeline: HttpLimiter<Counted>, ctx: Context, key: string): Promise<Decision | undefined> {
  const request: Counted = { ctx, key };
  return (await pipeline.handle(request, request))?.decision;
}

/**
 * koa-ratelimit's `ratelimit(options)` on ratekeeper: same options, defaults, headers, body,
 * status and `ctx.state.rateLimit`. The memory driver counts a window per id from its first request
 * (kept in the `db` Map); the Redis driver a sliding log on the ioredis `db`, through RedisStore.
 * @example
 * import ratelimit from '@ratekeeper/koa/compat';
 * app.use(ratelimit({ driver: 'memory', db: new Map(), duration: 60_000, max: 100 }));
 */
function ratelimit(options?: RatelimitOptions): Middleware {
  const s = resolveOptions(options);
  const clock = s.now ?? defaultClock;
  const pipeline = pipelineFor(s, clock);
  const db = s.driver === 'memory' ? (s.db as Map<unknown, unknown> | undefined) || DEFAULT_DB : undefined;

  async function verdictOf(ctx: Context, id: string | number): Promise<Verdict> {
    if (db !== undefined) {
      const window = currentWindow(db, `${s.namespace}:${id}`, id, Math.floor(clock()), s.durationMs, s.max);
      if (pipeline === undefined) return { allowed: false, remaining: 0, resetMs: window.endMs, at: Math.floor(clock()) };
      // The expired window's counts are never read again.
      if (window.replacedKey !== undefined) void pipeline.limiter?.reset(window.replacedKey);
      const d = await decide(pipeline, ctx, window.key);
      const remaining = d?.allowed === false ? 0 : (d?.remaining ?? s.max);
      window.entry.remaining = remaining;
      return { allowed: d?.allowed !== false, remaining, resetMs: window.endMs, at: d?.at ?? Math.floor(clock()) };
    }
    if (pipeline === undefined) {
      const now = Math.floor(clock());
      return { allowed: false, remaining: 0, resetMs: Math.floor((now + s.durationMs) / 1000) * 1000, at: now };
    }
    const d = await decide(pipeline, ctx, `${id}`);
    if (d === undefined) return { allowed: true, remaining: s.max, resetMs: 0, at: 0 };
    // Whole seconds on Redis, as koa-ratelimit's Redis driver sends them: when this request ages
    // out of the log, or when limited, when its oldest request does (the same request then passes).
    const until = d.allowed ? d.resetMs : d.retryAfterMs;
    return { allowed: d.allowed, remaining: d.allowed ? d.remaining : 0, resetMs: Math.floor((d.at + until) / 1000) * 1000, at: d.at };
  }

  return async function ratelimit(ctx: Context, next: Next, ...rest: unknown[]): Promise<void> {
    if (typeof next !== 'function' || ctx?.req === undefined || ctx.state === undefined) {
      // Express calls (req, res, next): hand the error to its `next` (a 500), never crash the process.
      const error = wrongFrameworkError('Koa', 'a middleware call without (ctx, next)');
      if (typeof rest[0] === 'function') return (rest[0] as (e: unknown) => void)(error);
      throw error;
    }
    // koa-ratelimit's order: the id first, then the whitelist, then the blacklist (which wins).
    const idValue = s.id(ctx);
    const whitelisted = s.whitelist !== undefined && (await s.whitelist(ctx));
    const blacklisted = s.blacklist !== undefined && (await s.blacklist(ctx));
    if (blacklisted) ctx.throw(403, 'Forbidden');
    const id = isThenable(idValue) ? await idValue : idValue;
    if (id === false || whitelisted) return next();
    if (s.failure !== undefined) throw s.failure();
    if (!id) throw new AssertionError({ message: s.driver === 'memory' ? '.id required' : 'id required' });

    const v = await verdictOf(ctx, id as string | number);
    const headers: Record<string, number> = {};
    if (!s.disableHeader) {
      headers[s.names.remaining] = v.remaining;
      // Epoch seconds: with a millisecond fraction on the memory driver, whole on Redis.
      headers[s.names.reset] = v.resetMs / 1000;
      headers[s.names.total] = s.max;
      for (const [name, value] of Object.entries(headers)) ctx.set(name, String(value));
    }
    if (v.allowed) return next();

    const untilMs = Math.trunc(v.resetMs - v.at);
    const after = Math.trunc(untilMs / 1000) || 0;
    const message = s.errorMessage || `Rate limit exceeded, retry in ${longDuration(untilMs)}.`;
    ctx.body = message;
    ctx.set('Retry-After', String(after));
    const state: RatelimitState = { after, headers, id: id as string | number, message };
    // Through a plain record: the native adapter types `ctx.state.rateLimit` as its own decision.
    (ctx.state as Record<string, unknown>).rateLimit = state;
    ctx.status = s.status;
    if (s.onLimited !== undefined) {
      // Awaited, so that a rejection fails this request rather than the process.
      const done = s.onLimited(ctx);
      if (isThenable(done)) await done;
    }
    if (s.throws) {
      headers['Retry-After'] = after;
      ctx.throw(s.status, message as string, { headers });
    }
  };
}

export default ratelimit;
