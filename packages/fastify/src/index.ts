import { ConfigError, MemoryStore, type RateLimitOptions, type RateLimitOverrides } from '@ratekeeper/core';
import {
  createHttpLimiter,
  finishOnClose,
  HTTP_OPTION_KEYS,
  type HttpAdapter,
  type HttpLimiter,
  type HttpOutcome,
  type LooseRateLimitOptions,
  mergeRateLimitOptions,
  nodeHeader,
  type RequestDecision,
  rejectUnknownOptions,
} from '@ratekeeper/core/http';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';

/** The lifecycle hook the limiter runs in. */
export type RateLimitHook = 'onRequest' | 'preHandler';

/** The Fastify-only option of the plugin and of a route's `config.rateLimit`. */
export interface HookOption {
  /**
   * `'onRequest'` decides before the body is parsed (cheapest); `'preHandler'` after your auth
   * hooks ran, when the key needs the authenticated user. @default the plugin's hook
   */
  hook?: RateLimitHook;
}

/**
 * Per-route options (`config: { rateLimit: … }`): the shared HTTP options plus the hook, layered
 * over the plugin's (so `key: 'user'` may use the plugin's `user`).
 */
export type RouteRateLimitOptions = RateLimitOverrides<FastifyRequest> & HookOption;

/** Options of {@link rateLimitPlugin}: defaults for every route. */
export type FastifyRateLimitOptions = RateLimitOptions<FastifyRequest> &
  HookOption & {
    /**
     * Limit every route (and 404s) with these options. With `false`, only routes whose
     * `config.rateLimit` is an object are limited (app options then act as their defaults). @default true
     */
    global?: boolean;
  };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's limits (layered over the plugin's options), or `false` for none. */
    rateLimit?: RouteRateLimitOptions | false;
  }
  interface FastifyRequest {
    /** The decision of the last ratekeeper limiter this request passed through, with its key, `refund()` and `reset()`. */
    rateLimit?: RequestDecision;
  }
  interface FastifyInstance {
    /**
     * A rate-limit hook for your own hooks, with these options layered over the plugin's:
     * `app.addHook('preHandler', app.rateLimit({ limit: 5, window: '1m' }))`. Each hook counts in
     * its own buckets (apart from the app-wide limiter and other hooks) unless it names a `prefix`.
     */
    rateLimit(options?: RouteRateLimitOptions): RateLimitHookHandler;
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
  header: (request, name) => nodeHeader(request.raw, name),
};

const ROUTE_KEYS: ReadonlySet<string> = new Set(['hook']);

function resolveHook(value: unknown, option: string): RateLimitHook {
  if (value === undefined) return 'onRequest';
  if (value !== 'onRequest' && value !== 'preHandler') throw new ConfigError(option, "'onRequest' or 'preHandler'", value);
  return value;
}

/** A callback-style Fastify hook. */
export type RateLimitHookHandler = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/** Runs `limiters` in order; stops at the first that answered the request. */
function runAll(
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
  limiters: readonly HttpLimiter<FastifyRequest>[],
  i: number,
): void {
  const limiter = limiters[i];
  if (limiter === undefined) {
    done();
    return;
  }
  const out = limiter.handle(request, request.raw);
  // Anything asynchronous is a native Promise (the pipeline adopts thenables): this one test suffices.
  // No closure per request on the synchronous path: `apply` continues with the next limiter itself.
  if (out instanceof Promise) out.then((o) => apply(request, reply, done, limiters, i, o), done);
  else apply(request, reply, done, limiters, i, out);
}

/** Applies limiter `i`'s outcome, then runs the next limiter (or answers the 429). */
function apply(
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
  limiters: readonly HttpLimiter<FastifyRequest>[],
  i: number,
  out: HttpOutcome | undefined,
): void {
  if (out !== undefined) {
    request.rateLimit = out.decision;
    if (out.clear !== undefined) for (const name of out.clear) reply.removeHeader(name);
    if (out.headers !== undefined) reply.headers(out.headers);
    finishOnClose(reply.raw, out.finish);
    if (out.blocked && out.body !== undefined) {
      // Sent as a plain body: no Error object, no stack trace, no error handler on the 429 path.
      reply.code(out.statusCode).type(out.body.contentType).send(out.body.body);
      return;
    }
  }
  runAll(request, reply, done, limiters, i + 1);
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

interface RouteLimiter {
  readonly limiter: HttpLimiter<FastifyRequest>;
  readonly hook: RateLimitHook;
  /** The route limiter alone, and after the app-wide one: the lists a hook runs. */
  readonly alone: readonly HttpLimiter<FastifyRequest>[];
  readonly withApp: readonly HttpLimiter<FastifyRequest>[];
}

function setup(fastify: FastifyInstance, options: FastifyRateLimitOptions): void {
  const { hook: hookOption, global: globalOption, ...shared } = options;
  // Checked here too: with `global: false` no app limiter is built to reject a misspelt option.
  rejectUnknownOptions(shared, HTTP_OPTION_KEYS);
  const hook = resolveHook(hookOption, 'hook');
  if (globalOption !== undefined && typeof globalOption !== 'boolean') throw new ConfigError('global', 'a boolean', globalOption);
  // One store for the app limiter and every route limiter unless the options name one.
  // Warnings (a store outage, X-Forwarded-For without trust proxy) go to the app's logger when it
  // has one; with Fastify's logging off (no level) they stay process warnings rather than vanish.
  const base: LooseRateLimitOptions<FastifyRequest> = {
    ...shared,
    store: shared.store ?? new MemoryStore(),
    logger: shared.logger ?? (typeof fastify.log?.level === 'string' ? fastify.log : undefined),
  };
  const appLimiter = globalOption === false ? undefined : createHttpLimiter(base, adapter);

  // A route's `config.rateLimit` adds its own limiter to the app-wide one (both count, as on Express
  // and Koa); `false` opts the route out of both. Route limiters are built once per route config.
  // Keyed by config object, then route: one options object may be shared by several routes.
  const routeLimiters = new WeakMap<object, Map<string, RouteLimiter>>();
  const routeLimiter = (config: RouteRateLimitOptions, method: string, url: string | undefined): RouteLimiter => {
    if (typeof config !== 'object' || config === null) throw new ConfigError('config.rateLimit', 'an options object or false', config);
    let byRoute = routeLimiters.get(config);
    if (byRoute === undefined) {
      byRoute = new Map();
      routeLimiters.set(config, byRoute);
    }
    const id = `${method} ${url ?? ''}`;
    let entry = byRoute.get(id);
    if (entry === undefined) {
      const { hook: routeHook, ...routeOptions } = config;
      const merged = mergeRateLimitOptions(base, routeOptions);
      // Each configured route counts on its own unless it names a prefix.
      if (routeOptions.prefix === undefined) merged.prefix = `${base.prefix ?? 'rk:'}${id}:`;
      const limiter = createHttpLimiter(merged, adapter, ROUTE_KEYS);
      entry = {
        limiter,
        hook: resolveHook(routeHook ?? hook, 'config.rateLimit.hook'),
        alone: [limiter],
        withApp: appLimiter === undefined ? [limiter] : [appLimiter, limiter],
      };
      byRoute.set(id, entry);
    }
    return entry;
  };

  // The plugin may be registered more than once (several limiters on one app).
  if (!fastify.hasRequestDecorator('rateLimit')) fastify.decorateRequest('rateLimit', undefined);
  let hooks = 0;
  if (!fastify.hasDecorator('rateLimit'))
    fastify.decorate('rateLimit', (o: RouteRateLimitOptions = {}): RateLimitHookHandler => {
      const { hook: _ignored, ...own } = o;
      const merged = mergeRateLimitOptions(base, own);
      // Each hook counts on its own unless it names a prefix: with the app's rules and store it
      // would otherwise charge the app limiter's buckets a second time for the same request.
      if (own.prefix === undefined) merged.prefix = `${base.prefix ?? 'rk:'}hook${++hooks}:`;
      const limiter = createHttpLimiter(merged, adapter);
      const list = [limiter];
      return (request, reply, done) => runAll(request, reply, done, list, 0);
    });
  // Validate route configs as routes are added after the plugin (a typo fails at registration).
  fastify.addHook('onRoute', (route) => {
    const config = (route.config as { rateLimit?: unknown } | undefined)?.rateLimit;
    if (config === undefined || config === false) return;
    routeLimiter(config as RouteRateLimitOptions, String(route.method), route.url);
  });

  // Global hooks (fastify-plugin: the root context) apply to every route, also routes declared
  // before the plugin or while `register` was not awaited, and to 404s: never unlimited in silence.
  const appOnly: readonly HttpLimiter<FastifyRequest>[] = appLimiter === undefined ? [] : [appLimiter];
  const phase = (which: RateLimitHook): RateLimitHookHandler =>
    function rateLimitHook(request, reply, done) {
      const config = (request.routeOptions.config as { rateLimit?: RouteRateLimitOptions | false } | undefined)?.rateLimit;
      if (config === false) return done();
      const route = config === undefined ? undefined : routeLimiter(config, request.method, request.routeOptions.url);
      const app = which === hook ? appLimiter : undefined;
      const own = route !== undefined && route.hook === which ? route.limiter : undefined;
      if (app === undefined && own === undefined) return done();
      // The lists are built once: no allocation per request on the common paths.
      if (own === undefined) return runAll(request, reply, done, appOnly, 0);
      runAll(request, reply, done, app === undefined ? (route as RouteLimiter).alone : (route as RouteLimiter).withApp, 0);
    };
  fastify.addHook('onRequest', phase('onRequest'));
  fastify.addHook('preHandler', phase('preHandler'));
}

/**
 * Fastify (5) plugin: limits every route with the plugin options, and single routes with
 * `config: { rateLimit: options | false }` (a route limiter adds to the app-wide one; `false` opts
 * out of both). The decision is on `request.rateLimit`.
 * @example
 * await app.register(rateLimitPlugin, { limit: 100, window: '1m' });
 * app.get('/search', { config: { rateLimit: { limit: 10, window: '1m' } } }, search);
 */
export const rateLimitPlugin: FastifyPluginCallback<FastifyRateLimitOptions> = fp(plugin, { fastify: '5.x', name: '@ratekeeper/fastify' });

/** Alias of {@link rateLimitPlugin}, matching the other adapters' name. */
export const rateLimit = rateLimitPlugin;
