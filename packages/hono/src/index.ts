// @ratekeeper/hono: Hono middleware on Node, Bun, Deno and Cloudflare Workers.

import { ConfigError, type Limiter, type RateLimitOptions } from '@ratekeeper/core';
import {
  applyOutcomeHeaders,
  createHttpLimiter,
  type HttpAdapter,
  type HttpOutcome,
  type RequestDecision,
  recordOutcome,
  withOutcomeHeaders,
} from '@ratekeeper/core/http';
import type { Context, MiddlewareHandler, Next } from 'hono';
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

/** What a Hono middleware returns. */
type Step = ReturnType<MiddlewareHandler>;

/** What the middleware does with one counted (or uncounted) request. */
function apply(c: Context, next: Next, out: HttpOutcome | undefined): Step {
  if (out === undefined) return next();
  c.set('rateLimit', out.decision);
  const outgoing = nodeOutgoing(c);
  if (outgoing !== undefined) return viaNode(c, next, out, outgoing);
  return viaResponse(c, next, out);
}

/** Calls `out.finish` with the response's status once the handler is done (500 when it threw). */
function settle(c: Context, next: Next, out: HttpOutcome): Promise<void> {
  const finish = out.finish;
  if (finish === undefined) return next();
  // Hono turns a handler's error into c.res (onError), so the status is known here.
  return next().then(
    () => finish(c.error === undefined ? c.res.status : 500),
    (error: unknown) => {
      finish(500);
      throw error;
    },
  );
}

/**
 * Elsewhere (Bun, Deno, Workers, `app.request()`), on the way back, not before: a handler may
 * return its own Response (`new Response`, a `fetch()` result), which Hono does not merge prepared
 * headers into. Each limiter applies every counted limiter's headers in the order they ran, so the
 * outermost one, last here, cannot undo what a later limiter wrote.
 */
async function viaResponse(c: Context, next: Next, out: HttpOutcome): Promise<Response | undefined> {
  const request = c.req.raw;
  recordOutcome(request, out);
  if (out.blocked) {
    const headers = new Headers();
    applyOutcomeHeaders(headers, request);
    const body = out.body;
    if (body !== undefined) headers.set('content-type', body.contentType);
    return new Response(body?.body ?? null, { status: out.statusCode, headers });
  }
  await settle(c, next, out);
  const res = c.res;
  // An immutable response (a `fetch()` result) comes back copied; a 101 untouched.
  const withHeaders = withOutcomeHeaders(res, request);
  if (withHeaders !== res) c.res = withHeaders;
  return undefined;
}

/** The part of Node's `ServerResponse` the Node path uses. */
interface NodeOutgoing {
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  removeHeader(name: string): void;
}

/** `c.env.outgoing` of @hono/node-server (its documented `HttpBindings`), before anything was sent. */
function nodeOutgoing(c: Context): NodeOutgoing | undefined {
  const outgoing = (c.env as { outgoing?: Partial<NodeOutgoing> } | undefined)?.outgoing;
  return outgoing !== undefined && typeof outgoing.setHeader === 'function' && outgoing.headersSent === false
    ? (outgoing as NodeOutgoing)
    : undefined;
}

/**
 * On Node, the headers go on the `ServerResponse` itself, in the order the limiters run (as on
 * Express): Node merges them with whatever response the handler returns, and Hono keeps its
 * fastest response path (a `Headers` object on every response would cost more than the limiter).
 */
async function viaNode(c: Context, next: Next, out: HttpOutcome, outgoing: NodeOutgoing): Promise<Response | undefined> {
  if (out.clear !== undefined) for (const name of out.clear) outgoing.removeHeader(name);
  if (out.headers !== undefined) for (const name in out.headers) outgoing.setHeader(name, out.headers[name] as string);
  if (out.blocked) {
    const body = out.body;
    return new Response(body?.body ?? null, {
      status: out.statusCode,
      headers: body === undefined ? {} : { 'content-type': body.contentType },
    });
  }
  try {
    await next();
  } finally {
    out.finish?.(c.error === undefined ? c.res.status : 500);
  }
  return undefined;
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
  const middleware: MiddlewareHandler = (c, next) => {
    const out = http.handle(c, c.req.raw);
    // The memory store answers in the same tick: no promise hop for the common case. Anything
    // asynchronous is a native Promise (the pipeline adopts thenables), so this one test suffices.
    if (out instanceof Promise) return out.then((o) => apply(c, next, o));
    return apply(c, next, out);
  };
  return Object.defineProperty(middleware, 'limiter', { get: () => http.limiter, enumerable: true }) as RateLimitMiddleware;
}
