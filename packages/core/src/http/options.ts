import type { Decision } from '../decision';
import type { Duration } from '../duration';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import type { LimiterStoreOptions } from '../limiter';
import { type Algorithm, RULE_FIELDS, type Rule, type RuleOptions } from '../rules';
import type { ConcurrencyOption } from './concurrency';
import type { HeaderFormat } from './headers';

/** A building block of a rate-limit key. */
export type KeyPart = 'ip' | 'user' | 'route';

export type { RateLimitLogger } from '../logger';

/** What `rules` accepts in the HTTP options: rules, or a function choosing them per request. */
export type HttpRules<Req> = readonly Rule[] | ((req: Req) => readonly Rule[] | PromiseLike<readonly Rule[]>);

/** What `key` accepts: a key part, several, or your own function. */
export type KeyOption<Req> = KeyPart | readonly KeyPart[] | ((req: Req) => string | PromiseLike<string>);

/**
 * What `'user'` means: the user id, as a non-empty string (or a promise or thenable of one).
 * Anything else (`undefined`, `null`, `''`, a number, an object) means an anonymous request,
 * limited by IP; turn numeric ids into strings yourself.
 */
export type UserOption<Req> = (req: Req) => string | null | undefined | PromiseLike<string | null | undefined>;

/** `key: 'user'` needs `user` (a type error without it, a `ConfigError` at run time). */
export type KeyChoice<Req> =
  | {
      /** Limit per user: `user` says who that is. */
      key: 'user';
      user: UserOption<Req>;
    }
  | {
      /**
       * What one bucket is: the client address, the user, the route pattern, a combination, or your
       * own function (which may return a promise or any thenable). @default 'ip'
       */
      key?: Exclude<KeyOption<Req>, 'user'>;
      user?: UserOption<Req>;
    };

/**
 * Options of the HTTP adapters (`rateLimit` for Express and Koa, `rateLimitPlugin` for Fastify):
 * the same names in all three. Validated once, when the middleware is created. Contradictions are
 * type errors: `limit` with `rules`, `burst` on a window algorithm, `key: 'user'` without `user`.
 * @typeParam Req - the framework's request (Express `Request`, Fastify `FastifyRequest`, Koa `Context`).
 */
export type RateLimitOptions<Req = unknown> = RuleOptions<HttpRules<Req>> & KeyChoice<Req> & HttpOptions<Req>;

/**
 * {@link RateLimitOptions} where `key: 'user'` may rely on a `user` given elsewhere (the options a
 * route layers over app-wide ones).
 */
export type RateLimitOverrides<Req = unknown> = RuleOptions<HttpRules<Req>> & {
  key?: KeyOption<Req>;
  user?: UserOption<Req>;
} & HttpOptions<Req>;

/**
 * Every HTTP option with its widest type: what the pipeline accepts and validates at run time (so
 * a route's options layered over the app's, or options built at run time, are accepted as well).
 */
export interface LooseRateLimitOptions<Req = unknown> extends HttpOptions<Req> {
  rules?: HttpRules<Req> | undefined;
  limit?: number | undefined;
  window?: Duration | undefined;
  algorithm?: Algorithm | undefined;
  burst?: number | undefined;
  blockFor?: Duration | undefined;
  name?: string | undefined;
  key?: KeyOption<Req> | undefined;
  user?: UserOption<Req> | undefined;
}

/** The HTTP options besides the rules and the key. */
export interface HttpOptions<Req = unknown> extends LimiterStoreOptions {
  /** IPv6 clients share a bucket per prefix of this length; `false`: per address. @default 56 */
  ipv6Subnet?: number | false;
  /** Header families to send, or `false` for none (then no `Retry-After` either). @default ['legacy', 'draft-8'] */
  headers?: HeaderFormat | readonly HeaderFormat[] | false;
  /** Requests for which this returns true (or a promise or thenable of true) are not counted and get no headers. */
  skip?: (req: Req) => boolean | PromiseLike<boolean>;
  /** Addresses or CIDR ranges never limited, or a predicate. */
  allowList?: readonly string[] | ((req: Req) => boolean);
  /** Whether a finished response counts; rejected ones are refunded. @default status < 500 */
  countResponse?: (statusCode: number, req: Req) => boolean;
  /**
   * Units this request takes: a positive integer, or a function of the request returning one (or a
   * promise or thenable of one), e.g. by the size of a batch. A cost above a rule's capacity is
   * answered 429 without `Retry-After` (it can never pass). @default 1
   */
  cost?: number | ((req: Req) => number | PromiseLike<number>);
  /** Status of the limited response. @default 429 */
  statusCode?: number;
  /**
   * Body of the limited response: text, a JSON value, or a function of the request and decision
   * returning either (or a promise or thenable of either). @default 'Too many requests, please try again later.'
   */
  message?: string | object | ((req: Req, decision: Decision) => unknown);
  /** Called for every request over the limit (also in `dryRun`). */
  onLimited?: (req: Req, decision: Decision) => void;
  /** Evaluate, count, send headers and call `onLimited`, but never block. @default false */
  dryRun?: boolean;
  /**
   * At most `max` requests of one key in flight at once (on the limiter's `store`), each slot
   * released when its response closes; one more is refused with `statusCode` and `Retry-After: 1`.
   * With rate rules or alone (then without `limit`, `window` or `rules`). See docs/http.md.
   * @example
   * rateLimit({ limit: 100, window: '1m', concurrency: { max: 5 } })
   */
  concurrency?: ConcurrencyOption;
}

/** Rule shorthand fields, passed to the core limiter (defined with the rules). */
export { RULE_FIELDS };

/** Store and failure options, passed to the core limiter as they are. */
export const STORE_OPTIONS = [
  'store',
  'prefix',
  'onStoreError',
  'timeoutMs',
  'retryStoreAfterMs',
  'now',
  'onError',
  'onRecover',
  'logger',
  'adaptive',
] as const;

/** Options shared with `createLimiter` (same names, same meaning, same defaults; `store` defaults to one MemoryStore per middleware). */
const SHARED_LIMITER_OPTIONS = [...RULE_FIELDS, ...STORE_OPTIONS] as const;

/** Every option name shared by the three adapters. */
export const HTTP_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...SHARED_LIMITER_OPTIONS,
  'rules',
  'key',
  'user',
  'ipv6Subnet',
  'headers',
  'skip',
  'allowList',
  'countResponse',
  'cost',
  'statusCode',
  'message',
  'onLimited',
  'dryRun',
  'concurrency',
]);

/** @internal Rejects unknown option names (typos would otherwise silently do nothing). */
export function checkOptionNames(options: object, extra: ReadonlySet<string> = new Set()): void {
  rejectUnknownOptions(options, extra.size === 0 ? HTTP_OPTION_KEYS : new Set([...HTTP_OPTION_KEYS, ...extra]));
}

/** @internal */
export function optionalFunction<T>(options: Record<string, unknown>, name: string): T | undefined {
  const v = options[name];
  if (v !== undefined && typeof v !== 'function') throw new ConfigError(name, 'a function', v);
  return v as T | undefined;
}

/** Option names that describe the rules; an override naming any of them replaces all of them. */
const RULE_SHAPE: readonly string[] = [...RULE_FIELDS, 'rules'];

/**
 * Layers per-route options over app-wide ones (Fastify `config.rateLimit`, per-router Koa
 * defaults). Rules are taken as a whole: a route giving `limit`+`window` drops the app's `rules`.
 */
export function mergeRateLimitOptions<O extends object>(base: O, override: O): O {
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  const o = override as Record<string, unknown>;
  if (RULE_SHAPE.some((k) => o[k] !== undefined)) for (const k of RULE_SHAPE) delete merged[k];
  for (const k of Object.keys(o)) if (o[k] !== undefined) merged[k] = o[k];
  return merged as O;
}
