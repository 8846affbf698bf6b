import type { Store as RatekeeperStore } from '@ratekeeper/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

// The public types of express-rate-limit 8, under its names, so `import type { Options } from
// 'express-rate-limit'` keeps compiling after the switch to `@ratekeeper/express/compat`.

/** Receives validation errors and store errors; `console` by default. */
export type LoggerFn = (error: unknown, message?: string) => void;

/** Where the limiter reports problems: an object with `error` and `warn` functions. */
export interface Logger {
  error: LoggerFn;
  warn: LoggerFn;
}

/** A value computed per request; a promise of it is awaited. */
export type ValueDeterminingMiddleware<T> = (request: Request, response: Response) => T | Promise<T>;

/** Called for a request over the limit, in place of `next()`. */
export type RateLimitExceededEventHandler = (request: Request, response: Response, next: NextFunction, optionsUsed: Options) => void;

/** What a store knows about one client: its hits in the current window, and when they reset. */
export interface ClientRateLimitInfo {
  totalHits: number;
  resetTime: Date | undefined;
}

/** What a store's `increment` answers. */
export type IncrementResponse = ClientRateLimitInfo;

/** The callback of a legacy store's `incr`. */
export type IncrementCallback = (error: Error | undefined, totalHits: number, resetTime: Date | undefined) => void;

/** A store of express-rate-limit's version 5 and earlier: callback-based `incr`. */
export interface LegacyStore {
  incr: (key: string, callback: IncrementCallback) => void;
  decrement: (key: string) => void;
  resetKey: (key: string) => void;
  resetAll?: () => void;
}

/** An express-rate-limit store (rate-limit-redis, rate-limit-memcached, ...): a hit counter per key. */
export interface Store {
  /** Called once, when the middleware is created, with its resolved options. */
  init?: (options: Options) => void | Promise<void>;
  get?: (key: string) => Promise<ClientRateLimitInfo | undefined> | ClientRateLimitInfo | undefined;
  increment: (key: string) => Promise<IncrementResponse> | IncrementResponse;
  decrement: (key: string) => Promise<void> | void;
  resetKey: (key: string) => Promise<void> | void;
  resetAll?: () => Promise<void> | void;
  shutdown?: () => Promise<void> | void;
  /** True when two instances never share counters (a memory store). */
  localKeys?: boolean;
  /** Prepended to the keys, for stores that share a backend. */
  prefix?: string;
}

/** The IETF drafts `standardHeaders` can name. */
export type DraftHeadersVersion = 'draft-6' | 'draft-7' | 'draft-8';

/** The names of the configuration checks `validate` can turn on or off. */
export type ValidationName =
  | 'ip'
  | 'trustProxy'
  | 'xForwardedForHeader'
  | 'forwardedHeader'
  | 'positiveHits'
  | 'unsharedStore'
  | 'singleCount'
  | 'limit'
  | 'draftPolliHeaders'
  | 'onLimitReached'
  | 'headersDraftVersion'
  | 'headersResetTime'
  | 'knownOptions'
  | 'validationsConfig'
  | 'creationStack'
  | 'ipv6Subnet'
  | 'ipv6SubnetOrKeyGenerator'
  | 'keyGeneratorIpFallback'
  | 'windowMs';

/** Which checks run: each by name, and `default` for the others. */
export type EnabledValidations = { [K in ValidationName | 'default']?: boolean };

/** The options of express-rate-limit 8: every one optional when passed to `rateLimit`. */
export interface Options {
  /** Length of a window in milliseconds. @default 60000 */
  windowMs: number;
  /** Requests allowed per window and client, or a function of the request. `0` blocks every request. @default 5 */
  limit: number | ValueDeterminingMiddleware<number>;
  /** Body of the limited response (what `res.send` takes; an object is sent as JSON), or a function of the request. */
  message: string | number | boolean | object | ValueDeterminingMiddleware<unknown>;
  /** Status of the limited response. @default 429 */
  statusCode: number;
  /** `X-RateLimit-Limit`, `-Remaining`, `-Reset`. @default true */
  legacyHeaders: boolean;
  /** IETF `RateLimit` headers: `true` (draft-6), `'draft-6'`, `'draft-7'`, `'draft-8'`. @default false */
  standardHeaders: boolean | DraftHeadersVersion;
  /** The draft-8 quota name. @default `${limit}-in-${window}`, e.g. `5-in-1min` */
  identifier: string | ValueDeterminingMiddleware<string>;
  /** The request property the rate-limit info is set on. @default 'rateLimit' */
  requestPropertyName: string;
  /** Give the hit back when the response failed (`requestWasSuccessful` false, or aborted). @default false */
  skipFailedRequests: boolean;
  /** Give the hit back when the response succeeded. @default false */
  skipSuccessfulRequests: boolean;
  /** The client's key. @default the IP, IPv6 grouped per `ipv6Subnet` (see `ipKeyGenerator`) */
  keyGenerator: ValueDeterminingMiddleware<string>;
  /** Prefix length IPv6 clients are grouped by (32 to 64), a function, or `false`. @default 56 */
  ipv6Subnet: number | ValueDeterminingMiddleware<number> | false;
  /** Answers a limited request. @default status `statusCode`, body `message` */
  handler: RateLimitExceededEventHandler;
  /** Requests for which this is true are not counted. */
  skip: ValueDeterminingMiddleware<boolean>;
  /** What success means for `skipFailedRequests`/`skipSuccessfulRequests`. @default status < 400 */
  requestWasSuccessful: ValueDeterminingMiddleware<boolean>;
  /**
   * Where hits are counted: any express-rate-limit store (modern or legacy), or a ratekeeper store
   * (`RedisStore` from `@ratekeeper/core/redis`). @default a new `MemoryStore`
   */
  store: Store | LegacyStore | RatekeeperStore;
  /** Turns the configuration checks on or off, all or by name. @default true */
  validate: boolean | EnabledValidations;
  /** @deprecated the name of `legacyHeaders` before version 6. */
  headers?: boolean;
  /** @deprecated the name of `limit` before version 7. */
  max?: number | ValueDeterminingMiddleware<number>;
  /** Let requests through (and log the error) when the store fails, instead of `next(error)`. @default false */
  passOnStoreError: boolean;
  /** Where validation errors and store errors are logged. @default console */
  logger: Logger;
}

/** What is set on `req.rateLimit` (or `requestPropertyName`); also `current`, the same as `used`, not enumerable. */
export interface RateLimitInfo {
  limit: number;
  used: number;
  remaining: number;
  resetTime: Date | undefined;
  key: string;
}

/** A request with the rate-limit info on it. */
export type AugmentedRequest = Request & { [key: string]: RateLimitInfo };

/** The middleware, with the store's `resetKey` and `getKey`. */
export type RateLimitRequestHandler = RequestHandler & {
  /** Forgets a client's hits. */
  resetKey: (key: string) => void;
  /** A client's hits and reset time; throws when the store has no `get`. */
  getKey: (key: string) => Promise<ClientRateLimitInfo | undefined> | ClientRateLimitInfo | undefined;
};
