/**
 * Whether a store that can fail (Redis) is usable: one state shared by every limiter bound to the
 * store, so they all fail over together and all return together. A circuit breaker:
 *
 * - **up**: calls go to the store.
 * - **down**: calls are answered by each limiter's `onStoreError` policy without touching the
 *   store, so nothing piles up in a client queue or a socket while the store does not answer.
 *   At most one call at a time goes through as a probe, and only once the store's connection is
 *   ready and `retryAfterMs` has passed since the last failure.
 *
 * It turns up the moment there is evidence: the connection reports ready (a connection event, not
 * a timer), a probe answers, or any reply arrives, even one that came too late for its request.
 * @internal
 */
export class StoreHealth {
  #down = false;
  /** `performance.now()` when the current outage began. */
  #downAt = 0;
  #lastOutageMs = 0;
  #probing = false;
  #retryAt = 0;
  #recoveries = 0;
  #outages = 0;
  #lastError: unknown;
  #connected: () => boolean;

  /** `connected`: whether the store's connection can send now (a probe is pointless before). */
  constructor(connected: () => boolean = () => true) {
    this.#connected = connected;
  }

  /** True while the store is considered failing. */
  get down(): boolean {
    return this.#down;
  }

  /** How many times the store came back; limiters compare it with what they saw to report recovery once. */
  get recoveries(): number {
    return this.#recoveries;
  }

  /** How many times the store went down; limiters compare it with what they saw to report each outage once. */
  get outages(): number {
    return this.#outages;
  }

  /** Whether the store's connection can send now. */
  get connected(): boolean {
    return this.#connected();
  }

  /** The latest error the store's connection reported (e.g. WRONGPASS), for messages while down. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /**
   * Decides where a call goes: `'store'` (up), `'probe'` (down, and this call is the one probe
   * allowed now: the caller must settle it with `succeeded`/`failed`), or `'policy'`.
   */
  route(nowMs: number): 'store' | 'probe' | 'policy' {
    if (!this.#down) return 'store';
    if (this.#probing || nowMs < this.#retryAt || !this.#connected()) return 'policy';
    this.#probing = true;
    return 'probe';
  }

  /** A call (or probe) answered in time. */
  succeeded(): void {
    this.#probing = false;
    this.up();
  }

  /**
   * A call (or probe) failed or timed out; `retryAfterMs` later a probe may go. Returns true when
   * this failure took the store down (the first of an outage).
   */
  failed(error: unknown, nowMs: number, retryAfterMs: number, wasProbe: boolean): boolean {
    if (wasProbe) this.#probing = false;
    // A timeout says nothing new about why: keep the connection's own error (e.g. WRONGPASS).
    if (!isTimeout(error)) this.#lastError = error instanceof Error && error.cause !== undefined ? error.cause : error;
    this.#retryAt = nowMs + retryAfterMs;
    if (this.#down) return false;
    this.#goDown();
    return true;
  }

  /** A probe that timed out is still in flight: no other probe until it answers or fails. */
  probeStillPending(): void {
    this.#probing = true;
  }

  /** A probe that timed out has finally settled (answered or failed). */
  probeSettled(): void {
    this.#probing = false;
  }

  /** Evidence the store works (connection ready, a reply arrived): usable again at once. */
  up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#probing = false;
    this.#recoveries++;
    this.#lastOutageMs = performance.now() - this.#downAt;
  }

  /** The connection dropped or reported an error: down at once, before any call has to time out. */
  lost(error: unknown): void {
    this.#lastError = error;
    if (this.#down) return;
    this.#goDown();
  }

  #goDown(): void {
    this.#down = true;
    this.#outages++;
    this.#downAt = performance.now();
  }

  /** How long the latest outage lasted (ms), once it has ended. */
  get lastOutageMs(): number {
    return this.#lastOutageMs;
  }

  /** Records a connection error without changing the state (the connection may still recover by itself). */
  noteError(error: unknown): void {
    this.#lastError = error;
  }
}

function isTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { timedOut?: unknown }).timedOut === true;
}

const answered = new WeakSet<object>();

/** Marks an error that the store sent as a reply (it is alive), e.g. a script that refused to run late. @internal */
export function markAnswered<E extends object>(error: E): E {
  answered.add(error);
  return error;
}

/** True for an error that proves the store answered. @internal */
export function wasAnswered(error: unknown): boolean {
  return typeof error === 'object' && error !== null && answered.has(error);
}
