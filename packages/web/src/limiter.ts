import { ConfigError, type Limiter, type RateLimitOptions } from '@ratekeeper/core';
import {
  createHttpLimiter,
  type HttpAdapter,
  type HttpOutcome,
  lastDecision,
  type RequestDecision,
  recordOutcome,
  withOutcomeHeaders,
} from '@ratekeeper/core/http';
import type { IpResolver } from './ip';
import { limitedResponse, outcomeHeaders } from './response';

/** Options of {@link createRateLimiter}: the shared HTTP options, with the Fetch `Request` as the request. */
export type WebRateLimitOptions = RateLimitOptions<Request> & {
  /**
   * The client address. Nothing is trusted by default: pick the resolver your platform documents
   * (`cloudflareIp`, `vercelIp`, `flyIp`, `bunIp`, `denoIp`, `forwardedFor(hops)`) or pass `ip`
   * to `check`. With `key: 'ip'` (the default) a request without one fails with a `ConfigError`.
   */
  ip?: IpResolver;
};

/** Per-call facts `check` and `wrap` know and the request does not carry. */
export interface CheckOptions {
  /** The client address (else the `ip` option). */
  ip?: string | undefined;
  /** The route pattern for `key: 'route'`, e.g. `'GET /api/users/[id]'` (never the raw path). */
  route?: string | undefined;
  /** What the runtime passed the handler after the request (Bun's server, Deno's info, Workers' env): given to the `ip` resolver. */
  context?: unknown;
}

/** What {@link WebRateLimiter.check} answers. */
export interface CheckResult {
  /** Whether the request may go on (also true in `dryRun`, and for skipped requests). */
  readonly allowed: boolean;
  /** The decision, with the key and this request's `refund()`/`reset()`; undefined when skipped. */
  readonly decision: RequestDecision | undefined;
  /** Rate-limit headers to add to your response. */
  readonly headers: Headers;
  /** The 429 to return (status, body and headers), when limited. */
  readonly response: Response | undefined;
  /**
   * Call with your response's status when it is known: a response `countResponse` rejects (by
   * default a 5xx) gives the request back, and a `concurrency` slot is freed (without this call it
   * comes back only after `leaseMs`). `wrap` does this for you.
   */
  settle(statusCode: number): void;
}

/** A route handler of any Fetch runtime: Next.js, Bun.serve, Deno.serve, Workers' `fetch`. */
export type FetchHandler<Rest extends unknown[] = unknown[]> = (request: Request, ...rest: Rest) => Response | Promise<Response>;

/** Options of {@link WebRateLimiter.wrap}. */
export interface WrapOptions {
  /** The route pattern for `key: 'route'` (the handler serves one route). */
  route?: string;
}

/** The Fetch-API limiter. */
export interface WebRateLimiter {
  /** Decides one request; never consumes twice for the same `Request` object. */
  check(request: Request, options?: CheckOptions): Promise<CheckResult>;
  /** A handler that checks first, answers 429 when limited, else calls `handler` and adds the headers. */
  wrap<Rest extends unknown[]>(handler: FetchHandler<Rest>, options?: WrapOptions): (request: Request, ...rest: Rest) => Promise<Response>;
  /** The core limiter (`undefined` when `rules` is a function): `peek`, `reset`, `refund` by key. */
  readonly limiter: Limiter | undefined;
}

interface Facts {
  ip: string | undefined;
  route: string | undefined;
  context: unknown;
}

const NO_IP =
  "ratekeeper: no client address for this request, and key 'ip' (the default, also the fallback of key 'user') needs one. " +
  'Pass `ip` to createRateLimiter (cloudflareIp, vercelIp, flyIp, bunIp, denoIp or forwardedFor(hops) from @ratekeeper/web, ' +
  'or your own function) or to check(request, { ip }); or use a key that needs no address.';

/**
 * Rate limiting for Fetch-API servers: `check` a `Request` yourself (Next.js `middleware.ts`), or
 * `wrap` a handler (Next.js route handlers, Bun, Deno, Workers). Same options, headers and 429 as
 * the Express, Fastify and Koa adapters.
 * @example
 * const limiter = createRateLimiter({ limit: 100, window: '1m', ip: cloudflareIp });
 * export default { fetch: limiter.wrap((request) => new Response('ok')) };
 */
export function createRateLimiter(options: WebRateLimitOptions): WebRateLimiter {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
  const { ip: ipOption, ...shared } = options;
  if (ipOption !== undefined && typeof ipOption !== 'function')
    throw new ConfigError('ip', 'a function (request) => string | undefined', ipOption);
  const facts = new WeakMap<Request, Facts>();
  const adapter: HttpAdapter<Request> = {
    ip: (request) => {
      const f = facts.get(request);
      const ip = f?.ip ?? ipOption?.(request, f?.context);
      if (ip === undefined || ip === '') throw new ConfigError('ip', 'the client address of each request', ip, NO_IP);
      return ip;
    },
    route: (request) => {
      const route = facts.get(request)?.route;
      if (route === undefined) {
        throw new ConfigError(
          'route',
          "the request's route pattern",
          route,
          "ratekeeper: key 'route' needs the route pattern: pass { route } to check() or wrap().",
        );
      }
      return route;
    },
    // The address comes from a resolver the user chose: no proxy warning applies.
    trustsProxy: () => true,
    header: (request, name) => request.headers.get(name) ?? undefined,
  };
  const http = createHttpLimiter<Request>(shared, adapter);

  async function check(request: Request, o?: CheckOptions): Promise<CheckResult> {
    facts.set(request, { ip: o?.ip, route: o?.route, context: o?.context });
    const out = await http.handle(request, request);
    if (out !== undefined) recordOutcome(request, out);
    return result(out);
  }

  return {
    check,
    wrap<Rest extends unknown[]>(handler: FetchHandler<Rest>, w?: WrapOptions) {
      const route = w?.route;
      return async (request: Request, ...rest: Rest): Promise<Response> => {
        const r = await check(request, { route, context: rest[0] });
        if (r.response !== undefined) return r.response;
        let response: Response;
        try {
          response = await handler(request, ...rest);
        } catch (error) {
          r.settle(500);
          throw error;
        }
        r.settle(response.status);
        // Nested wraps (app-wide around per-route) each reach this line, the outer one last: each
        // applies every check of the request in the order they ran, so the outer wrap cannot undo
        // what a later limiter wrote.
        return withOutcomeHeaders(response, request);
      };
    },
    get limiter() {
      return http.limiter;
    },
  };
}

/**
 * The decision of the last ratekeeper limiter that counted this request (what `req.rateLimit` is
 * on Express), with its key, `refund()` and `reset()`: for a handler under `wrap`.
 * @example
 * export const POST = limiter.wrap(async (request) => {
 *   const ok = await signIn(request);
 *   if (ok) await getRateLimit(request)?.refund(); // successful logins do not count
 *   return new Response(null, { status: ok ? 204 : 401 });
 * });
 */
export function getRateLimit(request: Request): RequestDecision | undefined {
  return lastDecision(request);
}

function result(out: HttpOutcome | undefined): CheckResult {
  if (out === undefined)
    return { allowed: true, decision: undefined, headers: new Headers(), response: undefined, settle: () => undefined };
  const headers = outcomeHeaders(out);
  const finish = out.finish;
  return {
    allowed: !out.blocked,
    decision: out.decision,
    headers,
    response: out.blocked ? limitedResponse(out, new Headers(headers)) : undefined,
    settle: finish === undefined ? () => undefined : (status) => finish(status),
  };
}
