import { Line, type LineMember } from '../acquire/line';
import { type LongTimeout, setLongTimeout } from '../acquire/long-timeout';
import { monotonicNow } from '../clock';
import { type Decision, reviseDecision, waitDecision } from '../decision';
import { type Duration, parseDuration } from '../duration';
import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import { RateLimitError } from '../errors/rate-limit-error';
import { isStoreError, StoreError } from '../errors/store-error';
import type { ResolvedRule } from '../rules';
import { isPromise } from '../store-guard';
import { MemoryStore } from '../stores/memory';
import type { ConcurrencySlots, SlotResult, Store } from '../stores/types';
import { emitWarning } from '../warn';
import { newHolderId } from './holder-id';
import type { Lease } from './lease';

/** Options of {@link createConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** Most leases held at once per key, across every process sharing the store. */
  max: number;
  /** Where leases live: a `MemoryStore` (this process) or a `RedisStore` (every process). @default a new MemoryStore() */
  store?: Store;
  /**
   * How long a lease lasts unless released or extended: the slot of a holder that crashed (or never
   * released) comes back after this long. @default '1m'
   */
  leaseMs?: Duration;
  /** Longest wait for a slot before `acquire` rejects with `RateLimitError`. `0` never waits. @default Infinity */
  maxWaitMs?: number;
  /** Most waiters per key in this process; one more is refused at once with `RateLimitError`. @default Infinity */
  maxQueue?: number;
  /** Prepended to every storage key. @default 'rkc:' */
  prefix?: string;
  /** A store call slower than this counts as failed. @default 250 */
  timeoutMs?: number;
  /**
   * While the store fails: `'allow'` grants a lease the store does not hold (the cap is not
   * enforced meanwhile), `'deny'` refuses (`acquire` rejects with `RateLimitError` carrying the
   * store error, `tryAcquire` answers undefined). @default 'allow'
   */
  onStoreError?: 'allow' | 'deny';
  /** Called with every store failure. @default a process warning once per outage */
  onError?: (error: StoreError) => void;
  /**
   * How often a waiter asks a shared store again for slots that other processes freed (a release in
   * this process wakes the next waiter at once). @default 50
   */
  pollMs?: number;
  /** Current time in epoch ms (memory store lease expiry). @default monotonic epoch clock */
  now?: () => number;
}

/** Per-call options of {@link ConcurrencyLimiter.acquire}. */
export interface ConcurrencyAcquireOptions {
  /** Aborting removes the waiter and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** This call's longest wait (overrides the limiter's). */
  maxWaitMs?: number;
}

/** At most `max` holders per key at once. Create with {@link createConcurrencyLimiter}. */
export interface ConcurrencyLimiter {
  readonly max: number;
  readonly leaseMs: number;
  /**
   * Waits for a slot (first in, first out per key in this process) and resolves with its lease;
   * rejects with `RateLimitError` past `maxWaitMs` or when the line is full.
   * @example
   * const lease = await llm.acquire(tenantId);
   * try { await callModel(); } finally { await lease.release(); }
   */
  acquire(key: string, options?: ConcurrencyAcquireOptions): Promise<Lease>;
  /** A slot now, or undefined (never waits; never jumps ahead of this process's waiters). */
  tryAcquire(key: string): Promise<Lease | undefined>;
}

const OPTION_KEYS = ['max', 'store', 'leaseMs', 'maxWaitMs', 'maxQueue', 'prefix', 'timeoutMs', 'onStoreError', 'onError', 'pollMs', 'now'];

/**
 * Creates a concurrency limiter: at most `max` leases per key at once, on one process (memory) or
 * across processes (Redis, one round trip per acquire and per release).
 * @example
 * const jobs = createConcurrencyLimiter({ max: 4, leaseMs: '30s', store: new RedisStore({ client }) });
 * const lease = await jobs.acquire('tenant-42');
 * try { await work(); } finally { await lease.release(); }
 */
export function createConcurrencyLimiter(options: ConcurrencyLimiterOptions): ConcurrencyLimiter {
  return new Concurrency(options);
}

interface Waiter extends LineMember<Waiter> {
  readonly resolve: (lease: Lease) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
  timer: LongTimeout | undefined;
}

/** The waiters of one key and its pending retry. */
interface KeyLine {
  readonly line: Line<Waiter>;
  /** A store call for the head is in flight. */
  busy: boolean;
  /** A slot may have come free while busy: ask again once it settles. */
  again: boolean;
  retry: ReturnType<typeof setTimeout> | undefined;
}

function positiveInteger(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new ConfigError(option, 'a positive integer', value);
  return value;
}

function waitMs(value: unknown, option: string): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new ConfigError(option, 'a non-negative number of milliseconds or Infinity', value);
  return value;
}

class Concurrency implements ConcurrencyLimiter {
  readonly max: number;
  readonly leaseMs: number;
  readonly #slots: ConcurrencySlots;
  readonly #local: boolean;
  readonly #maxWaitMs: number;
  readonly #maxQueue: number;
  readonly #timeoutMs: number;
  readonly #allow: boolean;
  readonly #onError: ((error: StoreError) => void) | undefined;
  readonly #pollMs: number;
  readonly #now: () => number;
  readonly #rules: readonly ResolvedRule[];
  readonly #lines = new Map<string, KeyLine>();
  /** A store failure was warned about; cleared by the next answer, so each outage warns once. */
  #warned = false;
  #lastError: StoreError | undefined;

  constructor(options: ConcurrencyLimiterOptions) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    rejectUnknownOptions(options, OPTION_KEYS);
    this.max = positiveInteger(options.max, 'max');
    this.leaseMs = parseDuration(options.leaseMs ?? '1m', 'leaseMs');
    this.#maxWaitMs = waitMs(options.maxWaitMs ?? Number.POSITIVE_INFINITY, 'maxWaitMs');
    this.#maxQueue = options.maxQueue === undefined ? Number.POSITIVE_INFINITY : positiveInteger(options.maxQueue, 'maxQueue');
    const prefix = options.prefix ?? 'rkc:';
    if (typeof prefix !== 'string') throw new ConfigError('prefix', 'a string', prefix);
    const timeoutMs = options.timeoutMs ?? 250;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new ConfigError('timeoutMs', 'a positive number of milliseconds', timeoutMs);
    this.#timeoutMs = timeoutMs;
    const policy = options.onStoreError ?? 'allow';
    if (policy !== 'allow' && policy !== 'deny') throw new ConfigError('onStoreError', "'allow' or 'deny'", policy);
    this.#allow = policy === 'allow';
    for (const f of ['onError', 'now'] as const) {
      if (options[f] !== undefined && typeof options[f] !== 'function') throw new ConfigError(f, 'a function', options[f]);
    }
    this.#onError = options.onError;
    this.#now = options.now ?? monotonicNow;
    const pollMs = options.pollMs ?? 50;
    if (typeof pollMs !== 'number' || !Number.isFinite(pollMs) || pollMs <= 0)
      throw new ConfigError('pollMs', 'a positive number of milliseconds', pollMs);
    this.#pollMs = pollMs;
    const store = options.store ?? new MemoryStore();
    if (typeof store !== 'object' || store === null || typeof store.bindConcurrency !== 'function')
      throw new ConfigError('store', 'a store with concurrency slots (MemoryStore or RedisStore)', store);
    this.#slots = store.bindConcurrency(prefix, this.max, this.leaseMs);
    // Only this process frees a memory store's slots: no polling, a release wakes the next waiter.
    this.#local = (store as { synchronous?: unknown }).synchronous === true;
    this.#rules = [
      {
        id: 'concurrency',
        name: 'concurrency',
        limit: this.max,
        windowMs: this.leaseMs,
        algorithm: 'fixed-window',
        burst: 0,
        blockForMs: 0,
      },
    ];
  }

  acquire(key: string, options?: ConcurrencyAcquireOptions): Promise<Lease> {
    if (typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    const signal = options?.signal;
    let maxWait = this.#maxWaitMs;
    try {
      if (options?.maxWaitMs !== undefined) maxWait = waitMs(options.maxWaitMs, 'maxWaitMs');
    } catch (e) {
      return Promise.reject(e);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const k = this.#lineOf(key);
    // maxWaitMs 0 never waits, so not behind others either: with a line ahead, refuse now (as tryAcquire).
    if (maxWait === 0 && k.line.size > 0) {
      return Promise.reject(new RateLimitError(this.#refusal(this.#pollMs), `No concurrency slot free (max ${this.max}; others wait)`));
    }
    if (k.line.size >= this.#maxQueue) {
      return Promise.reject(
        new RateLimitError(this.#refusal(this.#pollMs), `Concurrency line for this key is full (${this.#maxQueue} waiting)`),
      );
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        prev: undefined,
        next: undefined,
        inLine: false,
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.#leave(key, waiter);
          reject(signal?.reason);
        },
        timer: undefined,
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      if (Number.isFinite(maxWait) && maxWait > 0) {
        waiter.timer = setLongTimeout(() => {
          this.#leave(key, waiter);
          reject(new RateLimitError(this.#refusal(0), `No concurrency slot within ${maxWait} ms (max ${this.max})`));
        }, maxWait);
      }
      k.line.push(waiter);
      // maxWaitMs 0: one try, then a refusal (the head is tried at once when the line was empty).
      if (maxWait === 0) (waiter as { zero?: boolean }).zero = true;
      this.#pump(key, k);
    });
  }

  tryAcquire(key: string): Promise<Lease | undefined> {
    if (typeof key !== 'string') return Promise.reject(new ConfigError('key', 'a string', key));
    const k = this.#lines.get(key);
    if (k !== undefined && k.line.size > 0) return Promise.resolve(undefined);
    const holder = newHolderId();
    return this.#ask(key, holder).then((r) => (r === 'denied' || typeof r !== 'object' ? undefined : r));
  }

  #lineOf(key: string): KeyLine {
    let k = this.#lines.get(key);
    if (k === undefined) {
      k = { line: new Line<Waiter>(), busy: false, again: false, retry: undefined };
      this.#lines.set(key, k);
    }
    return k;
  }

  /** Takes a waiter out of its line (aborted, timed out or served) and drops an empty line. */
  #leave(key: string, waiter: Waiter): void {
    waiter.timer?.cancel();
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
    const k = this.#lines.get(key);
    if (k === undefined) return;
    k.line.remove(waiter);
    this.#dropIfIdle(key, k);
  }

  #dropIfIdle(key: string, k: KeyLine): void {
    if (k.line.size > 0 || k.busy) return;
    if (k.retry !== undefined) clearTimeout(k.retry);
    k.retry = undefined;
    if (this.#lines.get(key) === k) this.#lines.delete(key);
  }

  /** Serves the head of `key`'s line while slots are granted; schedules a retry when none is. */
  #pump(key: string, k: KeyLine): void {
    if (k.busy) {
      k.again = true;
      return;
    }
    const head = k.line.head;
    if (head === undefined) {
      this.#dropIfIdle(key, k);
      return;
    }
    if (k.retry !== undefined) {
      clearTimeout(k.retry);
      k.retry = undefined;
    }
    k.busy = true;
    k.again = false;
    const holder = newHolderId();
    void this.#ask(key, holder).then((r) => {
      k.busy = false;
      if (!head.inLine) {
        // Left (aborted, timed out) while its slot was being asked for: give the slot back.
        if (typeof r === 'object') void r.release();
      } else if (typeof r === 'object') {
        this.#leave(key, head);
        head.resolve(r);
      } else if (r === 'denied') {
        this.#leave(key, head);
        const refusal = reviseDecision(this.#refusal(this.#pollMs), { error: this.#lastError });
        head.reject(new RateLimitError(refusal, `Concurrency store failed and onStoreError is 'deny': ${this.#lastError?.message}`));
      } else if ((head as { zero?: boolean }).zero === true) {
        this.#leave(key, head);
        head.reject(new RateLimitError(this.#refusal(r >= 0 ? r : this.#pollMs), `No concurrency slot free (max ${this.max})`));
      } else if (!k.again) {
        // No slot: ask again when the earliest lease expires, and (shared store) every pollMs for
        // slots other processes release.
        const wait = r >= 0 ? (this.#local ? r : Math.min(r, this.#pollMs)) : this.#pollMs;
        k.retry = setTimeout(
          () => {
            k.retry = undefined;
            this.#pump(key, k);
          },
          Math.max(1, wait),
        );
        return;
      }
      this.#pump(key, k);
    });
  }

  /**
   * One store call for `holder`: a lease, 'denied' (the store failed and the policy is 'deny'), or
   * the store's wait until its earliest lease expires (−1 unknown). Never rejects.
   */
  #ask(key: string, holder: string): Promise<Lease | 'denied' | number> {
    let result: SlotResult | Promise<SlotResult>;
    try {
      result = this.#slots.acquire(key, holder, Math.floor(this.#now()));
    } catch (e) {
      return Promise.resolve(this.#failed(key, holder, e, false));
    }
    if (!isPromise(result)) return Promise.resolve(this.#granted(key, holder, result));
    return this.#bounded(result, 'consume').then(
      (r) => this.#granted(key, holder, r),
      (e: unknown) => this.#failed(key, holder, e, true),
    );
  }

  #granted(key: string, holder: string, r: SlotResult): Lease | number {
    this.#warned = false;
    return r[0] === 1 ? this.#lease(key, holder, true) : r[2];
  }

  #failed(key: string, holder: string, cause: unknown, mayHaveRun: boolean): Lease | 'denied' {
    const error = isStoreError(cause)
      ? cause
      : new StoreError('consume', `Concurrency store failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.#lastError = error;
    this.#report(error);
    // The script may have granted the slot before its reply was lost: free it (else it waits for leaseMs).
    if (mayHaveRun) void this.#release(key, holder);
    return this.#allow ? this.#lease(key, holder, false) : 'denied';
  }

  #report(error: StoreError): void {
    if (this.#onError !== undefined) {
      try {
        this.#onError(error);
      } catch {
        // A throwing hook must not break acquisition.
      }
    } else if (!this.#warned) {
      this.#warned = true;
      emitWarning(`ratekeeper: ${error.message}; applying the concurrency limiter's onStoreError policy`, error.code);
    }
  }

  #bounded<T>(pending: Promise<T>, op: StoreError['operation']): Promise<T> {
    const ms = this.#timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreError(op, `Store ${op} did not answer within ${ms} ms`, { timedOut: true })), ms);
      timer.unref?.();
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

  /** Frees `holder`'s slot on the store; failures are reported, and the lease then expires by itself. */
  #release(key: string, holder: string): Promise<void> {
    try {
      const r = this.#slots.release(key, holder, Math.floor(this.#now()));
      if (!isPromise(r)) return Promise.resolve();
      return this.#bounded(r, 'refund').then(
        () => undefined,
        (e: unknown) =>
          this.#report(isStoreError(e) ? e : new StoreError('refund', `Concurrency release failed: ${String(e)}`, { cause: e })),
      );
    } catch (e) {
      this.#report(new StoreError('refund', `Concurrency release failed: ${String(e)}`, { cause: e }));
      return Promise.resolve();
    }
  }

  #lease(key: string, holder: string, held: boolean): Lease {
    let released = false;
    return {
      key,
      release: () => {
        if (released) return Promise.resolve();
        released = true;
        const done = held ? this.#release(key, holder) : Promise.resolve();
        return done.then(() => {
          const k = this.#lines.get(key);
          if (k !== undefined) this.#pump(key, k);
        });
      },
      extend: () => {
        if (released) return Promise.resolve(false);
        if (!held) return Promise.resolve(true);
        try {
          const r = this.#slots.extend(key, holder, Math.floor(this.#now()));
          return isPromise(r) ? this.#bounded(r, 'consume') : Promise.resolve(r);
        } catch (e) {
          return Promise.reject(e);
        }
      },
    };
  }

  /** The refusal a `RateLimitError` carries: every slot taken, retry in `retryMs`. */
  #refusal(retryMs: number): Decision {
    return waitDecision(this.#rules, Math.max(0, Math.ceil(retryMs)), Math.floor(this.#now()));
  }
}
