import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Decision } from '../decision';
import { ConfigError } from '../errors/config-error';
import { CONSUME_NOW, createLimiter, type Limiter, type LimiterOptions } from '../limiter';
import type { Rule } from '../rules';
import { MemoryStore } from '../stores/memory';
import type { Store } from '../stores/types';
import { type BodyFactory, compileMessage, type LimitedBody, resolveStatusCode, serializeBody } from './body';
import { type HeaderPlan, type PolicyText, policyText, resolveHeaderFormats, writeHeaders } from './headers';
import { compileAllowList, normalizeIp, resolveIpv6Subnet } from './ip';
import { compileKey, type KeyBuilder, keyNeedsIp, keyNeedsRoute, keyNeedsUser } from './keys';
import { checkOptionNames, optionalFunction, type RateLimitLogger, type RateLimitOptions, RULE_FIELDS, STORE_OPTIONS } from './options';

/**
 * What an adapter tells the pipeline about its framework. Each method is one property read: the
 * pipeline calls each at most once per request.
 */
export interface HttpAdapter<Req> {
  /** The client address as the framework reports it (its trust-proxy setting applied). */
  ip(req: Req): string | undefined;
  /** `METHOD /pattern/:id` of the matched route, or `undefined` when none matched (yet). */
  route(req: Req): string | undefined;
  /** Whether the framework takes client addresses from proxy headers. */
  trustsProxy(req: Req): boolean;
}

/** What the adapter does with a counted request. */
export interface HttpOutcome {
  /** The limiter's decision (also exposed as `req.rateLimit` and friends). */
  readonly decision: Decision;
  /** Headers to set (names in registered case), or `undefined` with `headers: false`. */
  readonly headers: Record<string, string> | undefined;
  /** True when the adapter must answer with `statusCode` and `body` instead of continuing. */
  readonly blocked: boolean;
  /** Status of the limited response. */
  readonly statusCode: number;
  /** Body of the limited response; set when `blocked`. */
  readonly body: LimitedBody | undefined;
}

/** One limiter per distinct rule set, with its header text built once. */
interface Entry {
  readonly limiter: Limiter;
  readonly policy: PolicyText;
  readonly ruleCount: number;
}

/** Per-request notes shared by every ratekeeper limiter the request passes through. */
interface RequestMark {
  /** The first limiter that counted the request; `others` only exists when there are more. */
  readonly first: HttpLimiter<never>;
  others: HttpLimiter<never>[] | undefined;
  policy: string | undefined;
  rate: string | undefined;
}

/** A value now, or later. */
export type Step<T> = T | Promise<T>;

interface DecidesNow {
  [CONSUME_NOW](key: string, cost: number): Decision | Promise<Decision>;
}

const MARK = Symbol.for('ratekeeper.request');
/** Bounds the cache of rule sets built per request: a runaway `rules` function must not leak limiters. */
const MAX_RULE_SETS = 1000;

const defaultLogger: RateLimitLogger = {
  warn: (message) => process.emitWarning(message, { code: 'RATEKEEPER_TRUST_PROXY' }),
};

/**
 * Scans `rawHeaders`, not `headers`: Node builds the `headers` object lazily, and reading it here
 * would build it for every request of an app that never looks at its headers.
 */
function hasForwardedFor(raw: IncomingMessage): boolean {
  const h = raw.rawHeaders;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === 15 && name.toLowerCase() === 'x-forwarded-for') return true;
  }
  return false;
}

/** A native promise, or any other object with a `then` method (Bluebird, a query builder). */
function isThenable<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as PromiseLike<T> | null | undefined)?.then === 'function';
}

/**
 * Continues once a thenable settles. `Promise.resolve` adopts any thenable into a native promise
 * (and hands a native one back as it is), so every asynchronous answer of `handle` is a native
 * Promise: the one form adapters test for, with `instanceof Promise`.
 */
function after<T, U>(thenable: PromiseLike<T>, next: (value: T) => Step<U>): Promise<U> {
  return Promise.resolve(thenable).then(next);
}

/**
 * The framework-agnostic request pipeline every adapter runs: validates options once, then per
 * request skips, builds the key, decides, formats headers and the limited body, and refunds
 * responses that `countResponse` rejects. Adapters only translate requests and responses.
 */
export class HttpLimiter<Req> {
  readonly #adapter: HttpAdapter<Req>;
  readonly #limiterOptions: Omit<LimiterOptions, 'rules'>;
  readonly #static: Entry | undefined;
  readonly #rulesFn: ((req: Req) => readonly Rule[] | PromiseLike<readonly Rule[]>) | undefined;
  readonly #byArray = new WeakMap<readonly Rule[], Entry>();
  readonly #bySignature = new Map<string, Entry>();
  readonly #key: KeyBuilder<Req>;
  /** The `user` option when the key uses it, else undefined (not called). */
  readonly #user: ((req: Req) => unknown) | undefined;
  readonly #needsIp: boolean;
  readonly #needsRoute: boolean;
  readonly #ipv6Subnet: number | false;
  readonly #skip: ((req: Req) => boolean | PromiseLike<boolean>) | undefined;
  readonly #allowIp: ((ip: string | undefined) => boolean) | undefined;
  readonly #allowFn: ((req: Req) => boolean) | undefined;
  readonly #count: ((status: number) => boolean) | undefined;
  readonly #plan: HeaderPlan | undefined;
  readonly #statusCode: number;
  readonly #message: BodyFactory<Req>;
  readonly #onLimited: ((req: Req, decision: Decision) => void) | undefined;
  readonly #dryRun: boolean;
  readonly #logger: RateLimitLogger;
  #checkProxy = true;

  /** `extraKeys`: adapter-specific option names the adapter has already taken out. */
  constructor(options: RateLimitOptions<Req>, adapter: HttpAdapter<Req>, extraKeys?: ReadonlySet<string>) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    checkOptionNames(options, extraKeys);
    const o = options as Record<string, unknown>;
    this.#adapter = adapter;
    const store = options.store ?? new MemoryStore();
    const base: Record<string, unknown> = { store };
    for (const k of STORE_OPTIONS) if (o[k] !== undefined && k !== 'store') base[k] = o[k];
    this.#limiterOptions = base as Omit<LimiterOptions, 'rules'>;

    const rules = options.rules;
    if (typeof rules === 'function') {
      const stray = RULE_FIELDS.find((f) => o[f] !== undefined);
      if (stray) throw new ConfigError(stray, 'undefined when `rules` is given (put it in a rule)', o[stray]);
      this.#rulesFn = rules;
      // Validate the shared limiter options now, with a throwaway rule and store, rather than at the first request.
      createLimiter({ ...base, store: new MemoryStore(), limit: 1, window: 1000 } as LimiterOptions);
      if (typeof (store as Partial<Store>).bind !== 'function')
        throw new ConfigError('store', 'a store (MemoryStore or RedisStore)', store);
    } else {
      const shape: Record<string, unknown> = { ...base };
      if (rules !== undefined) shape.rules = rules;
      for (const f of RULE_FIELDS) if (o[f] !== undefined) shape[f] = o[f];
      this.#static = this.#entry(createLimiter(shape as LimiterOptions));
    }

    const user = optionalFunction<(req: Req) => unknown>(o, 'user');
    this.#key = compileKey(options.key, user);
    this.#user = keyNeedsUser(options.key) ? user : undefined;
    this.#needsIp = keyNeedsIp(options.key) || options.allowList !== undefined;
    this.#needsRoute = keyNeedsRoute(options.key);
    this.#ipv6Subnet = resolveIpv6Subnet(options.ipv6Subnet);
    this.#skip = optionalFunction(o, 'skip');
    const allow = options.allowList;
    if (typeof allow === 'function') this.#allowFn = allow;
    else if (Array.isArray(allow)) this.#allowIp = allow.length > 0 ? compileAllowList(allow) : undefined;
    else if (allow !== undefined) throw new ConfigError('allowList', 'an array of addresses/CIDR ranges or a function', allow);
    this.#count = optionalFunction(o, 'countResponse');
    this.#plan = resolveHeaderFormats(options.headers);
    this.#statusCode = resolveStatusCode(options.statusCode);
    this.#message = compileMessage<Req>(options.message);
    this.#onLimited = optionalFunction(o, 'onLimited');
    if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') throw new ConfigError('dryRun', 'a boolean', options.dryRun);
    this.#dryRun = options.dryRun ?? false;
    const logger = options.logger ?? defaultLogger;
    if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')
      throw new ConfigError('logger', 'an object with a warn(message) method', logger);
    this.#logger = logger;
  }

  /** The limiter of fixed rules; `undefined` when `rules` is a function. */
  get limiter(): Limiter | undefined {
    return this.#static?.limiter;
  }

  #entry(limiter: Limiter): Entry {
    return { limiter, policy: policyText(limiter.rules), ruleCount: limiter.rules.length };
  }

  /** One limiter per distinct rule set: by array identity first, then by content for fresh arrays. */
  #entryFor(rules: readonly Rule[]): Entry {
    let entry = this.#byArray.get(rules);
    if (entry !== undefined) return entry;
    if (!Array.isArray(rules)) throw new ConfigError('rules', 'a function returning an array of rules', rules);
    const signature = JSON.stringify(rules);
    entry = this.#bySignature.get(signature);
    if (entry === undefined) {
      if (this.#bySignature.size >= MAX_RULE_SETS)
        throw new ConfigError('rules', `a function returning at most ${MAX_RULE_SETS} distinct rule sets`, rules);
      entry = this.#entry(createLimiter({ ...this.#limiterOptions, rules }));
      this.#bySignature.set(signature, entry);
    }
    this.#byArray.set(rules, entry);
    return entry;
  }

  #warnProxy(req: Req, raw: IncomingMessage): void {
    if (!hasForwardedFor(raw)) return;
    // Either way the answer will not change for this app: stop looking at the header.
    this.#checkProxy = false;
    if (!this.#adapter.trustsProxy(req))
      this.#logger.warn(
        'ratekeeper: a request carries X-Forwarded-For but the framework does not trust proxies, so every client ' +
          'behind the proxy shares one address and one limit. Enable trust proxy if a reverse proxy sets that header.',
      );
  }

  /**
   * Runs the pipeline for one request. Answers synchronously when nothing on the way is
   * asynchronous (memory store, plain functions), else with a native `Promise`; never throws.
   * The result is either the outcome itself or a native Promise of it, never any other thenable:
   * a thenable that `key`, `user`, `rules`, `skip` or `message` returns (Bluebird, a query builder)
   * is adopted here, so an adapter's one `instanceof Promise` test is enough. `undefined` means the
   * request is not counted (skipped, allow-listed, or already counted by this limiter). The promise
   * rejects when one of those functions throws or rejects, or the store fails in a way the
   * `onStoreError` policy did not handle.
   */
  handle(req: Req, raw: IncomingMessage, res: ServerResponse): Step<HttpOutcome | undefined> {
    try {
      const carrier = raw as IncomingMessage & { [MARK]?: RequestMark };
      let mark = carrier[MARK];
      if (mark === undefined) {
        mark = { first: this as HttpLimiter<never>, others: undefined, policy: undefined, rate: undefined };
        carrier[MARK] = mark;
      } else if (mark.first === this || mark.others?.includes(this as HttpLimiter<never>)) return undefined;
      else if (mark.others === undefined) mark.others = [this as HttpLimiter<never>];
      else mark.others.push(this as HttpLimiter<never>);

      if (this.#checkProxy) this.#warnProxy(req, raw);
      if (this.#skip !== undefined) {
        const skipped = this.#skip(req);
        if (isThenable(skipped)) {
          const m = mark;
          return after(skipped, (s) => (s === true ? undefined : this.#identify(req, res, m)));
        }
        if (skipped === true) return undefined;
      }
      return this.#identify(req, res, mark);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #identify(req: Req, res: ServerResponse, mark: RequestMark): Step<HttpOutcome | undefined> {
    let ip = '';
    if (this.#needsIp) {
      const rawIp = this.#adapter.ip(req);
      if (this.#allowIp?.(rawIp)) return undefined;
      ip = normalizeIp(rawIp, this.#ipv6Subnet);
    }
    if (this.#allowFn?.(req)) return undefined;
    const route = this.#needsRoute ? this.#adapter.route(req) : undefined;
    // The user id is read here, like the address and the route, so that a thenable is awaited in this one place.
    const user = this.#user?.(req);
    if (isThenable(user)) return after(user, (u) => this.#keyFor(req, res, mark, ip, route, u));
    return this.#keyFor(req, res, mark, ip, route, user);
  }

  #keyFor(req: Req, res: ServerResponse, mark: RequestMark, ip: string, route: string | undefined, user: unknown): Step<HttpOutcome> {
    const key = this.#key(req, ip, route, user);
    if (isThenable(key)) return after(key, (k) => this.#rulesFor(req, res, mark, k));
    return this.#rulesFor(req, res, mark, key);
  }

  #rulesFor(req: Req, res: ServerResponse, mark: RequestMark, key: unknown): Step<HttpOutcome> {
    if (typeof key !== 'string') throw new ConfigError('key', 'a function returning a string', key);
    const entry = this.#static;
    if (entry !== undefined) return this.#consume(req, res, mark, key, entry);
    const rules = (this.#rulesFn as (req: Req) => readonly Rule[] | PromiseLike<readonly Rule[]>)(req);
    if (isThenable(rules)) return after(rules, (r) => this.#consume(req, res, mark, key, this.#entryFor(r)));
    return this.#consume(req, res, mark, key, this.#entryFor(rules));
  }

  #consume(req: Req, res: ServerResponse, mark: RequestMark, key: string, entry: Entry): Step<HttpOutcome> {
    // Every limiter here comes from createLimiter, which can decide without a promise.
    const decision = (entry.limiter as Limiter & DecidesNow)[CONSUME_NOW](key, 1);
    if (isThenable(decision)) return after(decision, (d) => this.#respond(req, res, mark, key, entry, d));
    return this.#respond(req, res, mark, key, entry, decision);
  }

  #respond(req: Req, res: ServerResponse, mark: RequestMark, key: string, entry: Entry, decision: Decision): Step<HttpOutcome> {
    const allowed = decision.allowed;
    const blocked = !allowed && !this.#dryRun;
    let headers: Record<string, string> | undefined;
    if (this.#plan !== undefined) {
      headers = {};
      writeHeaders(headers, decision, this.#plan, entry.policy, entry.ruleCount, blocked);
      if (this.#plan.draft8) {
        // Several limiters on one request: one list naming every policy.
        const policy = headers['RateLimit-Policy'] as string;
        const rate = headers.RateLimit as string;
        if (mark.policy !== undefined) headers['RateLimit-Policy'] = `${mark.policy}, ${policy}`;
        if (mark.rate !== undefined) headers.RateLimit = `${mark.rate}, ${rate}`;
        mark.policy = headers['RateLimit-Policy'];
        mark.rate = headers.RateLimit;
      }
    }

    if (allowed) {
      // A failed store consumed nothing, so there is nothing to give back.
      if (decision.error === undefined) this.#refundOnRejected(res, entry.limiter, key, decision.at);
      return { decision, headers, blocked: false, statusCode: this.#statusCode, body: undefined };
    }
    this.#onLimited?.(req, decision);
    if (!blocked) return { decision, headers, blocked: false, statusCode: this.#statusCode, body: undefined };
    const message = this.#message;
    if (typeof message !== 'function') return { decision, headers, blocked: true, statusCode: this.#statusCode, body: message };
    const value = message(req, decision);
    if (isThenable(value))
      return after(value, (v) => ({ decision, headers, blocked: true, statusCode: this.#statusCode, body: serializeBody(v) }));
    return { decision, headers, blocked: true, statusCode: this.#statusCode, body: serializeBody(value) };
  }

  /**
   * Refunds the request once its response turns out not to count. `close` fires exactly once per
   * response, after `finish` or when the client aborts, so the refund happens at most once.
   */
  #refundOnRejected(res: ServerResponse, limiter: Limiter, key: string, at: number): void {
    const count = this.#count;
    // `on` plus a flag, not `once` (which allocates a wrapper per request): refunded at most once
    // even if a response emitted 'close' twice.
    let settled = false;
    res.on('close', () => {
      if (settled) return;
      settled = true;
      const status = res.statusCode;
      let counts: boolean;
      try {
        counts = count === undefined ? status < 500 : count(status);
      } catch {
        // The response is already sent; a throwing predicate must not crash the process. Keep the charge.
        counts = true;
      }
      if (counts) return;
      // The decision's time picks the window that was charged: an expired window is never credited.
      void limiter.refund(key, 1, { at });
    });
  }
}

/**
 * Creates the HTTP pipeline for an adapter. Adapters call this once per middleware.
 * @example
 * const limiter = createHttpLimiter({ limit: 100, window: '15m' }, { ip: (r) => r.ip, route: () => undefined, trustsProxy: () => false });
 */
export function createHttpLimiter<Req>(
  options: RateLimitOptions<Req>,
  adapter: HttpAdapter<Req>,
  extraKeys?: ReadonlySet<string>,
): HttpLimiter<Req> {
  return new HttpLimiter(options, adapter, extraKeys);
}
