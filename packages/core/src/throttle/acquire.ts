import type { Decision } from '../decision';
import { ConfigError } from '../errors/config-error';
import { RateLimitError } from '../errors/rate-limit-error';

/** Options of `limiter.acquire`. */
export interface AcquireOptions {
  /** Units to take. @default 1 */
  cost?: number;
  /**
   * Longest acceptable wait in milliseconds, counted from the call. When the store says the wait would
   * be longer, the call rejects at once with `RateLimitError` instead of sleeping and then failing.
   * `0` never waits. @default Infinity
   */
  maxWaitMs?: number;
  /** Aborting removes the waiter and rejects with the signal's reason; nothing is consumed. */
  signal?: AbortSignal;
  /** Called with the length of each sleep (ms), every time this request has to wait for the store. */
  onWait?: (ms: number) => void;
}

/** A granted acquisition: the decision, and `refund()` to give the units back (effective once). */
export type Acquired = Decision & {
  /** Returns this acquisition's units to the limiter (e.g. the remote answered 5xx). Later calls do nothing. */
  refund(): Promise<void>;
};

/**
 * @internal What waiting acquisition needs from a limiter. `Limiter` satisfies it; composites and the
 * per-host fetch gate do too, so one queue implementation serves them all.
 */
export interface AcquireSource {
  readonly now: () => number;
  consume(key: string, options?: { cost?: number }): Promise<Decision>;
  /** `decision` lets composites give units back to exactly the members that took them. */
  refund(key: string, cost?: number, options?: { at?: number; decision?: Decision }): Promise<void>;
}

interface Waiter {
  readonly cost: number;
  /** Latest acceptable start, in the source's clock. */
  readonly deadline: number;
  readonly maxWaitMs: number;
  /** When it asked, in the source's clock. */
  readonly since: number;
  readonly signal: AbortSignal | undefined;
  readonly onWait: ((ms: number) => void) | undefined;
  readonly resolve: (value: Acquired) => void;
  readonly reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
  /** Settled (granted, rejected or aborted): the pump must not settle it again. */
  done: boolean;
}

interface KeyQueue {
  readonly waiters: Waiter[];
  running: boolean;
  /** When the head sleeps: the source time it wakes up, and the refusal that made it sleep. */
  wakeAt: number;
  denied: Decision | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  wake: (() => void) | undefined;
}

// Queues live beside their source, so two limiters never share a line and a dropped limiter frees its queues.
const queues = new WeakMap<AcquireSource, Map<string, KeyQueue>>();

/**
 * Waits until `cost` units of `key` may be taken, then takes them. Waiters on one key are served first
 * in, first out: only the head of the line asks the store, so a later small request never overtakes an
 * earlier large one. Each wait is the store's exact `retryAfterMs`; after sleeping the head asks again
 * (another process may have taken the quota meanwhile) and may sleep again.
 * @internal Call it as `limiter.acquire(key, options)`.
 */
export function acquire(source: AcquireSource, key: string, options?: AcquireOptions): Promise<Acquired> {
  let resolved: ResolvedAcquire;
  try {
    if (typeof key !== 'string') throw new ConfigError('key', 'a string', key);
    resolved = resolveAcquireOptions(options);
  } catch (error) {
    return Promise.reject(error);
  }
  const { cost, maxWaitMs, signal, onWait } = resolved;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const now = source.now();
  let byKey = queues.get(source);
  if (!byKey) {
    byKey = new Map();
    queues.set(source, byKey);
  }
  let queue = byKey.get(key);
  // A newcomer cannot start before the sleeping head wakes: if that is already too late, say so now.
  if (queue?.denied && queue.wakeAt - now > maxWaitMs) {
    return Promise.reject(tooLong(queue.denied, queue.wakeAt - now, queue.wakeAt - now, maxWaitMs));
  }
  return new Promise<Acquired>((resolve, reject) => {
    const waiter: Waiter = {
      cost,
      deadline: now + maxWaitMs,
      maxWaitMs,
      since: now,
      signal,
      onWait,
      resolve,
      reject,
      onAbort: undefined,
      done: false,
    };
    if (!queue) {
      queue = { waiters: [], running: false, wakeAt: 0, denied: undefined, timer: undefined, wake: undefined };
      (byKey as Map<string, KeyQueue>).set(key, queue);
    }
    const q = queue;
    if (signal) {
      waiter.onAbort = () => {
        const head = q.waiters[0] === waiter;
        remove(q, waiter);
        settle(waiter, () => reject(signal.reason));
        // The head may be asleep: wake the pump so the next waiter gets its turn now, and drop the timer.
        if (head && q.timer !== undefined) {
          clearTimeout(q.timer);
          q.timer = undefined;
          q.wake?.();
        }
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
    }
    q.waiters.push(waiter);
    if (!q.running) void pump(source, key, q, byKey as Map<string, KeyQueue>);
  });
}

interface ResolvedAcquire {
  cost: number;
  maxWaitMs: number;
  signal: AbortSignal | undefined;
  onWait: ((ms: number) => void) | undefined;
}

/** @internal Validates acquire options; shared with `throttle`, which checks them once at creation. */
export function resolveAcquireOptions(options: AcquireOptions | undefined): ResolvedAcquire {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new ConfigError('options', 'an object', options);
  const cost = options?.cost ?? 1;
  if (typeof cost !== 'number' || !Number.isSafeInteger(cost) || cost < 1) throw new ConfigError('cost', 'a positive integer', cost);
  const maxWaitMs = options?.maxWaitMs ?? Number.POSITIVE_INFINITY;
  if (typeof maxWaitMs !== 'number' || Number.isNaN(maxWaitMs) || maxWaitMs < 0)
    throw new ConfigError('maxWaitMs', 'a non-negative number of milliseconds (or Infinity)', maxWaitMs);
  const signal = options?.signal;
  if (signal !== undefined && !isAbortSignal(signal)) throw new ConfigError('signal', 'an AbortSignal', signal);
  const onWait = options?.onWait;
  if (onWait !== undefined && typeof onWait !== 'function') throw new ConfigError('onWait', 'a function', onWait);
  return { cost, maxWaitMs, signal, onWait };
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AbortSignal).aborted === 'boolean' &&
    typeof (value as AbortSignal).addEventListener === 'function'
  );
}

async function pump(source: AcquireSource, key: string, q: KeyQueue, byKey: Map<string, KeyQueue>): Promise<void> {
  q.running = true;
  try {
    while (q.waiters.length > 0) {
      const w = q.waiters[0] as Waiter;
      let d: Decision;
      try {
        d = await source.consume(key, { cost: w.cost });
      } catch (error) {
        remove(q, w);
        settle(w, () => w.reject(error));
        continue;
      }
      if (w.done) {
        // Aborted while the store was deciding: give back what it granted, so an abort consumes nothing.
        if (d.allowed) await source.refund(key, w.cost, { at: d.at, decision: d });
        continue;
      }
      if (d.allowed) {
        remove(q, w);
        settle(w, () => w.resolve(granted(source, key, w.cost, d)));
        continue;
      }
      const now = source.now();
      const wait = d.retryAfterMs;
      if (!Number.isFinite(wait) || now + wait > w.deadline) {
        remove(q, w);
        settle(w, () => w.reject(Number.isFinite(wait) ? tooLong(d, wait, now + wait - w.since, w.maxWaitMs) : new RateLimitError(d)));
        continue;
      }
      q.wakeAt = now + wait;
      q.denied = d;
      // Everyone behind the head starts after it wakes at the earliest: refuse now those who cannot wait that long.
      for (const other of q.waiters.slice(1)) {
        if (other.deadline < q.wakeAt) {
          remove(q, other);
          settle(other, () => other.reject(tooLong(d, wait, q.wakeAt - other.since, other.maxWaitMs)));
        }
      }
      try {
        w.onWait?.(wait);
      } catch {
        // A throwing progress callback must not strand the queue.
      }
      await new Promise<void>((resolve) => {
        q.wake = resolve;
        q.timer = setTimeout(resolve, wait);
      });
      q.timer = undefined;
      q.wake = undefined;
      q.wakeAt = 0;
      q.denied = undefined;
    }
  } finally {
    q.running = false;
    if (q.waiters.length === 0 && byKey.get(key) === q) byKey.delete(key);
  }
}

function remove(q: KeyQueue, w: Waiter): void {
  const i = q.waiters.indexOf(w);
  if (i >= 0) q.waiters.splice(i, 1);
}

function settle(w: Waiter, fn: () => void): void {
  if (w.done) return;
  w.done = true;
  if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
  fn();
}

/** `waitMs`: from now until it could go (the error's `retryAfterMs`); `totalMs`: the same, counted from the call. */
function tooLong(d: Decision, waitMs: number, totalMs: number, maxWaitMs: number): RateLimitError {
  const decision = waitMs === d.retryAfterMs ? d : { ...d, rules: d.rules, retryAfterMs: waitMs };
  return new RateLimitError(
    decision,
    `Rate limit exceeded (${d.rule.name}): it could go in ${waitMs} ms, a wait of ${totalMs} ms in all, longer than maxWaitMs (${maxWaitMs} ms)`,
  );
}

function granted(source: AcquireSource, key: string, cost: number, d: Decision): Acquired {
  let refunded = false;
  return {
    ...d,
    // `rules` may be a lazy getter on a class instance: copy its value, the spread would drop it.
    rules: d.rules,
    refund(): Promise<void> {
      if (refunded) return Promise.resolve();
      refunded = true;
      return source.refund(key, cost, { at: d.at, decision: d });
    },
  };
}
