import { isIPv6 } from 'node:net';
import type { Store as RatekeeperStore } from '@ratekeeper/core';
import {
  createHttpLimiter,
  type HttpAdapter,
  type HttpOutcome,
  type LooseRateLimitOptions,
  wrongFrameworkError,
} from '@ratekeeper/core/http';
import type { NextFunction, Request, Response } from 'express';
import { consoleLogger } from './console-logger';
import { CounterView } from './counter-view';
import { checkStore, ForeignStore, invalidStoreError, isExpressRateLimitStore, promisifyStore } from './foreign-store';
import { defaultIdentifier, setDraft6Headers, setDraft7Headers, setDraft8Headers, setLegacyHeaders, setRetryAfterHeader } from './headers';
import { ipKeyGenerator } from './ip-key-generator';
import { MemoryStore } from './memory-store';
import { watchResponse } from './response-watch';
import { costOf, RuleCache, ruleId, ruleWindow } from './rule';
import type {
  ClientRateLimitInfo,
  DraftHeadersVersion,
  Logger,
  Options,
  RateLimitExceededEventHandler,
  RateLimitInfo,
  RateLimitRequestHandler,
  Store,
  ValueDeterminingMiddleware,
} from './types';
import { checkLogger, createValidations, type Validations } from './validations';

/**
 * express-rate-limit 8's `rateLimit(options)` on ratekeeper's HTTP pipeline: the options are
 * translated into one anchored-window rule (a window per client from its first hit), a key function and a skip function, and the pipeline
 * decides on ratekeeper's store (or on an express-rate-limit store through `ForeignStore`). What
 * the original does around the decision (its headers, `req.rateLimit`, the handler, giving hits
 * back for `skipFailedRequests`/`skipSuccessfulRequests`, its validation messages) is done here.
 */

const DEFAULT_MESSAGE = 'Too many requests, please try again later.';
const STORE_ERROR_MESSAGE = 'express-rate-limit: error from store, allowing request without rate-limiting.';

/** The pipeline's request: the Express pair, and the limit computed for it. */
interface Ctx {
  readonly req: Request;
  readonly res: Response;
  limit: unknown;
}

// Every part of the request the pipeline would read itself is given as a function of options
// (`key`, `skip`, the limit), so the adapter answers nothing; its proxy warning is the original's
// validations' job here.
const adapter: HttpAdapter<Ctx> = {
  ip: () => undefined,
  route: () => undefined,
  trustsProxy: () => true,
  header: () => undefined,
};

/** express-rate-limit's resolved options, as its store's `init` and the `handler` receive them. */
type Config = Options & { standardHeaders: false | DraftHeadersVersion | string; store: Store | RatekeeperStore };

/** Without a timer limit, as the original has none: the longest timeout Node can arm. */
const NO_TIMEOUT_MS = 2 ** 31 - 1;

type Thenable<T> = T | PromiseLike<T>;

function isThenable<T>(value: Thenable<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null | undefined)?.then === 'function';
}

/** `next` with `value`, or after it settles (a promise or thenable); a rejection goes to `fail`. */
function then<T, U>(value: Thenable<T>, next: (v: T) => Thenable<U>): Thenable<U> {
  return isThenable(value) ? Promise.resolve(value).then(next) : next(value);
}

/** What `rateLimit` takes: any of the options, where `undefined` means not set. */
type PassedOptions = { [K in keyof Options]?: Options[K] | undefined };

/** The options with every `undefined` value left out: an option set to `undefined` is not set. */
function definedOptions(options: PassedOptions): Partial<Options> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as Partial<Options>;
}

/** True for a ratekeeper store (`MemoryStore`, `RedisStore`, or another `Store`). */
function isRatekeeperStore(store: unknown): store is RatekeeperStore {
  return typeof store === 'object' && store !== null && typeof (store as RatekeeperStore).bind === 'function';
}

/** A compat `MemoryStore` whose counting methods are its own (not overridden): decided on natively. */
function isPlainMemoryStore(store: unknown): store is MemoryStore {
  if (!(store instanceof MemoryStore)) return false;
  const p = MemoryStore.prototype;
  return store.increment === p.increment && store.decrement === p.decrement && store.get === p.get && store.resetKey === p.resetKey;
}

/**
 * Creates the middleware, with the options and defaults of express-rate-limit 8: 5 requests per
 * minute per IP, `X-RateLimit-*` headers, 429 with "Too many requests, please try again later.".
 * The default store is the compat `MemoryStore` (ratekeeper's memory store); any
 * express-rate-limit store, or a ratekeeper store, may be given instead.
 * @example
 * app.use(rateLimit({ windowMs: 15 * 60 * 1000, limit: 100, standardHeaders: 'draft-8', legacyHeaders: false }));
 */
export function rateLimit(passedOptions?: PassedOptions): RateLimitRequestHandler {
  const passed = passedOptions ?? {};
  const set = definedOptions(passed);
  const logger: Logger = passed.logger ?? consoleLogger;
  checkLogger(logger);
  const validations = createValidations(set.validate ?? true, logger);
  validations.validationsConfig();
  validations.knownOptions(passed);
  const legacy = set as Record<string, unknown>;
  validations.draftPolliHeaders(legacy.draft_polli_ratelimit_headers);
  validations.onLimitReached(legacy.onLimitReached);
  if (set.ipv6Subnet !== undefined && typeof set.ipv6Subnet !== 'function') validations.ipv6Subnet(set.ipv6Subnet);
  validations.keyGeneratorIpFallback(set.keyGenerator);
  validations.ipv6SubnetOrKeyGenerator(set);

  const config = resolveConfig(passed, set, validations, logger);
  const windowMs = config.windowMs;
  const window = ruleWindow(windowMs);
  const id = ruleId(config.limit, window);

  // Where hits are counted: `storeApi` is what `init`, `getKey`, `resetKey` and the checks see
  // (express-rate-limit's interface); `engineStore` is what the pipeline decides on.
  const given = set.store;
  let storeApi: Store | undefined;
  let engineStore: RatekeeperStore;
  let native = true;
  if (given === undefined || isPlainMemoryStore(given)) {
    const memory = given ?? new MemoryStore();
    // The original checks the window of the memory store it creates itself.
    if (given === undefined) validations.windowMs(windowMs);
    storeApi = memory;
    engineStore = memory;
  } else if (isExpressRateLimitStore(given)) {
    const api = promisifyStore(given);
    checkStore(api);
    storeApi = api;
    engineStore = new ForeignStore(api, windowMs, (hits) => validations.positiveHits(hits));
    native = false;
  } else if (isRatekeeperStore(given)) {
    engineStore = given;
  } else throw invalidStoreError();
  config.store = storeApi ?? engineStore;
  const options = { ...config, validate: validations.enabled } as Options;

  validations.creationStack(config.store as Store);
  validations.unsharedStore(config.store as Store);
  initStore(storeApi, options, logger);

  const limitOption = config.limit;
  const rules = new RuleCache(window, id);
  const pipelineOptions: LooseRateLimitOptions<Ctx> = {
    key: keyFunction(config),
    store: engineStore,
    // The original's clock (`resetTime` is a Date; test clocks that fake Date move it).
    now: Date.now,
    // A store failure goes to `next(error)` or, with `passOnStoreError`, to the logger: per request, below.
    onError: () => {},
    headers: false,
  };
  if (typeof limitOption === 'function') {
    // The limit is computed per request before the store call, then picks the rule (and the cost).
    pipelineOptions.cost = (ctx) =>
      then((limitOption as ValueDeterminingMiddleware<number>)(ctx.req, ctx.res), (limit) => {
        ctx.limit = limit;
        return costOf(limit);
      });
    pipelineOptions.rules = (ctx) => rules.rules(ctx.limit);
  } else {
    pipelineOptions.rules = rules.rules(limitOption);
    pipelineOptions.cost = costOf(limitOption);
  }
  if (set.skip !== undefined) {
    const skip = config.skip;
    pipelineOptions.skip = (ctx) => then(skip(ctx.req, ctx.res), Boolean);
  }
  if (!native) {
    // The original waits for its store however long it takes, and asks it for every request.
    pipelineOptions.timeoutMs = NO_TIMEOUT_MS;
    pipelineOptions.retryStoreAfterMs = 0;
  }
  const http = createHttpLimiter(pipelineOptions, adapter);

  const respond = (ctx: Ctx, out: HttpOutcome | undefined, next: NextFunction, watch: ReturnType<typeof watchResponse>): Thenable<void> => {
    const { req, res } = ctx;
    if (out === undefined) {
      next();
      return;
    }
    const d = out.decision;
    if (d.error !== undefined) {
      const cause = d.error.cause ?? d.error;
      if (!config.passOnStoreError) {
        next(cause);
        return;
      }
      logger.error(cause, STORE_ERROR_MESSAGE);
      next();
      return;
    }
    validations.singleCount(req, config.store as Store, d.key);
    const limit = ctx.limit as number;
    validations.limit(limit);
    // A refused request is not counted by ratekeeper's stores: it is the one over what was left.
    const used = d.limit - d.remaining + (d.allowed ? 0 : 1);
    const info: RateLimitInfo = {
      limit,
      used,
      remaining: Math.max(limit - used, 0),
      resetTime: Number.isFinite(d.resetMs) ? new Date(d.at + d.resetMs) : undefined,
      key: d.key,
    };
    Object.defineProperty(info, 'current', { configurable: false, enumerable: false, value: used });
    (req as unknown as Record<string, unknown>)[config.requestPropertyName] = info;

    if (config.legacyHeaders && !res.headersSent) setLegacyHeaders(res, info);
    return then(writeStandardHeaders(ctx, info), () => {
      // What ratekeeper's stores never counted (a refused request) has nothing to give back.
      if (watch !== undefined && (d.allowed || !native)) {
        let given = false;
        watch.arm(
          () => {
            // Past the reset time the window is over: the hit is gone with it.
            if (given || (info.resetTime !== undefined && Date.now() >= info.resetTime.getTime())) return;
            given = true;
            d.refund(1).catch(() => {});
          },
          () => config.requestWasSuccessful(req, res),
        );
      }
      if (d.allowed) {
        next();
        return;
      }
      if (config.legacyHeaders || config.standardHeaders) setRetryAfterHeader(res, info, windowMs);
      const handled = (config.handler as (...args: unknown[]) => unknown)(req, res, next, options);
      if (isThenable(handled)) Promise.resolve(handled).catch(next);
    });
  };

  const writeStandardHeaders = (ctx: Ctx, info: RateLimitInfo): Thenable<void> => {
    const version = config.standardHeaders;
    const { req, res } = ctx;
    if (!version || res.headersSent) return;
    if (version === 'draft-6') setDraft6Headers(res, info, windowMs);
    else if (version === 'draft-7') {
      validations.headersResetTime(info.resetTime);
      setDraft7Headers(res, info, windowMs);
    } else if (version === 'draft-8') {
      const identifier = config.identifier;
      return then(typeof identifier === 'function' ? identifier(req, res) : identifier, (name) => {
        validations.headersResetTime(info.resetTime);
        setDraft8Headers(res, info, windowMs, name, info.key);
      });
    } else validations.headersDraftVersion(version);
  };

  const middleware = (req: Request, res: Response, next: NextFunction): Promise<void> | undefined => {
    if (typeof next !== 'function') {
      // Koa calls (ctx, next): rejecting lets Koa answer 500 with this error instead of crashing.
      const error = wrongFrameworkError('Express', 'a middleware call without (req, res, next)');
      if (typeof res === 'function') return Promise.reject(error);
      throw error;
    }
    // Listening before anything asynchronous: a connection that closes early is not missed.
    const watch = watchResponse(res, config.skipFailedRequests, config.skipSuccessfulRequests);
    const ctx: Ctx = { req, res, limit: limitOption };
    const fail = (error: unknown): void => next(error);
    try {
      const done = then(http.handle(ctx, ctx), (out) => respond(ctx, out, next, watch));
      return isThenable(done) ? Promise.resolve(done).catch(fail) : undefined;
    } catch (error) {
      fail(error);
      return undefined;
    }
  };

  const resetKey = (key: string): Thenable<void> => counters(storeApi, engineStore, id, window).resetKey(key);
  const getKey = (key: string): Thenable<ClientRateLimitInfo | undefined> => {
    const api = counters(storeApi, engineStore, id, window);
    if (typeof api.get !== 'function') throw new Error('This store has no get() method, which getKey needs');
    return api.get(key);
  };
  return Object.assign(middleware, { resetKey, getKey }) as RateLimitRequestHandler;
}

/** What `getKey`/`resetKey` call: the express-rate-limit store, or a view of a ratekeeper store's counters. */
function counters(storeApi: Store | undefined, engineStore: RatekeeperStore, id: string, window: number): Pick<Store, 'get' | 'resetKey'> {
  if (storeApi !== undefined) return storeApi;
  let view = views.get(engineStore)?.get(id);
  if (view === undefined) {
    view = new CounterView(engineStore, id, window);
    const byId = views.get(engineStore) ?? new Map<string, CounterView>();
    byId.set(id, view);
    views.set(engineStore, byId);
  }
  return view;
}

/** Views of ratekeeper stores' counters, made on the first `getKey`/`resetKey`. */
const views = new WeakMap<RatekeeperStore, Map<string, CounterView>>();

/** Calls the store's `init` with the resolved options; what it throws or rejects is logged. */
function initStore(store: Store | undefined, options: Options, logger: Logger): void {
  if (typeof store?.init !== 'function') return;
  try {
    const pending = store.init(options);
    if (pending instanceof Promise)
      pending.catch((error: unknown) => logger.error(error, 'express-rate-limit: async error during store initialization.'));
  } catch (error) {
    logger.error(error, 'express-rate-limit: error during store initialization.');
  }
}

/** The original's defaults, then the given options, as its store and handler see them. */
function resolveConfig(passed: PassedOptions, set: Partial<Options>, validations: Validations, logger: Logger): Config {
  const standard = set.standardHeaders ?? false;
  const config = {
    windowMs: 60_000,
    // `max` is the old name: `limit` wins when both are given.
    limit: passed.max ?? 5,
    message: DEFAULT_MESSAGE,
    statusCode: 429,
    legacyHeaders: passed.headers ?? true,
    identifier: (req: Request): string =>
      defaultIdentifier((req as unknown as Record<string, RateLimitInfo>)[config.requestPropertyName]?.limit ?? 0, config.windowMs),
    requestPropertyName: 'rateLimit',
    skipFailedRequests: false,
    skipSuccessfulRequests: false,
    requestWasSuccessful: (_req: Request, res: Response): boolean => res.statusCode < 400,
    skip: (): boolean => false,
    keyGenerator: undefined as unknown as ValueDeterminingMiddleware<string>,
    ipv6Subnet: 56,
    handler: undefined as unknown as RateLimitExceededEventHandler,
    passOnStoreError: false,
    ...set,
    standardHeaders: standard === true ? 'draft-6' : standard,
    logger,
  } as Config;
  config.keyGenerator = set.keyGenerator ?? defaultKeyGenerator(config, validations);
  config.handler = set.handler ?? defaultHandler(config);
  return config;
}

/** The client's IP, IPv6 grouped per `ipv6Subnet`, after the original's checks of the request. */
function defaultKeyGenerator(config: Config, validations: Validations): ValueDeterminingMiddleware<string> {
  return (req, res) => {
    validations.ip(req.ip);
    validations.trustProxy(req);
    validations.xForwardedForHeader(req);
    validations.forwardedHeader(req);
    const ip = req.ip as string;
    if (!isIPv6(ip)) return ipKeyGenerator(ip);
    const subnet = config.ipv6Subnet;
    if (typeof subnet !== 'function') return ipKeyGenerator(ip, subnet);
    return then(subnet(req, res), (bits) => {
      validations.ipv6Subnet(bits);
      return ipKeyGenerator(ip, bits);
    }) as string | Promise<string>;
  };
}

/** The pipeline's key: the `keyGenerator`'s answer, as a string (the original hands any value to its store). */
function keyFunction(config: Config): (ctx: Ctx) => Thenable<string> {
  const generate = config.keyGenerator;
  return (ctx) => then(generate(ctx.req, ctx.res), (key) => (typeof key === 'string' ? key : String(key)));
}

/** Status `statusCode`, body `message` (awaited when a function), unless the response already ended. */
function defaultHandler(config: Config): RateLimitExceededEventHandler {
  return (req, res) => {
    res.status(config.statusCode);
    const message: unknown = typeof config.message === 'function' ? config.message(req, res) : config.message;
    return then(message, (body) => {
      if (!res.writableEnded) res.send(body);
    }) as undefined;
  };
}
