import type { FastifyRequest, RouteOptions } from 'fastify';

/** What `errorResponseBuilder` receives about a refused request (@fastify/rate-limit's `errorResponseBuilderContext`). */
export interface ErrorResponseBuilderContext {
  /** 429, or 403 once the key is banned. */
  statusCode: number;
  /** Whether the key is banned (`ban` refusals exceeded). */
  ban: boolean;
  /** The wait in words: `'1 second'`, `'7 seconds'`, `'1 minute'`. */
  after: string;
  /** The limit that applied. */
  max: number;
  /** Milliseconds until the key may pass again. */
  ttl: number;
}

/** @fastify/rate-limit's name for {@link ErrorResponseBuilderContext}. */
export type errorResponseBuilderContext = ErrorResponseBuilderContext;

/** What a store reports for a key: hits in its window (this one included) and milliseconds left. */
export interface StoreResult {
  current: number;
  ttl: number;
}

/** The callback of a store call: an error, or the key's state. */
export type StoreCallback = (error: Error | null, result?: StoreResult) => void;

/**
 * A store in @fastify/rate-limit's contract (the `store` option is its constructor). ratekeeper
 * calls `incr` once per counted request and `read` for `createRateLimit()(req, { increment: false })`.
 */
export interface FastifyRateLimitStore {
  /** Counts one hit on `key` and reports its state (every hit counts, refused ones too). */
  incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
  /**
   * A store for one route (or one `rateLimit(options)` / `createRateLimit(options)` call). It gets
   * the route's options over the plugin's, with `routeInfo` (the route); @fastify/rate-limit's
   * types declare the parameter as Fastify's `RouteOptions`, which stores written for it keep.
   */
  child(
    routeOptions: (RateLimitOptions & { routeInfo: object }) | (RouteOptions & { path: string; prefix: string }),
  ): FastifyRateLimitStore;
  /** Reports the state of `key` without counting (`{ current: 0, ttl: 0 }` when it has none). */
  read?(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
}

/** The `store` option: called with `new` and the plugin's resolved options. */
export type FastifyRateLimitStoreCtor = new (options: FastifyRateLimitOptions) => FastifyRateLimitStore;

/** A number of requests, or a function of the request and its key returning one (or a promise of one). */
export type MaxOption = number | ((request: FastifyRequest, key: string) => number | Promise<number>);

/** Milliseconds, a duration string (`'1 minute'`, `'10s'`), or a function returning milliseconds. */
export type TimeWindowOption = number | string | ((request: FastifyRequest, key: string) => number | Promise<number>);

/** Options of `fastify.createRateLimit(options)`, layered over the plugin's. */
export interface CreateRateLimitOptions {
  /** Where hits are counted, in @fastify/rate-limit's store contract. @default ratekeeper's MemoryStore */
  store?: FastifyRateLimitStoreCtor;
  /** Let requests through when the store fails (else the store's error answers them, as a 500). @default false */
  skipOnError?: boolean;
  /** Requests per `timeWindow`. Not a non-negative number or a function: 1000. @default 1000 */
  max?: MaxOption;
  /** The window. Not a valid duration: one minute. @default 60000 */
  timeWindow?: TimeWindowOption;
  /** Keys never limited (and sent no headers), or a predicate of the request and key. */
  allowList?: string[] | ((request: FastifyRequest, key: string) => boolean | Promise<boolean>);
  /** The key of a request. @default the client address, IPv6 grouped per `ipv6Subnet` */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>;
  /** IPv6 clients share one key per prefix of this length (0 to 128). @default 64 */
  ipv6Subnet?: number;
  /** Refusals in one window after which the answer becomes 403 (`-1`: never). @default -1 */
  ban?: number;
}

/** The lifecycle hooks the limiter may run in. */
export type RateLimitHook = 'onRequest' | 'preParsing' | 'preValidation' | 'preHandler';

/** Options of a route's `config.rateLimit` and of `fastify.rateLimit(options)`. */
export interface RateLimitOptions extends CreateRateLimitOptions {
  /** The hook the limiter runs in, after the route's own hooks of that kind. @default 'onRequest' */
  hook?: RateLimitHook;
  /** Keys the in-memory store tracks (per route). @default 5000 */
  cache?: number;
  /** A refused request restarts the window (see the migration guide for how ratekeeper applies it). @default false */
  continueExceeding?: boolean;
  /** Called with each request refused with 403 (banned). */
  onBanReach?: (request: FastifyRequest, key: string) => void;
  /** Appended to the key (a route setting): routes with one group id count together per key. */
  groupId?: string;
  /** What a refused request throws (Fastify's error handler answers it). @default an Error with `statusCode` */
  errorResponseBuilder?: (request: FastifyRequest, context: ErrorResponseBuilderContext) => object;
  /** Header names `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` instead of `x-ratelimit-*`. @default false */
  enableDraftSpec?: boolean;
  /** Called with each request within the limit. */
  onExceeding?: (request: FastifyRequest, key: string) => void;
  /** Called with each request over the limit. */
  onExceeded?: (request: FastifyRequest, key: string) => void;
  /** Refusals lengthen the wait (see the migration guide for how ratekeeper applies it). @default false */
  exponentialBackoff?: boolean;
}

/** Which headers a refused request carries, by header name (all true by default). */
export interface AddHeaders {
  'x-ratelimit-limit'?: boolean;
  'x-ratelimit-remaining'?: boolean;
  'x-ratelimit-reset'?: boolean;
  'ratelimit-limit'?: boolean;
  'ratelimit-remaining'?: boolean;
  'ratelimit-reset'?: boolean;
  'retry-after'?: boolean;
}

/** Which headers an allowed request carries, by header name (all true by default). */
export type AddHeadersOnExceeding = Omit<AddHeaders, 'retry-after'>;

/** Options of the plugin (`fastify.register(fastifyRateLimit, options)`). */
export interface FastifyRateLimitOptions extends RateLimitOptions {
  /** Limit every route; with `false` only routes whose `config.rateLimit` is an object. @default true */
  global?: boolean;
  /**
   * An ioredis client (`Redis` or `Cluster`): counts live in Redis through ratekeeper's `RedisStore`
   * (one atomic script per decision). A node-redis or iovalkey client works too.
   */
  redis?: unknown;
  /** Prefix of every Redis key. @default 'fastify-rate-limit-' */
  nameSpace?: string;
  /** Headers of refused requests. */
  addHeaders?: AddHeaders;
  /** Headers of allowed requests. */
  addHeadersOnExceeding?: AddHeadersOnExceeding;
}

/** @fastify/rate-limit's name for the plugin options. */
export type RateLimitPluginOptions = FastifyRateLimitOptions;

/** What `fastify.createRateLimit()` answers for one request. */
export type RateLimitResult =
  | {
      /** The key is on the allow list: nothing was counted. */
      isAllowed: true;
      key: string;
    }
  | {
      isAllowed: false;
      key: string;
      max: number;
      timeWindow: number;
      remaining: number;
      ttl: number;
      ttlInSeconds: number;
      /** Over the limit: a hook would refuse this request. */
      isExceeded: boolean;
      /** Banned: a hook would refuse it with 403. */
      isBanned: boolean;
    };

/** `fastify.createRateLimit(options)`: checks (and by default counts) one request. */
export type CheckRateLimit = (request: FastifyRequest, callOptions?: { increment?: boolean }) => Promise<RateLimitResult>;
