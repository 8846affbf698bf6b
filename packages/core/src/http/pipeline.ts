import { monotonicNow } from '../clock';
import type { Decision } from '../decision';
import { ConfigError } from '../errors/config-error';
import { createDecider, type Decider, type Limiter, type LimiterOptions, type LimiterStoreOptions, resolveStoreSettings } from '../limiter';
import type { Rule } from '../rules';
import { isPromise } from '../store-guard';
import { MemoryStore } from '../stores/memory';
import { emitWarning } from '../warn';
import { type BodyFactory, compileMessage, type LimitedBody, resolveStatusCode, serializeBody } from './body';
import { RequestSlots, type SlotAnswer } from './concurrency';
import { type HeaderPlan, type PolicyText, policyText, resolveHeaderFormats, retryAfterSeconds, writeHeaders } from './headers';
import { compileAllowList, normalizeIp, resolveIpv6Subnet } from './ip';
import { compileKey, type KeyBuilder, keyNeedsIp, keyNeedsRoute, keyNeedsUser } from './keys';
import {
  checkOptionNames,
  type LooseRateLimitOptions,
  optionalFunction,
  type RateLimitLogger,
  RULE_FIELDS,
  STORE_OPTIONS,
} from './options';
import { BoundDecision, type RequestDecision } from './request-decision';
import { markRequest, type RequestMark, stackHeaders } from './stacking';

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
  /** A request header (lower-case name), or undefined. Only read until the first proxy header is seen. */
  header(req: Req, name: string): string | undefined;
}

/** What the adapter does with a counted request. */
export interface HttpOutcome {
  /** The limiter's decision, with the key and this request's `refund`/`reset` (exposed as `req.rateLimit` and friends). */
  readonly decision: RequestDecision;
  /** Headers to set (names in registered case), or `undefined` with `headers: false`. */
  readonly headers: Record<string, string> | undefined;
  /** Names an earlier limiter of this request set that this outcome's response must not carry. */
  readonly clear: readonly string[] | undefined;
  /**
   * Call with the response's status once it is sent (or the client aborted, or the handler
   * failed): frees the request's `concurrency` slot, and refunds the request when `countResponse`
   * says it does not count. Acts once, however often it is called. Undefined when there is nothing
   * to release or refund.
   */
  readonly finish: ((statusCode: number) => void) | undefined;
  /** True when the adapter must answer with `statusCode` and `body` instead of continuing. */
  readonly blocked: boolean;
  /** Status of the limited response. */
  readonly statusCode: number;
  /** Body of the limited response; set when `blocked`. */
  readonly body: LimitedBody | undefined;
}

/** One limiter per distinct rule set, with its header text built once. */
interface Entry {
  readonly limiter: Limiter & Decider;
  readonly policy: PolicyText;
  readonly ruleCount: number;
}

/** A value now, or later. */
export type Step<T> = T | Promise<T>;

/**
 * Limiters kept for a `rules` function's distinct rule sets (per-customer negotiated limits): the
 * least recently used is dropped beyond this, so a runaway function cannot leak limiters, and any
 * number of rule sets works (state lives in the store, not in the limiter).
 */
const MAX_RULE_SETS = 1000;

const defaultLogger: RateLimitLogger = {
  warn: (message) => emitWarning(message, 'RATEKEEPER_TRUST_PROXY'),
};

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
  readonly #limiterOptions: LimiterStoreOptions;
  readonly #static: Entry | undefined;
  readonly #rulesFn: ((req: Req) => readonly Rule[] | PromiseLike<readonly Rule[]>) | undefined;
  readonly #byArray = new WeakMap<readonly Rule[], Entry>();
  /** Insertion order is recency: a hit moves its entry to the end, the first entry is the least recent. */
  readonly #bySignature = new Map<string, Entry>();
  readonly #cost: number | ((req: Req) => number | PromiseLike<number>);
  readonly #key: KeyBuilder<Req>;
  /** The `user` option when the key uses it, else undefined (not called). */
  readonly #user: ((req: Req) => unknown) | undefined;
  readonly #needsIp: boolean;
  readonly #needsRoute: boolean;
  readonly #ipv6Subnet: number | false;
  readonly #skip: ((req: Req) => boolean | PromiseLike<boolean>) | undefined;
  readonly #allowIp: ((ip: string | undefined) => boolean) | undefined;
  readonly #allowFn: ((req: Req) => boolean) | undefined;
  readonly #count: ((status: number, req: Req) => boolean) | undefined;
  readonly #plan: HeaderPlan | undefined;
  readonly #statusCode: number;
  readonly #message: BodyFactory<Req>;
  readonly #onLimited: ((req: Req, decision: Decision) => void) | undefined;
  readonly #dryRun: boolean;
  readonly #logger: RateLimitLogger;
  /** The `concurrency` option's slots; undefined without it. */
  readonly #slots: RequestSlots | undefined;
  /** `concurrency` without rate rules: no rate limiter, no cost, no rate headers. */
  readonly #alone: boolean;
  #checkProxy = true;

  /** `extraKeys`: adapter-specific option names the adapter has already taken out. */
  constructor(options: LooseRateLimitOptions<Req>, adapter: HttpAdapter<Req>, extraKeys?: ReadonlySet<string>) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    checkOptionNames(options, extraKeys);
    const o = options as Record<string, unknown>;
    this.#adapter = adapter;
    const store = options.store ?? new MemoryStore();
    const base: Record<string, unknown> = { store };
    for (const k of STORE_OPTIONS) if (o[k] !== undefined && k !== 'store') base[k] = o[k];
    this.#limiterOptions = base as LimiterStoreOptions;

    const rules = options.rules;
    // `concurrency` alone: no rule field given at all (a lone `limit` still fails as before).
    this.#alone = o.concurrency !== undefined && rules === undefined && RULE_FIELDS.every((f) => o[f] === undefined);
    if (typeof rules === 'function') {
      const stray = RULE_FIELDS.find((f) => f !== 'name' && o[f] !== undefined);
      if (stray) throw new ConfigError(stray, 'undefined when `rules` is given (put it in a rule)', o[stray]);
      // Every limiter made for a rule set the function returns carries the middleware's name.
      if (o.name !== undefined) base.name = o.name;
      this.#rulesFn = rules;
      // Validated now, once, rather than at the first request (no limiter exists yet).
      resolveStoreSettings(base as LimiterStoreOptions);
    } else if (!this.#alone) {
      const shape: Record<string, unknown> = { ...base };
      if (rules !== undefined) shape.rules = rules;
      for (const f of RULE_FIELDS) if (o[f] !== undefined) shape[f] = o[f];
      this.#static = this.#entry(createDecider(shape as LimiterOptions));
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
    this.#cost = resolveCostOption(o.cost);
    this.#plan = resolveHeaderFormats(options.headers);
    this.#statusCode = resolveStatusCode(options.statusCode);
    this.#message = compileMessage<Req>(options.message);
    this.#onLimited = optionalFunction(o, 'onLimited');
    if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') throw new ConfigError('dryRun', 'a boolean', options.dryRun);
    this.#dryRun = options.dryRun ?? false;
    // Validated with the store options (the limiter gets the same logger for store outages).
    this.#logger = options.logger ?? defaultLogger;
    this.#slots = o.concurrency === undefined ? undefined : this.#slotsFor(o.concurrency, base);
  }

  /** The `concurrency` slots on the limiter's store, under a prefix of their own. */
  #slotsFor(value: unknown, base: Record<string, unknown>): RequestSlots {
    // `adaptive` scales rate rules (validated by their limiter); it has nothing to do with slots.
    const { adaptive: _adaptive, ...storeOptions } = base;
    // Alone, this is where the store options are validated.
    const { store, prefix, policy, timeoutMs, retryMs, logger } = resolveStoreSettings(storeOptions as LimiterStoreOptions);
    const o = storeOptions as LimiterStoreOptions;
    return new RequestSlots(
      value,
      {
        store,
        prefix,
        policy,
        timeoutMs,
        retryMs,
        logger,
        now: o.now ?? monotonicNow,
        onError: o.onError,
        // With rate rules on the same store, their limiter reports recoveries.
        onRecover: this.#alone ? o.onRecover : undefined,
      },
      this.#statusCode,
    );
  }

  /** The limiter of fixed rules; `undefined` when `rules` is a function, or with `concurrency` alone. */
  get limiter(): Limiter | undefined {
    return this.#static?.limiter;
  }

  #entry(limiter: Limiter & Decider): Entry {
    return { limiter, policy: policyText(limiter.rules), ruleCount: limiter.rules.length };
  }

  /** One limiter per distinct rule set: by array identity first, then by content for fresh arrays (an LRU). */
  #entryFor(rules: readonly Rule[]): Entry {
    let entry = this.#byArray.get(rules);
    if (entry !== undefined) return entry;
    if (!Array.isArray(rules)) throw new ConfigError('rules', 'a function returning an array of rules', rules);
    const signature = JSON.stringify(rules);
    const cache = this.#bySignature;
    entry = cache.get(signature);
    if (entry === undefined) {
      entry = this.#entry(createDecider({ ...this.#limiterOptions, rules }));
      if (cache.size >= MAX_RULE_SETS) cache.delete(cache.keys().next().value as string);
    } else cache.delete(signature);
    cache.set(signature, entry);
    this.#byArray.set(rules, entry);
    return entry;
  }

  /** Number of rule-set limiters cached (bounded). @internal */
  get ruleSets(): number {
    return this.#bySignature.size;
  }

  #warnProxy(req: Req): void {
    const adapter = this.#adapter;
    // RFC 7239 `Forwarded` as well as the de-facto `X-Forwarded-For`.
    if (adapter.header(req, 'x-forwarded-for') === undefined && adapter.header(req, 'forwarded') === undefined) return;
    // Either way the answer will not change for this app: stop looking at the header.
    this.#checkProxy = false;
    if (!this.#adapter.trustsProxy(req))
      this.#logger.warn(
        'ratekeeper: a request carries X-Forwarded-For or Forwarded but the framework does not trust proxies, so every client ' +
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
  handle(req: Req, carrier: object): Step<HttpOutcome | undefined> {
    try {
      const mark = markRequest(carrier, this);
      if (mark === undefined) return undefined;
      if (this.#checkProxy) this.#warnProxy(req);
      if (this.#skip !== undefined) {
        const skipped = this.#skip(req);
        if (isThenable(skipped)) return after(skipped, (s) => (s === true ? undefined : this.#identify(req, mark)));
        if (skipped === true) return undefined;
      }
      return this.#identify(req, mark);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #identify(req: Req, mark: RequestMark): Step<HttpOutcome | undefined> {
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
    if (isThenable(user)) return after(user, (u) => this.#keyFor(req, mark, ip, route, u));
    return this.#keyFor(req, mark, ip, route, user);
  }

  #keyFor(req: Req, mark: RequestMark, ip: string, route: string | undefined, user: unknown): Step<HttpOutcome> {
    const key = this.#key(req, ip, route, user);
    if (isThenable(key)) return after(key, (k) => this.#costFor(req, mark, k));
    return this.#costFor(req, mark, key);
  }

  #costFor(req: Req, mark: RequestMark, key: unknown): Step<HttpOutcome> {
    if (typeof key !== 'string') throw new ConfigError('key', 'a function returning a string', key);
    if (this.#alone) return this.#slotFor(req, mark, key, undefined, undefined);
    const cost = this.#cost;
    if (typeof cost === 'number') return this.#rulesFor(req, mark, key, cost);
    const c = cost(req);
    if (isThenable(c)) return after(c, (v) => this.#rulesFor(req, mark, key, checkCost(v)));
    return this.#rulesFor(req, mark, key, checkCost(c));
  }

  #rulesFor(req: Req, mark: RequestMark, key: string, cost: number): Step<HttpOutcome> {
    const entry = this.#static;
    if (entry !== undefined) return this.#consume(req, mark, key, cost, entry);
    const rules = (this.#rulesFn as (req: Req) => readonly Rule[] | PromiseLike<readonly Rule[]>)(req);
    if (isThenable(rules)) return after(rules, (r) => this.#consume(req, mark, key, cost, this.#entryFor(r)));
    return this.#consume(req, mark, key, cost, this.#entryFor(rules));
  }

  #consume(req: Req, mark: RequestMark, key: string, cost: number, entry: Entry): Step<HttpOutcome> {
    const decision = entry.limiter.decide(key, cost);
    if (isThenable(decision)) return after(decision, (d) => this.#respond(req, mark, key, cost, entry, d));
    return this.#respond(req, mark, key, cost, entry, decision);
  }

  #respond(req: Req, mark: RequestMark, key: string, cost: number, entry: Entry, raw: Decision): Step<HttpOutcome> {
    const decision = new BoundDecision(raw, key, cost, entry.limiter);
    if (!decision.allowed) {
      // Called before a slot is taken: a throwing hook must not leave a slot that nothing releases.
      this.#onLimited?.(req, decision);
      // Over a rate limit: refused without asking for a slot.
      if (!this.#dryRun) return this.#refuse(req, mark, decision, entry, decision, this.#statusCode);
    }
    if (this.#slots === undefined) return this.#pass(req, mark, decision, entry, undefined);
    return this.#slotFor(req, mark, key, decision, entry);
  }

  /** Takes the request's `concurrency` slot (after its rate decision, when there are rate rules). */
  #slotFor(req: Req, mark: RequestMark, key: string, rate: BoundDecision | undefined, entry: Entry | undefined): Step<HttpOutcome> {
    const taken = (this.#slots as RequestSlots).take(key);
    if (isPromise(taken)) return after(taken, (slot) => this.#withSlot(req, mark, key, rate, entry, slot));
    return this.#withSlot(req, mark, key, rate, entry, taken);
  }

  #withSlot(
    req: Req,
    mark: RequestMark,
    key: string,
    rate: BoundDecision | undefined,
    entry: Entry | undefined,
    slot: SlotAnswer,
  ): Step<HttpOutcome> {
    // Alone, the request's decision is the concurrency limit's (`remaining`: free slots); refund
    // and reset have no rate limiter to act on.
    if (slot.allowed) return this.#pass(req, mark, rate ?? new BoundDecision(slot.decision, key, 1, undefined), entry, slot.release);
    const refusal = new BoundDecision(slot.decision, key, rate?.cost ?? 1, undefined);
    const blocked = !this.#dryRun;
    // Not served, so not charged: the rate units go back (a failed store charged none).
    if (blocked && rate?.allowed && rate.error === undefined) void rate.refund();
    this.#onLimited?.(req, refusal);
    if (!blocked) return this.#pass(req, mark, rate ?? refusal, entry, undefined);
    return this.#refuse(req, mark, refusal, entry, rate, (this.#slots as RequestSlots).statusCode);
  }

  /** A request that goes on (allowed, or over a limit in `dryRun`). */
  #pass(req: Req, mark: RequestMark, decision: BoundDecision, entry: Entry | undefined, release: (() => void) | undefined): HttpOutcome {
    let headers: Record<string, string> | undefined;
    let clear: readonly string[] | undefined;
    const plan = this.#plan;
    // Rate headers describe rate rules: `concurrency` alone sends none on a request that goes on.
    if (plan !== undefined && entry !== undefined) {
      headers = {};
      writeHeaders(headers, decision, plan, policyOf(entry, decision), entry.ruleCount, false);
      clear = stackHeaders(mark, headers, decision, plan, false);
    }
    // A failed store consumed nothing, and a denied request (dry run) took nothing: nothing to give back.
    const charged = entry !== undefined && decision.allowed && decision.error === undefined;
    const finish = this.#finisher(req, charged ? decision : undefined, release);
    return { decision, headers, clear, finish, blocked: false, statusCode: this.#statusCode, body: undefined };
  }

  /**
   * A refused request: over a rate rule (`decision` is `rate`), or over `concurrency` (then the
   * rate headers stay as they were, and `Retry-After` is the concurrency limit's).
   */
  #refuse(
    req: Req,
    mark: RequestMark,
    decision: BoundDecision,
    entry: Entry | undefined,
    rate: BoundDecision | undefined,
    statusCode: number,
  ): Step<HttpOutcome> {
    let headers: Record<string, string> | undefined;
    let clear: readonly string[] | undefined;
    const plan = this.#plan;
    if (plan !== undefined) {
      headers = {};
      if (entry !== undefined && rate !== undefined) writeHeaders(headers, rate, plan, policyOf(entry, rate), entry.ruleCount, true);
      if (rate !== decision) {
        const retry = retryAfterSeconds(decision);
        if (retry !== undefined) headers['Retry-After'] = `${retry}`;
      }
      clear = stackHeaders(mark, headers, decision, plan, true);
    }
    const message = this.#message;
    if (typeof message !== 'function') return { decision, headers, clear, finish: undefined, blocked: true, statusCode, body: message };
    const value = message(req, decision);
    if (isThenable(value))
      return after(value, (v) => ({ decision, headers, clear, finish: undefined, blocked: true, statusCode, body: serializeBody(v) }));
    return { decision, headers, clear, finish: undefined, blocked: true, statusCode, body: serializeBody(value) };
  }

  /**
   * What the response's close does: frees the slot, and refunds a `charged` request whose response
   * turns out not to count (default: a 5xx). Acts at most once, whatever the adapter calls.
   */
  #finisher(req: Req, charged: BoundDecision | undefined, release: (() => void) | undefined): ((statusCode: number) => void) | undefined {
    if (charged === undefined && release === undefined) return undefined;
    const count = this.#count;
    let settled = false;
    return (status) => {
      if (settled) return;
      settled = true;
      release?.();
      if (charged === undefined) return;
      let counts: boolean;
      try {
        counts = count === undefined ? status < 500 : count(status, req);
      } catch {
        // The response is already sent; a throwing predicate must not crash the process. Keep the charge.
        counts = true;
      }
      // The decision's time picks the window that was charged: an expired window is never credited.
      if (!counts) void charged.refund();
    };
  }
}

/** Policy text of the scaled rule sets an adaptive limiter decides with, one per level (first rule as key). */
const scaledPolicies = new WeakMap<object, PolicyText>();

/**
 * The policy the decision was made under: the limiter's, or (an adaptive limiter at a reduced
 * level) that of the scaled rules, so `RateLimit-Policy` announces the quota actually enforced.
 */
function policyOf(entry: Entry, decision: Decision): PolicyText {
  const first = decision.rules[0]?.rule;
  if (first === undefined || first === entry.limiter.rules[0]) return entry.policy;
  let policy = scaledPolicies.get(first);
  if (policy === undefined) {
    policy = policyText(decision.rules.map((v) => v.rule));
    scaledPolicies.set(first, policy);
  }
  return policy;
}

/** Validates the `cost` option: a positive integer, or a function returning one. */
function resolveCostOption<Req>(value: unknown): number | ((req: Req) => number | PromiseLike<number>) {
  if (value === undefined) return 1;
  if (typeof value === 'function') return value as (req: Req) => number | PromiseLike<number>;
  return checkCost(value, 'cost');
}

/** A per-request cost must be a positive integer: a bad one fails the request (an error), never an uncounted pass. */
function checkCost(value: unknown, option = 'cost (returned by the cost function)'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new ConfigError(option, 'a positive integer', value);
  return value;
}

/**
 * Creates the HTTP pipeline for an adapter. Adapters call this once per middleware.
 * @example
 * import type { IncomingMessage } from 'node:http';
 * const limiter = createHttpLimiter<IncomingMessage>(
 *   { limit: 100, window: '15m' },
 *   { ip: (r) => r.socket.remoteAddress, route: () => undefined, trustsProxy: () => false, header: nodeHeader },
 * );
 */
export function createHttpLimiter<Req>(
  options: LooseRateLimitOptions<Req>,
  adapter: HttpAdapter<Req>,
  extraKeys?: ReadonlySet<string>,
): HttpLimiter<Req> {
  return new HttpLimiter(options, adapter, extraKeys);
}
