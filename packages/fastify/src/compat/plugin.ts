import { MemoryStore, type Store } from '@ratekeeper/core';
import { RedisStore, type RedisStoreClient } from '@ratekeeper/core/redis';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { type Backing, CompatLimiter, type Shared } from './limiter';
import { afterText, mergeParams, type Params, resolveGlobalParams } from './params';
import type {
  CheckRateLimit,
  ErrorResponseBuilderContext,
  FastifyRateLimitOptions,
  FastifyRateLimitStoreCtor,
  RateLimitOptions,
} from './types';

/** A hook of this plugin, as @fastify/rate-limit's: async, `(request, reply)`. */
export type RateLimitHookHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

const DEFAULT_NAMESPACE = 'fastify-rate-limit-';
const DEFAULT_CACHE = 5000;
const UNKNOWN_CONFIG = 'Unknown value for route rate-limit configuration';

/** Hooks a limiter can run in, as a global hook for routes declared before the plugin. */
const LIFECYCLE_HOOKS: ReadonlySet<string> = new Set(['onRequest', 'preParsing', 'preValidation', 'preHandler']);

/** The `cache` option (keys an in-memory store keeps), with the original's validation. */
function memoryStore(cache: unknown): MemoryStore {
  if (cache === undefined) return new MemoryStore({ maxKeys: DEFAULT_CACHE });
  const size = Number(cache);
  if (Number.isNaN(size) || size < 0) throw new Error('Invalid max value');
  return new MemoryStore(Number.isSafeInteger(Math.trunc(size)) ? { maxKeys: Math.max(1, Math.trunc(size)) } : {});
}

/** Where counts live for the plugin-wide limiter, and for each route's (or route group's). */
interface Stores {
  readonly root: Backing;
  child(params: Params, group: string | undefined): Backing;
  close(): Promise<void>;
}

function stores(settings: Record<string, unknown>, globalParams: Params): Stores {
  const Ctor = settings.store as FastifyRateLimitStoreCtor | undefined;
  if (Ctor) {
    const theirs = new Ctor(globalParams as never);
    if (typeof theirs?.incr !== 'function')
      throw new TypeError('The rate-limit `store` must implement `incr(key, callback, timeWindow, max)`');
    return {
      root: { theirs },
      child: (params) => {
        const store = theirs.child(params as never);
        if (typeof (store as { incr?: unknown } | undefined)?.incr !== 'function')
          throw new TypeError('The rate-limit store `child()` must return a store with `incr(key, callback, timeWindow, max)`');
        return { theirs: store };
      },
      close: async () => {},
    };
  }
  if (settings.redis) {
    const nameSpace = typeof settings.nameSpace === 'string' ? settings.nameSpace : DEFAULT_NAMESPACE;
    const client = settings.redis as RedisStoreClient;
    const store = new RedisStore({ client, prefix: nameSpace });
    const backing: Backing = { store, unusable: () => (ioredisClosed(client) ? new Error('Connection is closed.') : undefined) };
    return { root: backing, child: () => backing, close: () => store.close() };
  }
  const root: Store = memoryStore(settings.cache);
  // Each route counts in its own store, sized by its own `cache` (not the plugin's), as in the
  // original; the routes of one `groupId` share one.
  const groups = new Map<string, Backing>();
  const child = (params: Params, group: string | undefined): Backing => {
    if (group === undefined) return { store: memoryStore(params.cache) };
    let backing = groups.get(group);
    if (backing === undefined) {
      backing = { store: memoryStore(params.cache) };
      groups.set(group, backing);
    }
    return backing;
  };
  return { root: { store: root }, child, close: async () => {} };
}

/**
 * Whether an ioredis client was closed (`quit()`, `disconnect()`): its commands then fail with
 * "Connection is closed.", which is what the original answers with (or skips with `skipOnError`).
 * `manuallyClosing` is set from the call on, before the connection ends (core's Redis connection reads it too).
 */
function ioredisClosed(client: unknown): boolean {
  const c = client as { status?: unknown; manuallyClosing?: unknown };
  return typeof c.status === 'string' && (c.status === 'end' || c.manuallyClosing === true);
}

/**
 * `<METHOD><url>-` as the original prefixes a route's Redis keys, or `group-<groupId>-` for the
 * routes of a group, without the braces Redis Cluster hash tags use.
 */
function routePrefix(routeInfo: Record<string, unknown>, group: string | undefined): string {
  const prefix = group === undefined ? `${String(routeInfo.method)}${String(routeInfo.url)}-` : `group-${group}-`;
  return prefix.replace(/[{}]/g, (c) => (c === '{' ? '%7B' : '%7D'));
}

function header(reply: FastifyReply, show: Record<string, unknown> | undefined, name: string, value: number): void {
  if (show?.[name]) reply.header(name, value);
}

function notify(fn: unknown, request: FastifyRequest, key: string): void {
  if (typeof fn === 'function') fn(request, key);
}

/**
 * The hook of one limiter. Each registration of the plugin counts a request once, whichever of its
 * hooks sees it first (a GET route's hook copied onto its HEAD route, a decorator hook beside the
 * route's): `ran` is that registration's memory of the requests it counted.
 */
function hookFor(limiter: CompatLimiter, ran: WeakSet<FastifyRequest>): RateLimitHookHandler {
  return async function rateLimitHook(request, reply) {
    if (ran.has(request)) return;
    ran.add(request);
    const result = await limiter.check(request);
    if (result.isAllowed) return;
    const p = limiter.params;
    const { rateLimit, rateRemaining, rateReset, retryAfter } = p.labels;
    if (!result.isExceeded) {
      const show = p.addHeadersOnExceeding;
      header(reply, show, rateLimit, result.max);
      header(reply, show, rateRemaining, result.remaining);
      header(reply, show, rateReset, result.ttlInSeconds);
      notify(p.onExceeding, request, result.key);
      return;
    }
    notify(p.onExceeded, request, result.key);
    const show = p.addHeaders;
    header(reply, show, rateLimit, result.max);
    header(reply, show, rateRemaining, 0);
    header(reply, show, rateReset, result.ttlInSeconds);
    header(reply, show, retryAfter, result.ttlInSeconds);
    const context: ErrorResponseBuilderContext = {
      statusCode: 429,
      ban: false,
      max: result.max,
      ttl: result.ttl,
      after: afterText(result.ttlInSeconds),
    };
    if (result.isBanned) {
      context.statusCode = 403;
      context.ban = true;
      notify(p.onBanReach, request, result.key);
    }
    // Thrown, as the original does: Fastify's error handler (or the app's) answers.
    throw p.errorResponseBuilder(request, context);
  };
}

/** Adds `handler` after the route's own hooks of that kind (a function or an array, kept). */
function addRouteHook(route: RouteOptions, hook: string, handler: RateLimitHookHandler): void {
  const hooks = route as unknown as Record<string, unknown>;
  const existing = hooks[hook];
  if (Array.isArray(existing)) existing.push(handler);
  else if (typeof existing === 'function') hooks[hook] = [existing, handler];
  else hooks[hook] = [handler];
}

/** @fastify/rate-limit 11's plugin on ratekeeper's engine. */
export async function plugin(fastify: FastifyInstance, settings: FastifyRateLimitOptions): Promise<void> {
  const options = (settings ?? {}) as Record<string, unknown>;
  const globalParams = resolveGlobalParams(options);
  const where = stores(options, globalParams);
  const shared: Shared = {
    now: () => Date.now(),
    logger: typeof fastify.log?.level === 'string' ? fastify.log : undefined,
  };
  const appWide = new CompatLimiter(globalParams, where.root, '', shared);
  const ran = new WeakSet<FastifyRequest>();
  const child = (own: object, routeInfo: Record<string, unknown>): CompatLimiter => {
    const params = mergeParams(globalParams, own, routeInfo);
    // Routes with one `groupId` count together, as the original documents it ("group multiple
    // routes together"; 11.x itself keeps a count per route and only appends the id to the key).
    const group = typeof params.groupId === 'string' && params.groupId !== '' ? params.groupId : undefined;
    return new CompatLimiter(params, where.child(params, group), routePrefix(routeInfo, group), shared);
  };
  const limiterFor = (o: unknown): CompatLimiter => (typeof o === 'object' ? child(o ?? {}, {}) : appWide);

  if (!fastify.hasDecorator('createRateLimit'))
    fastify.decorate('createRateLimit', (o?: RateLimitOptions): CheckRateLimit => {
      const limiter = limiterFor(o);
      return (request, callOptions) => limiter.check(request, callOptions?.increment !== false);
    });
  // Cast: with the native plugin's types in the same program, `rateLimit` has its signature too.
  const rateLimit = (o?: RateLimitOptions): RateLimitHookHandler => hookFor(limiterFor(o), ran);
  if (!fastify.hasDecorator('rateLimit')) fastify.decorate('rateLimit', rateLimit as never);

  // Routes this registration has seen: they carry its hook (or were left unlimited on purpose).
  const seen = Symbol('ratekeeper compat: route seen');
  fastify.addHook('onRoute', (route) => {
    const config = route.config as Record<PropertyKey, unknown> | undefined;
    const own = config?.rateLimit;
    // A copy: one config object may be shared by several routes (and by the HEAD route Fastify adds).
    (route as { config: object }).config = { ...config, [seen]: true };
    if (own != null) {
      if (typeof own !== 'object') {
        if (own !== false) throw new Error(UNKNOWN_CONFIG);
        return;
      }
      const limiter = child(own, route as unknown as Record<string, unknown>);
      addRouteHook(route, limiter.params.hook, hookFor(limiter, ran));
    } else if (globalParams.global) addRouteHook(route, globalParams.hook, hookFor(appWide, ran));
  });

  // Routes declared before the plugin (or while `register` was not awaited) never met onRoute: the
  // original leaves them unlimited without a word; here they are limited from a global hook.
  if (LIFECYCLE_HOOKS.has(globalParams.hook)) {
    const late = new WeakMap<object, RateLimitHookHandler | undefined>();
    const lateHook = (request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined => {
      const config = request.routeOptions.config as unknown as Record<PropertyKey, unknown> | undefined;
      if (request.is404 || config === undefined || config[seen] === true) return undefined;
      let handler = late.get(config);
      if (!late.has(config)) {
        const own = config.rateLimit;
        if (own != null && typeof own !== 'object' && own !== false) return Promise.reject(new Error(UNKNOWN_CONFIG));
        const route = { method: request.routeOptions.method, url: request.routeOptions.url };
        handler =
          own === false || (own == null && !globalParams.global)
            ? undefined
            : hookFor(own == null ? appWide : child(own as object, route), ran);
        late.set(config, handler);
      }
      return handler?.(request, reply);
    };
    const settle = (pending: Promise<void> | undefined, done: HookHandlerDoneFunction): void => {
      if (pending === undefined) done();
      else pending.then(() => done(), done);
    };
    if (globalParams.hook === 'preParsing')
      fastify.addHook('preParsing', (request, reply, payload, done) => settle(lateHook(request, reply), (e) => done(e, payload)));
    else fastify.addHook(globalParams.hook as 'onRequest', (request, reply, done) => settle(lateHook(request, reply), done));
  }

  fastify.addHook('onClose', () => where.close());
}
