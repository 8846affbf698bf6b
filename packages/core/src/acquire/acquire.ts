import { type Decision, reviseDecision, waitDecision } from '../decision';
import { ConfigError } from '../errors/config-error';
import { RateLimitError } from '../errors/rate-limit-error';
import type { ResolvedRule } from '../rules';
import { Line, type LineMember } from './line';
import { type LongTimeout, setLongTimeout } from './long-timeout';
import { MinHeap } from './min-heap';

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
  /**
   * The most waiters this key's line may hold, counting every request in it (the head too, and those
   * the store has not answered yet). A request that finds the line this long rejects at once with
   * `RateLimitError`; its `retryAfterMs` is the earliest the line can move (when the sleeping head
   * wakes; 0 while the head is being decided). Bounds the memory a stalled line can take.
   * @default Infinity
   */
  maxQueue?: number;
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
  /** The rules behind the decisions, for refusals the store did not make (a full line). */
  readonly rules: readonly ResolvedRule[];
  consume(key: string, options?: { cost?: number }): Promise<Decision>;
  /** `decision` lets composites give units back to exactly the members that took them. */
  refund(key: string, cost?: number, options?: { at?: number; decision?: Decision }): Promise<void>;
}

interface Waiter extends LineMember<Waiter> {
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
  /** In its queue's deadline heap (a finite deadline, not popped yet). */
  inHeap: boolean;
  /** Settled (granted, rejected or aborted): the pump must not settle it again. */
  done: boolean;
}

interface KeyQueue {
  readonly waiters: Line<Waiter>;
  /**
   * The waiters with a finite deadline, soonest first, so refusing those who cannot wait for the head
   * costs O(log n) each instead of a pass over the line. Settled waiters stay until they surface.
   */
  readonly deadlines: MinHeap<Waiter>;
  /** Settled waiters still in `deadlines`. */
  dead: number;
  running: boolean;
  /** When the head sleeps: the source time it wakes up, and the refusal that made it sleep. */
  wakeAt: number;
  denied: Decision | undefined;
  timer: LongTimeout | undefined;
  wake: (() => void) | undefined;
}

// Queues live beside their source, so two limiters never share a line and a dropped limiter frees its queues.
const queues = new WeakMap<AcquireSource, Map<string, KeyQueue>>();

/**
 * Waits until `cost` units of `key` may be taken, then takes them. Waiters on one key are served first
 * in, first out: only the head of the line asks the store, so a later small request never overtakes an
 * earlier large one. Each wait is the store's exact `retryAfterMs`; after sleeping the head asks again
 * (another process may have taken the quota meanwhile) and may sleep again. A wait longer than a timer
 * can hold (2^31 − 1 ms, about 24.8 days) is slept in slices, without asking the store in between.
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
  const { cost, maxWaitMs, maxQueue, signal, onWait } = resolved;
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
  if (queue && queue.waiters.size >= maxQueue) return Promise.reject(queueFull(source, queue, now, maxQueue));
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
      inHeap: false,
      done: false,
      prev: undefined,
      next: undefined,
      inLine: false,
    };
    if (!queue) {
      queue = {
        waiters: new Line(),
        deadlines: new MinHeap((w) => w.deadline),
        dead: 0,
        running: false,
        wakeAt: 0,
        denied: undefined,
        timer: undefined,
        wake: undefined,
      };
      (byKey as Map<string, KeyQueue>).set(key, queue);
    }
    const q = queue;
    if (signal) {
      waiter.onAbort = () => {
        const head = q.waiters.head === waiter;
        finish(q, waiter, () => reject(signal.reason));
        // The head may be asleep: wake the pump so the next waiter gets its turn now, and drop the timer.
        if (head && q.timer !== undefined) {
          q.timer.cancel();
          q.timer = undefined;
          q.wake?.();
        }
      };
      watchAbort(signal, waiter.onAbort);
    }
    q.waiters.push(waiter);
    if (Number.isFinite(waiter.deadline)) {
      waiter.inHeap = true;
      q.deadlines.push(waiter);
    }
    if (!q.running) void pump(source, key, q, byKey as Map<string, KeyQueue>);
  });
}

interface ResolvedAcquire {
  cost: number;
  maxWaitMs: number;
  maxQueue: number;
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
  const maxQueue = options?.maxQueue ?? Number.POSITIVE_INFINITY;
  if (typeof maxQueue !== 'number' || !(Number.isSafeInteger(maxQueue) || maxQueue === Number.POSITIVE_INFINITY) || maxQueue < 0)
    throw new ConfigError('maxQueue', 'a non-negative integer (or Infinity)', maxQueue);
  const signal = options?.signal;
  if (signal !== undefined && !isAbortSignal(signal)) throw new ConfigError('signal', 'an AbortSignal', signal);
  const onWait = options?.onWait;
  if (onWait !== undefined && typeof onWait !== 'function') throw new ConfigError('onWait', 'a function', onWait);
  return { cost, maxWaitMs, maxQueue, signal, onWait };
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
    for (let w = q.waiters.head; w !== undefined; w = q.waiters.head) {
      let d: Decision;
      try {
        d = await source.consume(key, { cost: w.cost });
      } catch (error) {
        finish(q, w, () => w.reject(error));
        continue;
      }
      if (w.done) {
        // Aborted while the store was deciding: give back what it granted, so an abort consumes nothing.
        if (d.allowed) {
          try {
            await source.refund(key, w.cost, { at: d.at, decision: d });
          } catch {
            // Nobody is left to tell; the line behind must not be stranded.
          }
        }
        continue;
      }
      if (d.allowed) {
        finish(q, w, () => w.resolve(granted(source, key, w.cost, d)));
        continue;
      }
      const now = source.now();
      const wait = d.retryAfterMs;
      if (!Number.isFinite(wait) || now + wait > w.deadline) {
        finish(q, w, () => w.reject(Number.isFinite(wait) ? tooLong(d, wait, now + wait - w.since, w.maxWaitMs) : new RateLimitError(d)));
        continue;
      }
      q.wakeAt = now + wait;
      q.denied = d;
      // Everyone behind the head starts after it wakes at the earliest: refuse now those who cannot wait that long.
      // The head itself is never among them (its deadline is at least wakeAt).
      for (let other = q.deadlines.peek(); other !== undefined && (other.done || other.deadline < q.wakeAt); other = q.deadlines.peek()) {
        q.deadlines.pop();
        other.inHeap = false;
        if (other.done) {
          q.dead--;
          continue;
        }
        const late = other;
        finish(q, late, () => late.reject(tooLong(d, wait, q.wakeAt - late.since, late.maxWaitMs)));
      }
      try {
        w.onWait?.(wait);
      } catch {
        // A throwing progress callback must not strand the queue.
      }
      await new Promise<void>((resolve) => {
        q.wake = resolve;
        q.timer = setLongTimeout(resolve, wait);
      });
      q.timer = undefined;
      q.wake = undefined;
      q.wakeAt = 0;
      q.denied = undefined;
    }
  } finally {
    q.running = false;
    if (q.waiters.size === 0 && byKey.get(key) === q) byKey.delete(key);
  }
}

/** Takes `w` out of its line and settles it with `fn`, once. O(1) amortised. */
function finish(q: KeyQueue, w: Waiter, fn: () => void): void {
  q.waiters.remove(w);
  if (w.done) return;
  w.done = true;
  if (w.signal && w.onAbort) unwatchAbort(w.signal, w.onAbort);
  if (w.inHeap) {
    q.dead++;
    // Settled waiters are dropped lazily; rebuild once they are the majority, so the heap stays O(live).
    if (q.dead > 16 && q.dead * 2 > q.deadlines.size) {
      q.deadlines.retain((x) => {
        if (!x.done) return true;
        x.inHeap = false;
        return false;
      });
      q.dead = 0;
    }
  }
  fn();
}

interface AbortWatch {
  readonly callbacks: Set<() => void>;
  readonly listener: () => void;
}

// One 'abort' listener per signal, however many waiters share it (a throttle's `signal` is shared by all its
// calls). An EventTarget looks through its listeners to add or remove one, so 20,000 listeners on one signal
// would cost 20,000² steps; a Set adds and deletes in O(1).
const watches = new WeakMap<AbortSignal, AbortWatch>();

function watchAbort(signal: AbortSignal, callback: () => void): void {
  let watch = watches.get(signal);
  if (!watch) {
    const callbacks = new Set<() => void>();
    const listener = (): void => {
      watches.delete(signal);
      for (const fn of [...callbacks]) fn();
      callbacks.clear();
    };
    watch = { callbacks, listener };
    watches.set(signal, watch);
    signal.addEventListener('abort', listener, { once: true });
  }
  watch.callbacks.add(callback);
}

function unwatchAbort(signal: AbortSignal, callback: () => void): void {
  const watch = watches.get(signal);
  if (!watch) return;
  watch.callbacks.delete(callback);
  if (watch.callbacks.size === 0) {
    watches.delete(signal);
    signal.removeEventListener('abort', watch.listener);
  }
}

/** The refusal of a newcomer to a full line. It could go once the line moves: when the head wakes, at the earliest. */
function queueFull(source: AcquireSource, q: KeyQueue, now: number, maxQueue: number): RateLimitError {
  const waitMs = q.denied ? Math.max(0, q.wakeAt - now) : 0;
  const base = q.denied ?? waitDecision(source.rules, waitMs, now);
  return new RateLimitError(
    reviseDecision(base, { retryAfterMs: waitMs }),
    `Rate limit exceeded (${base.rule.name}): ${q.waiters.size} requests already wait for this key, the most maxQueue (${maxQueue}) allows`,
  );
}

/** @internal How many waiters a key's line holds, and how many entries its deadline heap; for tests. */
export function lineSize(source: AcquireSource, key: string): { waiters: number; deadlines: number } {
  const q = queues.get(source)?.get(key);
  return { waiters: q?.waiters.size ?? 0, deadlines: q?.deadlines.size ?? 0 };
}

/** `waitMs`: from now until it could go (the error's `retryAfterMs`); `totalMs`: the same, counted from the call. */
function tooLong(d: Decision, waitMs: number, totalMs: number, maxWaitMs: number): RateLimitError {
  const decision = waitMs === d.retryAfterMs ? d : reviseDecision(d, { retryAfterMs: waitMs });
  return new RateLimitError(
    decision,
    `Rate limit exceeded (${d.rule.name}): it could go in ${waitMs} ms, a wait of ${totalMs} ms in all, longer than maxWaitMs (${maxWaitMs} ms)`,
  );
}

function granted(source: AcquireSource, key: string, cost: number, d: Decision): Acquired {
  let refunded = false;
  return reviseDecision(d, {
    refund(): Promise<void> {
      if (refunded) return Promise.resolve();
      refunded = true;
      return source.refund(key, cost, { at: d.at, decision: d });
    },
  });
}
