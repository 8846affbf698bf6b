import { newHolderId } from '../concurrency/holder-id';
import { type Decision, decide, policyDecision } from '../decision';
import { type Duration, parseDuration } from '../duration';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import { isStoreError, StoreError } from '../errors/store-error';
import type { StoreErrorPolicy } from '../limiter';
import type { RateLimitLogger } from '../logger';
import type { ResolvedRule } from '../rules';
import { isPromise } from '../store-guard';
import type { StoreHealth } from '../stores/health';
import type { ConcurrencySlots, SlotResult, Store } from '../stores/types';
import { emitWarning } from '../warn';
import { resolveStatusCode } from './body';

/** The `concurrency` option of the HTTP adapters: at most `max` requests of one key in flight at once. */
export interface ConcurrencyOption {
  /** Most requests of one key (the limiter's `key`) being served at once, across every process sharing the store. */
  max: number;
  /**
   * How long a slot stays taken when its release never comes (the process crashed): it comes back
   * after this long. A response open longer than this stops counting. @default '1m'
   */
  leaseMs?: Duration;
  /** Status of a request refused for want of a slot (503 says "server busy"). @default the `statusCode` option (429) */
  statusCode?: number;
}

/** What taking a slot answered. @internal */
export interface SlotAnswer {
  /** The request may go: it holds a slot, or the store failed and `onStoreError` let it through. */
  readonly allowed: boolean;
  /**
   * The concurrency limit as a decision (rule `concurrency`, limit `max`): `remaining` free slots;
   * when refused, `retryAfterMs` 1 s and `resetMs` the earliest lease expiry.
   */
  readonly decision: Decision;
  /** Frees the slot (call once); undefined when none is held. */
  readonly release: (() => void) | undefined;
}

/** The store settings of the HTTP limiter, validated (see `resolveStoreSettings`). @internal */
export interface SlotSettings {
  readonly store: Store;
  readonly prefix: string;
  readonly policy: StoreErrorPolicy;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly logger: RateLimitLogger | undefined;
  readonly now: () => number;
  readonly onError: ((error: StoreError) => void) | undefined;
  /** Called on recovery; undefined when the rate limiter on the same store reports recoveries. */
  readonly onRecover: (() => void) | undefined;
}

const FIELDS = ['max', 'leaseMs', 'statusCode'];

/** A refused request may try again in a second: slots come back as responses end, which no store can predict. */
const RETRY_MS = 1000;

/**
 * Slots live under `<prefix>concurrency{<key>}` on Redis. A rate rule's key is
 * `<prefix><rule id>:{<key>}`, always with a `:` before the `{`: the two never share a key,
 * whatever the rules are named.
 */
const SLOT_PREFIX = 'concurrency';

/**
 * The `concurrency` option of one HTTP limiter: a slot per request, taken from the limiter's store
 * in one call (synchronous on the memory store), released when the response closes. A store that
 * fails or exceeds `timeoutMs` is answered by `onStoreError`, as the rate rules are: `'allow'` lets
 * the request through without a slot, `'deny'` refuses it, an insurance store holds the slot.
 * @internal
 */
export class RequestSlots {
  /** Status of a refused request. */
  readonly statusCode: number;
  readonly #slots: ConcurrencySlots;
  readonly #fallback: ConcurrencySlots | undefined;
  readonly #deny: boolean;
  readonly #health: StoreHealth | undefined;
  readonly #rules: readonly ResolvedRule[];
  readonly #max: number;
  readonly #leaseMs: number;
  readonly #s: SlotSettings;
  /** A failure was warned about (or reported): cleared by the next answer, so each outage warns once. */
  #failing = false;

  constructor(value: unknown, settings: SlotSettings, statusCode: number) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ConfigError('concurrency', 'an object such as { max: 10 }', value);
    rejectUnknownOptions(value, FIELDS, 'concurrency');
    const o = value as Record<string, unknown>;
    const max = o.max;
    if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)
      throw new ConfigError('concurrency.max', 'a positive integer', max);
    this.#max = max;
    this.#leaseMs = parseDuration(o.leaseMs ?? '1m', 'concurrency.leaseMs');
    this.statusCode = o.statusCode === undefined ? statusCode : resolveStatusCode(o.statusCode, 'concurrency.statusCode');
    const { store, policy, prefix } = settings;
    const bind = (s: Store, option: string): ConcurrencySlots => {
      if (typeof s.bindConcurrency !== 'function')
        throw new ConfigError(option, 'a store with concurrency slots (MemoryStore or RedisStore) when `concurrency` is set', s);
      return s.bindConcurrency(prefix + SLOT_PREFIX, max, this.#leaseMs);
    };
    this.#slots = bind(store, 'store');
    this.#fallback = typeof policy === 'object' ? bind(policy, 'onStoreError') : undefined;
    this.#deny = policy === 'deny';
    this.#health = store.health;
    this.#s = settings;
    this.#rules = [
      { id: 'concurrency', name: 'concurrency', limit: max, windowMs: this.#leaseMs, algorithm: 'fixed-window', burst: 0, blockForMs: 0 },
    ];
  }

  /** Takes a slot for `key`: synchronously from a synchronous store, else within `timeoutMs`. Never throws or rejects. */
  take(key: string): SlotAnswer | Promise<SlotAnswer> {
    const holder = newHolderId();
    const now = this.#s.now();
    const health = this.#health;
    // While the store is down (this limiter's calls or another's on the same store failed), the
    // policy answers at once: no request waits `timeoutMs` for a store known not to answer.
    const route = health === undefined ? 'store' : health.route(now);
    if (route === 'policy') {
      // Down without a failed call of this limiter (the connection dropped, a rate rule's call
      // failed): `onError` and the warning still hear of it, once.
      const error = new StoreError('consume', 'Store is unavailable', { cause: health?.lastError });
      if (!this.#failing) this.#report(error);
      return this.#degraded(key, now, error);
    }
    const probe = route === 'probe';
    let r: SlotResult | Promise<SlotResult>;
    try {
      r = this.#slots.acquire(key, holder, Math.floor(now));
    } catch (error) {
      return this.#degraded(key, now, this.#fail(error, now, probe));
    }
    if (!isPromise(r)) {
      this.#answered(probe);
      return this.#granted(this.#slots, key, holder, now, r);
    }
    return bounded(r, this.#s.timeoutMs).then(
      (result) => {
        this.#answered(probe);
        return this.#granted(this.#slots, key, holder, now, result);
      },
      (error: unknown) => {
        // The script may have granted the slot before its reply was lost or came too late: free it
        // (else it stays taken for leaseMs).
        this.#release(this.#slots, key, holder);
        return this.#degraded(key, now, this.#fail(error, now, probe));
      },
    );
  }

  #granted(slots: ConcurrencySlots, key: string, holder: string, now: number, r: SlotResult): SlotAnswer {
    const at = Math.floor(now);
    if (r[0] === 1) {
      let held = true;
      const release = (): void => {
        if (!held) return;
        held = false;
        this.#release(slots, key, holder);
      };
      return { allowed: true, decision: decide(this.#rules, [at, 1, Math.max(0, this.#max - r[1]), 0, 0]), release };
    }
    // Every slot is taken. Waiting for the earliest lease to expire would mean waiting leaseMs (the
    // bound for holders that crashed) although slots come back as soon as responses end: a second.
    const reset = r[2] >= 0 ? r[2] : this.#leaseMs;
    return { allowed: false, decision: decide(this.#rules, [at, 0, 0, reset, RETRY_MS]), release: undefined };
  }

  /** The store failed or is down: the insurance store's slots, else the policy. */
  #degraded(key: string, now: number, cause: StoreError): SlotAnswer | Promise<SlotAnswer> {
    const fallback = this.#fallback;
    if (fallback === undefined)
      return { allowed: !this.#deny, decision: policyDecision(this.#rules, !this.#deny, Math.floor(now), cause), release: undefined };
    const holder = newHolderId();
    const policy = (e: unknown): SlotAnswer => {
      this.#report(isStoreError(e) ? e : new StoreError('consume', `Insurance store failed: ${String(e)}`, { cause: e }));
      return { allowed: true, decision: policyDecision(this.#rules, true, Math.floor(now), cause), release: undefined };
    };
    try {
      const r = fallback.acquire(key, holder, Math.floor(now));
      if (!isPromise(r)) return this.#granted(fallback, key, holder, now, r);
      return bounded(r, this.#s.timeoutMs).then((result) => this.#granted(fallback, key, holder, now, result), policy);
    } catch (e) {
      return policy(e);
    }
  }

  /** Records a failed call: the shared health, `onError`, or one warning per outage. */
  #fail(cause: unknown, now: number, probe: boolean): StoreError {
    const error = isStoreError(cause)
      ? cause
      : new StoreError('consume', `Concurrency store call failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.#health?.failed(error, now, this.#s.retryMs, probe);
    this.#report(error);
    return error;
  }

  #report(error: StoreError): void {
    const onError = this.#s.onError;
    const first = !this.#failing;
    this.#failing = true;
    if (onError !== undefined) {
      try {
        onError(error);
      } catch {
        // A throwing hook must not fail the request.
      }
    } else if (first) {
      const message = `ratekeeper: ${error.message}; applying the onStoreError policy to the concurrency limit`;
      const logger = this.#s.logger;
      if (logger !== undefined) logger.warn(message);
      else emitWarning(message, error.code);
    }
  }

  #answered(probe: boolean): void {
    if (probe) this.#health?.succeeded();
    if (!this.#failing) return;
    this.#failing = false;
    try {
      this.#s.onRecover?.();
    } catch {
      // As for onError.
    }
  }

  /** Frees `holder`'s slot; a failure is reported to `onError` (the lease then expires by itself). */
  #release(slots: ConcurrencySlots, key: string, holder: string): void {
    const failed = (e: unknown): void => {
      const error = isStoreError(e) ? e : new StoreError('refund', `Concurrency release failed: ${String(e)}`, { cause: e });
      try {
        this.#s.onError?.(error);
      } catch {
        // As for onError.
      }
    };
    try {
      const r = slots.release(key, holder, Math.floor(this.#s.now()));
      if (isPromise(r)) bounded(r, this.#s.timeoutMs).catch(failed);
    } catch (e) {
      failed(e);
    }
  }
}

/** `pending`, or a timed-out `StoreError` after `ms`. */
function bounded<T>(pending: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreError('consume', `Store did not answer within ${ms} ms`, { timedOut: true })), ms);
    (timer as { unref?: () => void }).unref?.();
    pending.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
