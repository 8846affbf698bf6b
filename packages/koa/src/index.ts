import { createHttpLimiter, type HttpAdapter, type RateLimitOptions } from '@ratekeeper/core';
import type { Context, Middleware, Next } from 'koa';

/** Options of the Koa middleware: the shared HTTP options, with Koa's `Context` as the request. */
export type KoaRateLimitOptions = RateLimitOptions<Context>;

const adapter: HttpAdapter<Context> = {
  // `ctx.ip` applies Koa's `app.proxy` setting.
  ip: (ctx) => ctx.ip,
  // @koa/router records the matched route pattern; app-level middleware before the router sees none.
  route: (ctx) => {
    const pattern = (ctx as Context & { _matchedRoute?: string | RegExp })._matchedRoute;
    return pattern === undefined ? undefined : `${ctx.method} ${String(pattern)}`;
  },
  trustsProxy: (ctx) => ctx.app.proxy,
};

/**
 * Koa (2 and 3) rate-limit middleware for `app.use` or a @koa/router route; with `key: 'route'`
 * on a router route the key is the matched route pattern. The decision is on `ctx.state.rateLimit`.
 * @example
 * app.use(rateLimit({ limit: 100, window: '15m' }));
 * router.post('/login', rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }), login);
 */
export function rateLimit(options: KoaRateLimitOptions): Middleware {
  const limiter = createHttpLimiter(options, adapter);
  return async function rateLimitMiddleware(ctx: Context, next: Next): Promise<void> {
    const out = await limiter.handle(ctx, ctx.req, ctx.res);
    if (out === undefined) return next();
    ctx.state.rateLimit = out.decision;
    if (out.headers !== undefined) ctx.set(out.headers);
    if (out.blocked && out.body !== undefined) {
      ctx.status = out.statusCode;
      // Set before the body so Koa does not guess a type from the text.
      ctx.set('Content-Type', out.body.contentType);
      ctx.body = out.body.body;
      return;
    }
    return next();
  };
}
