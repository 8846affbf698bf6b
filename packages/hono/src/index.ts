// @ratekeeper/hono: Hono middleware on Node, Bun, Deno and Cloudflare Workers.

import { ConfigError, type Limiter, type RateLimitOptions } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type HttpOutcome, type RequestDecision } from '@ratekeeper/core/http';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { connInfoIp } from './conn-info';

export { connInfoIp } from './conn-info';

declare module 'hono' {
  interface ContextVariableMap {
    /** The decision of the last ratekeeper limiter this request passed through, with its key, `refund()` and `reset()`. */
    rateLimit?: RequestDecision;
  }
}

/** Options of the Hono middleware: the shared HTTP options, with Hono's `Context` as the request. */
export type HonoRateLimitOptions = RateLimitOptions<Context> & {
  /**
   * The client address. Default: the connection's address on Node (`@hono/node-server`), Bun and
   * Deno, and `CF-Connecting-IP` on Cloudflare Workers. Behind your own proxy, read the header it
   * sets here. A request without an address fails with a `ConfigError` when the key needs one.
   */
  ip?: (c: Context) => string | undefined;
};

/** The Hono middleware, with the limiter it uses (`undefined` when `rules` is a function). */
export type RateLimitMiddleware = MiddlewareHandler & { readonly limiter: Limiter | undefined };

const NO_IP =
  "ratekeeper: no client address for this request, and key 'ip' (the default, also the fallback of key 'user') needs one. " +
  'The runtime did not expose the connection (see connInfoIp): pass `ip: (c) => …` to rateLimit, or use a key that needs no address.';

/** The counted outcomes of each request, across limiters, in the order they ran. */
const outcomesOf = new WeakMap<Request, HttpOutcome[]>();

/** Writes every counted limiter's headers for `request` into `target`, in order. */
function applyAll(target: Headers, request: Request): void {
  for (const o of outcomesOf.get(request) ?? []) {
    if (o.clear !== undefined) for (const name of o.clear) target.delete(name);
    if (o.headers !== undefined) for (const name in o.headers) target.set(name, o.headers[name] as string);
  }
}

// A handler takes (c); a middleware takes (c, next).
type Matched = { readonly path: string; readonly handler: { readonly length: number } };

/**
 * Hono rate-limit middleware for `app.use` or a single route; with `key: 'route'` the key is the
 * matched route pattern (`GET /posts/:id`), never the raw path. The decision is on `c.get('rateLimit')`.
 * @example
 * app.use(rateLimit({ limit: 100, window: '15m' }));
 * app.post('/login', rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }), login);
 */
export function rateLimit(options: HonoRateLimitOptions): RateLimitMiddleware {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
  const { ip: ipOption, ...shared } = options;
  if (ipOption !== undefined && typeof ipOption !== 'function')
    throw new ConfigError('ip', 'a function (c) => string | undefined', ipOption);
  const adapter: HttpAdapter<Context> = {
    ip: (c) => {
      const ip = ipOption === undefined ? connInfoIp(c) : ipOption(c);
      if (ip === undefined || ip === '') throw new ConfigError('ip', 'the client address of each request', ip, NO_IP);
      return ip;
    },
    route: (c) => {
      const routes = matchedRoutes(c) as readonly Matched[];
      for (let i = routes.length - 1; i >= 0; i--) {
        const r = routes[i] as Matched;
        if (r.handler.length < 2) return `${c.req.method} ${r.path}`;
      }
      return undefined;
    },
    // The address comes from the connection or a resolver the user chose: no proxy warning applies.
    trustsProxy: () => true,
    header: (c, name) => c.req.header(name),
  };
  const http = createHttpLimiter<Context>(shared, adapter);
  const middleware: MiddlewareHandler = async (c, next) => {
    const out = await http.handle(c, c.req.raw);
    if (out === undefined) return next();
    c.set('rateLimit', out.decision);
    const request = c.req.raw;
    const list = outcomesOf.get(request);
    if (list === undefined) outcomesOf.set(request, [out]);
    else list.push(out);
    if (out.blocked) {
      const headers = new Headers();
      applyAll(headers, request);
      const body = out.body;
      if (body !== undefined) headers.set('content-type', body.contentType);
      return new Response(body?.body ?? null, { status: out.statusCode, headers });
    }
    try {
      await next();
    } finally {
      // Hono turns a handler's error into c.res (onError), so the status is known here.
      out.finish?.(c.error === undefined ? c.res.status : 500);
    }
    // On the way back, not before: a handler may return its own Response (`new Response`, a
    // `fetch()` result), which Hono does not merge prepared headers into. Each limiter applies
    // every counted limiter's headers in the order they ran, so the outermost one, last here,
    // cannot undo what a later limiter wrote.
    const res = c.res;
    if (res.status === 101) return undefined;
    try {
      applyAll(res.headers, request);
    } catch {
      // Immutable headers (a `fetch()` result): copy the response once.
      const copy = new Response(res.body, res);
      applyAll(copy.headers, request);
      c.res = copy;
    }
    return undefined;
  };
  return Object.defineProperty(middleware, 'limiter', { get: () => http.limiter, enumerable: true }) as RateLimitMiddleware;
}
