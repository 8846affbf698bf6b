import type { Limiter, RateLimitOptions } from '@ratekeeper/core';
import {
  createHttpLimiter,
  finishOnClose,
  type HttpAdapter,
  type HttpOutcome,
  nodeHeader,
  type RequestDecision,
  setNodeHeaders,
  wrongFrameworkError,
} from '@ratekeeper/core/http';
import type { Context, Middleware, Next } from 'koa';

declare module 'koa' {
  interface DefaultState {
    /** The decision of the last ratekeeper limiter this request passed through, with its key, `refund()` and `reset()`. */
    rateLimit?: RequestDecision;
  }
}

/** Options of the Koa middleware: the shared HTTP options, with Koa's `Context` as the request. */
export type KoaRateLimitOptions = RateLimitOptions<Context>;

/** The part of a @koa/router layer the adapter reads. */
interface MatchedLayer {
  readonly path: string | RegExp;
  readonly methods: readonly string[];
}

const adapter: HttpAdapter<Context> = {
  // `ctx.ip` applies Koa's `app.proxy` setting.
  ip: (ctx) => ctx.ip,
  // @koa/router lists the layers matching the path; the last one serving this method is the route
  // (inside `router.use()` middleware `_matchedRoute` still names the `use` layer). App-level
  // middleware before the router sees none.
  route: (ctx) => {
    const c = ctx as Context & { matched?: readonly MatchedLayer[]; _matchedRoute?: string | RegExp };
    const matched = c.matched;
    if (matched !== undefined)
      for (let i = matched.length - 1; i >= 0; i--) {
        const layer = matched[i] as MatchedLayer;
        if (layer.methods.includes(ctx.method)) return `${ctx.method} ${String(layer.path)}`;
      }
    return c._matchedRoute === undefined ? undefined : `${ctx.method} ${String(c._matchedRoute)}`;
  },
  trustsProxy: (ctx) => ctx.app.proxy,
  header: (ctx, name) => nodeHeader(ctx.req, name),
};

/** The Koa middleware, with the limiter it uses (`undefined` when `rules` is a function). */
export interface RateLimitMiddleware extends Middleware {
  readonly limiter: Limiter | undefined;
}

/**
 * Koa (2 and 3) rate-limit middleware for `app.use` or a @koa/router route; with `key: 'route'`
 * on a router route the key is the matched route pattern. The decision is on `ctx.state.rateLimit`.
 * @example
 * app.use(rateLimit({ limit: 100, window: '15m' }));
 * router.post('/login', rateLimit({ limit: 5, window: '1m', key: ['ip', 'route'] }), login);
 */
export function rateLimit(options: KoaRateLimitOptions): RateLimitMiddleware {
  const limiter = createHttpLimiter(options, adapter);
  const middleware = function rateLimitMiddleware(ctx: Context, next: Next, ...rest: unknown[]): Promise<void> {
    if (typeof next !== 'function' || ctx?.req === undefined || ctx.state === undefined) {
      // Express calls (req, res, next): hand the error to its `next` (a 500), never crash the process.
      const error = wrongFrameworkError('Koa', 'a middleware call without (ctx, next)');
      const expressNext = rest[0];
      if (typeof expressNext === 'function') {
        expressNext(error);
        return Promise.resolve();
      }
      return Promise.reject(error);
    }
    const out = limiter.handle(ctx, ctx.req);
    // The memory store answers in the same tick: no promise hop for the common case. Anything
    // asynchronous is a native Promise (the pipeline adopts thenables), so this one test suffices.
    if (out instanceof Promise) return out.then((o) => apply(ctx, next, o));
    return apply(ctx, next, out);
  };
  return Object.assign(middleware as Middleware, { limiter: limiter.limiter });
}

function apply(ctx: Context, next: Next, out: HttpOutcome | undefined): Promise<void> {
  if (out === undefined) return next();
  ctx.state.rateLimit = out.decision;
  // Straight to the response: `ctx.set` goes through Koa's delegates and coercion for every header.
  setNodeHeaders(ctx.res, out.headers, out.clear);
  finishOnClose(ctx.res, out.finish);
  if (out.blocked && out.body !== undefined) {
    ctx.status = out.statusCode;
    // Set before the body so Koa does not guess a type from the text.
    ctx.set('Content-Type', out.body.contentType);
    ctx.body = out.body.body;
    return Promise.resolve();
  }
  return next();
}
