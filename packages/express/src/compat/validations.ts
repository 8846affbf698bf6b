import { isIP } from 'node:net';
import type { Request } from 'express';
import type { EnabledValidations, Logger, Store, ValidationName } from './types';

/**
 * express-rate-limit's configuration checks, by name, with its `ERR_ERL_*` codes: each logs an
 * error object with a `code` (or, for a changed behaviour, a warning) and never throws. Each check
 * runs at most once per middleware, and `validate` turns them off, all or by name.
 */

/** A logged check failure: an Error with express-rate-limit's `code` and a link to its explanation. */
export class ValidationError extends Error {
  readonly code: string;
  readonly help: string;

  constructor(code: string, message: string) {
    const help = `https://express-rate-limit.github.io/${code}/`;
    super(`${message} See ${help} for more information.`);
    this.name = new.target.name;
    this.code = code;
    this.help = help;
  }
}

/** A behaviour that changed between versions: logged with `logger.warn`. */
export class ChangeWarning extends ValidationError {}

/** Option names express-rate-limit knows (and express-slow-down's, which share option objects). */
const KNOWN_OPTIONS: ReadonlySet<string> = new Set([
  'windowMs',
  'limit',
  'message',
  'statusCode',
  'legacyHeaders',
  'standardHeaders',
  'identifier',
  'requestPropertyName',
  'skipFailedRequests',
  'skipSuccessfulRequests',
  'keyGenerator',
  'ipv6Subnet',
  'handler',
  'skip',
  'requestWasSuccessful',
  'store',
  'validate',
  'headers',
  'max',
  'passOnStoreError',
  'logger',
  'draft_polli_ratelimit_headers',
  'delayAfter',
  'delayMs',
  'maxDelayMs',
]);

const DRAFTS: readonly string[] = ['draft-6', 'draft-7', 'draft-8'];

/** Longest window the original's memory store can time (Node's timer limit). */
const TIMER_MAX_MS = 2 ** 31 - 1;

/** Stores used by any middleware in this process: one store per limiter (its counters would mix). */
const usedStores = new WeakSet<object>();

/** Per request, per store (instance, or class name for shared backends): keys counted already. */
const countedKeys = new WeakMap<object, Map<unknown, string[]>>();

const fail = (code: string, message: string): never => {
  throw new ValidationError(code, message);
};

const CHECKS = {
  ip(ip: unknown): void {
    if (ip === undefined)
      fail(
        'ERR_ERL_UNDEFINED_IP_ADDRESS',
        'request.ip is undefined: a misconfigured proxy, or the connection closed before the limiter ran.',
      );
    if (typeof ip !== 'string' || isIP(ip) === 0)
      fail('ERR_ERL_INVALID_IP_ADDRESS', `request.ip (${String(ip)}) is not an IP address: pass a keyGenerator that returns a key.`);
  },
  trustProxy(request: Request): void {
    if (request.app.get('trust proxy') === true)
      fail('ERR_ERL_PERMISSIVE_TRUST_PROXY', "Express's 'trust proxy' is true: any client can pick its own IP, and so its own limit.");
  },
  xForwardedForHeader(request: Request): void {
    if (request.headers['x-forwarded-for'] && request.app.get('trust proxy') === false)
      fail(
        'ERR_ERL_UNEXPECTED_X_FORWARDED_FOR',
        "The request has an X-Forwarded-For header but Express's 'trust proxy' is false (the default): behind a proxy, every client would share one limit.",
      );
  },
  forwardedHeader(request: Request): void {
    if (request.headers.forwarded && request.ip === request.socket?.remoteAddress)
      fail(
        'ERR_ERL_FORWARDED_HEADER',
        'The request has a Forwarded header, which Express ignores: pass a keyGenerator that reads it if a proxy sets it.',
      );
  },
  positiveHits(hits: unknown): void {
    if (typeof hits !== 'number' || hits < 1 || hits !== Math.round(hits))
      fail('ERR_ERL_INVALID_HITS', `The store answered totalHits ${String(hits)}; it must be a positive integer.`);
  },
  unsharedStore(store: Store): void {
    if (usedStores.has(store)) {
      const hint = store.localKeys ? '' : ' (with a unique prefix)';
      fail(
        'ERR_ERL_STORE_REUSE',
        `One store instance serves several limiters: create a ${store.constructor.name}${hint} per limiter, or their counters mix.`,
      );
    }
    usedStores.add(store);
  },
  singleCount(request: object, store: Store, key: string): void {
    let byStore = countedKeys.get(request);
    if (byStore === undefined) {
      byStore = new Map();
      countedKeys.set(request, byStore);
    }
    // Stores that share a backend (Redis) share keys across instances: tell them apart by class.
    const id = store.localKeys ? store : store.constructor.name;
    let keys = byStore.get(id);
    if (keys === undefined) {
      keys = [];
      byStore.set(id, keys);
    }
    const full = `${store.prefix ?? ''}${key}`;
    if (keys.includes(full)) fail('ERR_ERL_DOUBLE_COUNT', `The hits of ${key} were counted more than once for one request.`);
    keys.push(full);
  },
  limit(limit: unknown): void {
    if (limit === 0)
      throw new ChangeWarning('WRN_ERL_MAX_ZERO', 'limit (or max) 0 blocks every request since version 7; before, it turned limiting off.');
  },
  draftPolliHeaders(value: unknown): void {
    if (value)
      throw new ChangeWarning(
        'WRN_ERL_DEPRECATED_DRAFT_POLLI_HEADERS',
        "draft_polli_ratelimit_headers was removed in version 7: use standardHeaders: 'draft-6'.",
      );
  },
  onLimitReached(value: unknown): void {
    if (value) throw new ChangeWarning('WRN_ERL_DEPRECATED_ON_LIMIT_REACHED', 'onLimitReached was removed in version 7: use a handler.');
  },
  headersDraftVersion(version: unknown): void {
    if (typeof version !== 'string' || !DRAFTS.includes(version))
      fail(
        'ERR_ERL_HEADERS_UNSUPPORTED_DRAFT_VERSION',
        `standardHeaders must be true or one of ${DRAFTS.join(', ')}; no standard headers are sent.`,
      );
  },
  headersResetTime(resetTime: unknown): void {
    if (!resetTime)
      fail(
        'ERR_ERL_HEADERS_NO_RESET',
        'These standardHeaders need the reset time, which the store did not give: windowMs is sent instead, which may be later than the real reset.',
      );
  },
  knownOptions(options: object | undefined): void {
    if (options === undefined) return;
    for (const key of Object.keys(options)) if (!KNOWN_OPTIONS.has(key)) fail('ERR_ERL_UNKNOWN_OPTION', `Unknown option: ${key}`);
  },
  validationsConfig(this: { readonly enabled: Readonly<Record<string, boolean>> }): void {
    const names = [...Object.keys(CHECKS), 'default'];
    for (const key of Object.keys(this.enabled))
      if (!names.includes(key)) fail('ERR_ERL_UNKNOWN_VALIDATION', `validate.${key} is not a check; the checks are ${names.join(', ')}.`);
  },
  creationStack(store: Store): void {
    const { stack } = new Error('express-rate-limit validation check (set validate.creationStack to false to turn it off)');
    // Express 4 and 5 frames of a request handler.
    if (!stack?.includes('Layer.handle [as handle_request]') && !stack?.includes('Layer.handleRequest')) return;
    fail(
      'ERR_ERL_CREATED_IN_REQUEST_HANDLER',
      store.localKeys
        ? 'The limiter was created while handling a request: create it once, when the app starts, or each request gets fresh counters.'
        : 'The limiter was created while handling a request: it should usually be created once, when the app starts.',
    );
  },
  ipv6Subnet(subnet: unknown): void {
    if (subnet === false) return;
    if (typeof subnet !== 'number' || !Number.isInteger(subnet) || subnet < 32 || subnet > 64)
      fail('ERR_ERL_IPV6_SUBNET', `ipv6Subnet ${String(subnet)} is not an integer from 32 to 64 (usually 48 to 64).`);
  },
  ipv6SubnetOrKeyGenerator(options: { ipv6Subnet?: unknown; keyGenerator?: unknown }): void {
    if (options.ipv6Subnet !== undefined && options.keyGenerator)
      fail('ERR_ERL_IPV6SUBNET_OR_KEYGENERATOR', 'ipv6Subnet has no effect with a custom keyGenerator (use ipKeyGenerator inside it).');
  },
  keyGeneratorIpFallback(keyGenerator: unknown): void {
    if (typeof keyGenerator !== 'function') return;
    const source = keyGenerator.toString();
    if ((source.includes('req.ip') || source.includes('request.ip')) && !source.includes('ipKeyGenerator'))
      fail(
        'ERR_ERL_KEY_GEN_IPV6',
        'The keyGenerator seems to use request.ip without ipKeyGenerator: an IPv6 client could change address to escape its limit.',
      );
  },
  windowMs(windowMs: unknown): void {
    if (typeof windowMs !== 'number' || Number.isNaN(windowMs) || windowMs < 1 || windowMs > TIMER_MAX_MS)
      fail('ERR_ERL_WINDOW_MS', `windowMs ${String(windowMs)} is not a number from 1 to ${TIMER_MAX_MS} (the memory store's limit).`);
  },
} satisfies Record<ValidationName, (...args: never[]) => void>;

type Checks = typeof CHECKS;

/** The checks of one middleware: each runs once at most, and only when `validate` enables it. */
export type Validations = { readonly [K in keyof Checks]: (...args: Parameters<Checks[K]>) => void } & {
  /** Which checks may still run (a check turns itself off once it ran). */
  readonly enabled: Readonly<Record<string, boolean>>;
  /** Turns every check off. */
  disable(): void;
};

/** Throws the original's TypeError for a logger without `error` and `warn`. */
export function checkLogger(logger: unknown): asserts logger is Logger {
  const l = logger as Partial<Logger> | null;
  if (typeof l !== 'object' || l === null || typeof l.error !== 'function' || typeof l.warn !== 'function')
    throw new TypeError('Expected `logger` to have error() and warn() functions');
}

/** The checks of one middleware, reporting to `logger`. */
export function createValidations(validate: boolean | EnabledValidations, logger: Logger): Validations {
  const enabled: Record<string, boolean> =
    typeof validate === 'object' && validate !== null ? { default: true, ...validate } : { default: validate !== false };
  const out: Record<string, unknown> = {
    enabled,
    disable: () => {
      for (const name of Object.keys(enabled)) enabled[name] = false;
    },
  };
  for (const [name, check] of Object.entries(CHECKS) as [string, (this: unknown, ...args: unknown[]) => void][]) {
    out[name] = (...args: unknown[]): void => {
      if (!(enabled[name] ?? enabled.default)) return;
      enabled[name] = false;
      try {
        check.apply(out, args);
      } catch (error) {
        // A check that fails on a request it cannot read (a test double) is reported too, never thrown.
        if (error instanceof ChangeWarning) logger.warn(error);
        else logger.error(error);
      }
    };
  }
  return out as Validations;
}
