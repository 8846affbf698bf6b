// @ratekeeper/hono: Hono middleware on Node, Bun, Deno and Cloudflare Workers.

import { ConfigError, type Limiter, type RateLimitOptions } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type RequestDecision } from '@ratekeeper/core/http';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
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
    if (out.clear !== undefined) for (const name of out.clear) c.header(name, undefined);
    if (out.headers !== undefined) for (const name in out.headers) c.header(name, out.headers[name] as string);
    if (out.blocked) {
      const body = out.body;
      if (body === undefined) return c.body(null, out.statusCode as ContentfulStatusCode);
      c.header('content-type', body.contentType);
      return c.body(body.body, out.statusCode as ContentfulStatusCode);
    }
    try {
      await next();
    } finally {
      // Hono turns a handler's error into c.res (onError), so the status is known here.
      out.finish?.(c.error === undefined ? c.res.status : 500);
    }
    return undefined;
  };
  return Object.defineProperty(middleware, 'limiter', { get: () => http.limiter, enumerable: true }) as RateLimitMiddleware;
}
