import { ConfigError, type Decision, MemoryStore, type RateLimitOptions } from '@ratekeeper/core';
import {
  createHttpLimiter,
  HTTP_OPTION_KEYS,
  type HttpAdapter,
  type HttpLimiter,
  type HttpOutcome,
  mergeRateLimitOptions,
  rejectUnknownOptions,
} from '@ratekeeper/core/http';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';

/** The lifecycle hook the limiter runs in. */
export type RateLimitHook = 'onRequest' | 'preHandler';

/** Per-route options (`config: { rateLimit: … }`): the shared HTTP options plus the hook. */
export interface RouteRateLimitOptions extends RateLimitOptions<FastifyRequest> {
  /**
   * `'onRequest'` decides before the body is parsed (cheapest); `'preHandler'` after your auth
   * hooks ran, when the key needs the authenticated user. @default the plugin's hook
   */
  hook?: RateLimitHook;
}

/** Options of {@link rateLimitPlugin}: defaults for every route. */
export interface FastifyRateLimitOptions extends RouteRateLimitOptions {
  /**
   * Limit every route (and 404s) with these options. With `false`, only routes whose
   * `config.rateLimit` is an object are limited (app options then act as their defaults). @default true
   */
  global?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's limits (layered over the plugin's options), or `false` for none. */
    rateLimit?: RouteRateLimitOptions | false;
  }
  interface FastifyRequest {
    /** The decision of the limiter that counted this request. */
    rateLimit?: Decision;
  }
}

const adapter: HttpAdapter<FastifyRequest> = {
  // `request.ip` applies Fastify's `trustProxy` option.
  ip: (request) => request.ip,
  // The route pattern (`/users/:id`); unmatched (404) requests have none.
  route: (request) => {
    const url = request.routeOptions.url;
    return url === undefined ? undefined : `${request.method} ${url}`;
  },
  // Fastify does not expose its `trustProxy` setting; when it trusts the peer, `request.ip` comes
  // from X-Forwarded-For and differs from the socket address (only asked when that header is present).
  trustsProxy: (request) => request.ip !== request.raw.socket.remoteAddress,
};

const ROUTE_KEYS: ReadonlySet<string> = new Set(['hook']);

function resolveHook(value: unknown, option: string): RateLimitHook {
  if (value === undefined) return 'onRequest';
  if (value !== 'onRequest' && value !== 'preHandler') throw new ConfigError(option, "'onRequest' or 'preHandler'", value);
  return value;
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

// Callback-style hook: answered in the same tick when the store is synchronous, no async wrapper.
function hookFor(limiter: HttpLimiter<FastifyRequest>, only404: boolean): Hook {
  return function rateLimitHook(request, reply, done) {
    if (only404 && !request.is404) return done();
    const out = limiter.handle(request, request.raw, reply.raw);
    // Anything asynchronous is a native Promise (the pipeline adopts thenables): this one test suffices.
    if (out instanceof Promise) out.then((o) => apply(request, reply, done, o), done);
    else apply(request, reply, done, out);
  };
}

function apply(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction, out: HttpOutcome | undefined): void {
  if (out === undefined) {
    done();
    return;
  }
  request.rateLimit = out.decision;
  if (out.headers !== undefined) reply.headers(out.headers);
  if (out.blocked && out.body !== undefined) {
    // Sent as a plain body: no Error object, no stack trace, no error handler on the 429 path.
    reply.code(out.statusCode).type(out.body.contentType).send(out.body.body);
    return;
  }
  done();
}

function addRouteHook(route: RouteOptions, hook: RateLimitHook, fn: Hook): void {
  const existing = route[hook] as Hook | Hook[] | undefined;
  // Appended: the route's own hooks (e.g. authentication) run first.
  route[hook] = (existing === undefined ? [fn] : Array.isArray(existing) ? [...existing, fn] : [existing, fn]) as never;
}

function plugin(fastify: FastifyInstance, options: FastifyRateLimitOptions, done: (err?: Error) => void): void {
  try {
    setup(fastify, options);
  } catch (error) {
    // A callback plugin must report through `done`: a throw here would leave the app hanging.
    done(error as Error);
    return;
  }
  done();
}

function setup(fastify: FastifyInstance, options: FastifyRateLimitOptions): void {
  const { hook: hookOption, global: globalOption, ...shared } = options;
  // Checked here too: with `global: false` no app limiter is built to reject a misspelt option.
  rejectUnknownOptions(shared, HTTP_OPTION_KEYS);
  const hook = resolveHook(hookOption, 'hook');
  if (globalOption !== undefined && typeof globalOption !== 'boolean') throw new ConfigError('global', 'a boolean', globalOption);
  // One store for the app limiter and every route limiter unless the options name one.
  const base: RateLimitOptions<FastifyRequest> = { ...shared, store: shared.store ?? new MemoryStore() };
  const appLimiter = globalOption === false ? undefined : createHttpLimiter(base, adapter);

  // The plugin may be registered more than once (several limiters on one app).
  if (!fastify.hasRequestDecorator('rateLimit')) fastify.decorateRequest('rateLimit', undefined);
  fastify.addHook('onRoute', (route) => {
    const config = (route.config as { rateLimit?: RouteRateLimitOptions | false } | undefined)?.rateLimit;
    if (config === false) return;
    if (config === undefined) {
      if (appLimiter !== undefined) addRouteHook(route, hook, hookFor(appLimiter, false));
      return;
    }
    if (typeof config !== 'object' || config === null) throw new ConfigError('config.rateLimit', 'an options object or false', config);
    const { hook: routeHook, ...routeOptions } = config;
    const merged = mergeRateLimitOptions(base, routeOptions);
    // Each configured route counts on its own unless it names a prefix.
    if (routeOptions.prefix === undefined) merged.prefix = `${base.prefix ?? 'rk:'}${String(route.method)} ${route.url}:`;
    const limiter = createHttpLimiter(merged, adapter, ROUTE_KEYS);
    addRouteHook(route, resolveHook(routeHook ?? hook, 'config.rateLimit.hook'), hookFor(limiter, false));
  });
  // Requests that match no route get the app limits too, so probing random paths is limited.
  if (appLimiter !== undefined) fastify.addHook(hook, hookFor(appLimiter, true));
}

/**
 * Fastify (5) plugin: limits every route with the plugin options, and single routes with
 * `config: { rateLimit: options | false }`. The decision is on `request.rateLimit`.
 * @example
 * await app.register(rateLimitPlugin, { limit: 100, window: '1m' });
 * app.get('/search', { config: { rateLimit: { limit: 10, window: '1m' } } }, search);
 */
export const rateLimitPlugin: FastifyPluginCallback<FastifyRateLimitOptions> = fp(plugin, { fastify: '5.x', name: '@ratekeeper/fastify' });

/** Alias of {@link rateLimitPlugin}, matching the other adapters' name. */
export const rateLimit = rateLimitPlugin;
