import { type Acquired, type AcquireOptions, acquire } from './acquire/acquire';
import { type AdaptiveLoad, loadOf, type SharedLoad } from './adaptive/adaptive-load';
import { followLoad } from './adaptive/levels';
import type { AdaptiveOptions } from './adaptive/options';
import { monotonicNow } from './clock';
import type { Decision } from './decision';
import { ConfigError, rejectUnknownOptions } from './errors/config-error';
import type { StoreError } from './errors/store-error';
import { isLogger, type RateLimitLogger } from './logger';
import { trackLimiter } from './registry';
import { capacityOf, type ResolvedRule, RULE_FIELDS, type RuleOptions, resolveRule, resolveRules } from './rules';
import { storageKey } from './storage-key';
import { type GuardOptions, isPromise, StoreGuard } from './store-guard';
import { MemoryStore } from './stores/memory';
import type { Store } from './stores/types';

/** What to do when the store fails or exceeds `timeoutMs`. */
export type StoreErrorPolicy = 'allow' | 'deny' | Store;

/** Options of {@link createLimiter}: either `rules`, or the fields of one rule (never both). */
export type LimiterOptions = RuleOptions & LimiterStoreOptions;

/** The store and failure options of {@link createLimiter}, shared by the HTTP adapters. */
export interface LimiterStoreOptions {
  /** Where state lives. @default a new MemoryStore() */
  store?: Store;
  /** Prepended to every storage key. @default 'rk:' */
  prefix?: string;
  /** `'allow'` (fail open), `'deny'` (fail closed) or a store to use until the primary answers. @default 'allow' */
  onStoreError?: StoreErrorPolicy;
  /** A store call slower than this counts as failed. @default 250 */
  timeoutMs?: number;
  /**
   * After a store call failed, how long until one call may probe the store again (a store whose
   * connection reports ready again, or that answers a late reply, is used at once). @default 1000
   */
  retryStoreAfterMs?: number;
  /** Current time in epoch ms. @default monotonic: performance.timeOrigin + performance.now() */
  now?: () => number;
  /** Called with every store failure. @default a process warning once per outage */
  onError?: (error: StoreError) => void;
  /** Called when the store answers again after a failure. */
  onRecover?: () => void;
  /**
   * Receives the warning of each store outage when there is no `onError` (and, in the HTTP
   * adapters, the other one-time warnings). Fastify and NestJS default to the app's logger.
   * @default process warnings
   */
  logger?: RateLimitLogger | undefined;
  /**
   * Multiply every rule's limit (and burst) by a factor in [min, 1] that follows a load signal of
   * this process: event-loop delay or utilisation, heap, RSS, CPU, or your own function. Options, or
   * an `adaptiveLoad()` shared by several limiters. On Redis each process applies its own factor.
   * See docs/adaptive.md. @default no adaptation
   */
  adaptive?: AdaptiveOptions | AdaptiveLoad | undefined;
}

/** Per-call options of {@link Limiter.consume}. */
export interface ConsumeOptions {
  /** Units this request uses. @default 1 */
  cost?: number;
}

/** Options of {@link Limiter.refund}. */
export interface RefundOptions {
  /** The `at` of the decision that charged the units: only that window gets them back. @default now */
  at?: number;
}

/** A set of rules over a store. Create with {@link createLimiter}. */
export interface Limiter {
  /**
   * The limiter's `name` ('' when none was given): the `limiter` of its diagnostics-channel events.
   * Optional only so that existing implementations of this interface (test doubles) still compile.
   */
  readonly name?: string;
  /** The validated rules. */
  readonly rules: readonly ResolvedRule[];
  /** The clock this limiter uses (epoch ms). */
  readonly now: () => number;
  /** Decides and, when allowed, consumes `cost` from every rule. Denied requests consume nothing. */
  consume(key: string, options?: ConsumeOptions): Promise<Decision>;
  /**
   * `consume` without a promise, for synchronous stores (the `MemoryStore`, and an `onStoreError`
   * that is a policy or a `MemoryStore`): queues, game loops and stream processors get a decision in
   * the same tick. Throws `ConfigError` on a store that answers asynchronously (Redis).
   * @example
   * const d = limiter.consumeSync(userId);
   * if (!d.allowed) dropEvent();
   */
  consumeSync(key: string, options?: ConsumeOptions): Decision;
  /** Decides a request of cost 1 without consuming; `remaining` is what is left now. */
  peek(key: string): Promise<Decision>;
  /** Gives back units (e.g. after a failed request); never below empty. */
  refund(key: string, cost?: number, options?: RefundOptions): Promise<void>;
  /** Forgets `key`, or every key of this limiter. */
  reset(key?: string): Promise<void>;
  /**
   * Waits until the request may go, then consumes. Waiters on one key are served first in, first
   * out; rejects at once with `RateLimitError` when the wait would exceed `maxWaitMs`.
   */
  acquire(key: string, options?: AcquireOptions): Promise<Acquired>;
}

const OPTION_KEYS = new Set([
  'rules',
  'limit',
  'window',
  'algorithm',
  'burst',
  'blockFor',
  'name',
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
]);

/**
 * Creates a limiter.
 * @example
 * const limiter = createLimiter({ limit: 100, window: '15m' });
 * const decision = await limiter.consume(ip);
 * if (!decision.allowed) console.log(`retry in ${decision.retryAfterMs} ms`);
 */
export function createLimiter(options: LimiterOptions): Limiter {
  return new RateLimiter(options);
}

/**
 * The limiter with its synchronous-when-possible decision, for the HTTP pipeline, which answers a
 * request in the same tick when the store is synchronous. @internal
 */
export function createDecider(options: LimiterOptions): Limiter & Decider {
  return new RateLimiter(options);
}

/** @internal */
export interface Decider {
  /** `consume` answering with a plain decision when the store is synchronous; rejects (never throws) on bad arguments. */
  decide(key: string, cost: number): Decision | Promise<Decision>;
}

/** The store and failure options, validated (everything but the rules). */
interface StoreSettings {
  readonly store: Store;
  readonly prefix: string;
  readonly policy: StoreErrorPolicy;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly logger: RateLimitLogger | undefined;
  readonly adaptive: SharedLoad | undefined;
}

/**
 * Validates the store and failure options of a limiter (a {@link ConfigError} names the first bad
 * one). The HTTP pipeline calls it once when `rules` is a function, before any limiter exists.
 * @internal
 */
export function resolveStoreSettings(options: Omit<LimiterOptions, 'rules'>): StoreSettings {
  const o = options as Record<string, unknown>;
  const store = options.store ?? new MemoryStore();
  if (!isStore(store)) throw new ConfigError('store', 'a store (MemoryStore or RedisStore)', store);
  const prefix = options.prefix ?? 'rk:';
  if (typeof prefix !== 'string') throw new ConfigError('prefix', 'a string', prefix);
  const policy = options.onStoreError ?? 'allow';
  if (policy !== 'allow' && policy !== 'deny' && !isStore(policy))
    throw new ConfigError('onStoreError', "'allow', 'deny' or a store", policy);
  const timeoutMs = options.timeoutMs ?? 250;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new ConfigError('timeoutMs', 'a positive number of milliseconds', timeoutMs);
  const retryMs = options.retryStoreAfterMs ?? 1000;
  if (!Number.isFinite(retryMs) || retryMs < 0)
    throw new ConfigError('retryStoreAfterMs', 'a non-negative number of milliseconds', retryMs);
  for (const f of ['now', 'onError', 'onRecover'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'function') throw new ConfigError(f, 'a function', o[f]);
  }
  const logger = options.logger;
  if (logger !== undefined && !isLogger(logger)) throw new ConfigError('logger', 'an object with a warn(message) method', logger);
  const adaptive = options.adaptive === undefined ? undefined : loadOf(options.adaptive);
  return { store, prefix, policy, timeoutMs, retryMs, logger, adaptive };
}

function isSynchronous(store: unknown): boolean {
  return typeof store === 'object' && store !== null && (store as { synchronous?: unknown }).synchronous === true;
}

function isStore(value: unknown): value is Store {
  return typeof value === 'object' && value !== null && typeof (value as Store).bind === 'function';
}

class RateLimiter implements Limiter, Decider {
  readonly name: string;
  readonly rules: readonly ResolvedRule[];
  readonly now: () => number;
  readonly #guard: StoreGuard;
  readonly #maxCost: number;
  readonly #sync: boolean;
  readonly #storeName: string;

  constructor(options: LimiterOptions) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    rejectUnknownOptions(options, OPTION_KEYS);
    const o = options as Record<string, unknown>;
    if (o.name !== undefined && typeof o.name !== 'string') throw new ConfigError('name', 'a string', o.name);
    this.name = (o.name as string | undefined) ?? '';
    if (options.rules !== undefined) {
      // `name` beside `rules` names the limiter (with one rule's fields, it names that rule too).
      const stray = RULE_FIELDS.find((f) => f !== 'name' && o[f] !== undefined);
      if (stray) throw new ConfigError(stray, 'undefined when `rules` is given (put it in a rule)', o[stray]);
      this.rules = Object.freeze(resolveRules(options.rules));
    } else {
      const rule: Record<string, unknown> = {};
      for (const f of RULE_FIELDS) if (o[f] !== undefined) rule[f] = o[f];
      if (rule.limit === undefined && rule.window === undefined)
        throw new ConfigError('rules', 'given, or `limit` and `window`', undefined);
      this.rules = Object.freeze([resolveRule(rule, '')]);
    }
    const { store, prefix, policy, timeoutMs, retryMs, logger, adaptive } = resolveStoreSettings(options);
    trackLimiter(this);
    this.now = options.now ?? monotonicNow;
    // The guard is created below; reports from a store reach it through this closure.
    const bindOptions = { timeoutMs, report: (error: StoreError) => void this.#guard.report(error) };
    const guard: GuardOptions = {
      name: this.name,
      rules: this.rules,
      policy: isStore(policy) ? 'fallback' : policy,
      fallback: isStore(policy) ? policy.bind(this.rules, prefix, bindOptions) : undefined,
      timeoutMs,
      retryMs,
      onError: options.onError,
      onRecover: options.onRecover,
      logger,
    };
    const bound = store.bind(this.rules, prefix, bindOptions);
    if (adaptive === undefined) this.#guard = new StoreGuard(bound, store.health, guard);
    else {
      const insurance = isStore(policy) ? policy : undefined;
      const leveled = followLoad(adaptive, this, guard, bound, {
        store: (rules) => store.bind(rules, prefix, bindOptions),
        fallback: insurance && ((rules) => insurance.bind(rules, prefix, bindOptions)),
      });
      this.#guard = new StoreGuard(leveled.bound, store.health, leveled.guard);
    }
    this.#maxCost = Math.min(...this.rules.map(capacityOf));
    this.#sync = isSynchronous(store) && (!isStore(policy) || isSynchronous(policy));
    this.#storeName = isSynchronous(store) ? 'an asynchronous onStoreError store' : `a ${store.constructor.name}`;
  }

  consume(key: string, options?: ConsumeOptions): Promise<Decision> {
    const cost = options?.cost ?? 1;
    if (!Number.isSafeInteger(cost) || cost < 1) return Promise.reject(new ConfigError('cost', 'a positive integer', cost));
    if (typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    const decision = this.#run('consume', key, cost);
    return isPromise(decision) ? decision : Promise.resolve(decision);
  }

  peek(key: string): Promise<Decision> {
    if (typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    const decision = this.#run('peek', key, 1);
    return isPromise(decision) ? decision : Promise.resolve(decision);
  }

  /** @internal The smallest capacity among the rules: the largest cost that can ever pass. */
  get maxCost(): number {
    return this.#maxCost;
  }

  #run(op: 'consume' | 'peek', key: string, cost: number): Decision | Promise<Decision> {
    return this.#guard.run(op, storageKey(key), cost, Math.floor(this.now()));
  }

  consumeSync(key: string, options?: ConsumeOptions): Decision {
    if (!this.#sync)
      throw new ConfigError('store', 'a synchronous store (MemoryStore) for consumeSync; use consume() with this store', this.#storeName);
    const cost = options?.cost ?? 1;
    if (!Number.isSafeInteger(cost) || cost < 1) throw new ConfigError('cost', 'a positive integer', cost);
    if (typeof key !== 'string') throw new ConfigError('key', 'a string', key);
    return this.#run('consume', key, cost) as Decision;
  }

  decide(key: string, cost: number): Decision | Promise<Decision> {
    return this.#run('consume', key, cost);
  }

  refund(key: string, cost = 1, options?: RefundOptions): Promise<void> {
    if (!Number.isSafeInteger(cost) || cost < 1) return Promise.reject(new ConfigError('cost', 'a positive integer', cost));
    if (typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    const now = Math.floor(this.now());
    return this.#guard.refund(storageKey(key), cost, now, options?.at ?? now);
  }

  reset(key?: string): Promise<void> {
    if (key !== undefined && typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    return this.#guard.reset(key === undefined ? undefined : storageKey(key));
  }

  acquire(key: string, options?: AcquireOptions): Promise<Acquired> {
    return acquire(this, key, options);
  }
}
