import type { Decision } from '../decision';
import type { StoreError } from '../errors/store-error';

/**
 * Who answered a request: the limiter's `store`, its `onStoreError` insurance store (`fallback`),
 * or its `onStoreError` policy (`'allow'` / `'deny'`) while the store failed.
 */
export type DecisionSource = 'store' | 'fallback' | 'policy';

/**
 * The outcome of a decision for metrics: `allowed` and `limited` by the store, `failed_open` /
 * `failed_closed` by the `'allow'` / `'deny'` policy while the store failed, `fallback` by the
 * insurance store.
 */
export type DecisionOutcome = 'allowed' | 'limited' | 'failed_open' | 'failed_closed' | 'fallback';

/**
 * Published on `ratekeeper:decision` for every `consume`, `peek`, `consumeSync` and HTTP decision.
 * Metrics must not use `key` as a label (unbounded, and personal data).
 */
export interface DecisionEvent {
  /** The limiter's `name` ('' when it has none). */
  readonly limiter: string;
  readonly operation: 'consume' | 'peek';
  /** The key as stored (a long key is hashed): for logs and traces, never a metric label. */
  readonly key: string;
  readonly cost: number;
  readonly allowed: boolean;
  readonly outcome: DecisionOutcome;
  readonly source: DecisionSource;
  /** Names of the limiter's rules, in order. */
  readonly rules: readonly string[];
  /** Name of the binding rule: the one that denied (longest wait), or the one with least remaining. */
  readonly rule: string;
  readonly remaining: number;
  readonly retryAfterMs: number;
  /**
   * Milliseconds from sending to the store to its answer (or to the policy's, after a failure); 0
   * for a decision made synchronously in the process (`async: false`), which does no I/O and is not
   * timed.
   */
  readonly durationMs: number;
  /**
   * True when the answer came back asynchronously (a network store such as Redis, or a timeout);
   * false when it was decided synchronously in this process (the memory store, or the policy while
   * the circuit is open), where `durationMs` measures no I/O.
   */
  readonly async: boolean;
  /** The decision itself. */
  readonly decision: Decision;
}

/** Published on `ratekeeper:store-error` for every store failure a limiter sees. */
export interface StoreErrorEvent {
  readonly limiter: string;
  readonly operation: StoreError['operation'];
  readonly error: StoreError;
  /** What answers requests meanwhile: the `onStoreError` policy, or `'fallback'` for an insurance store. */
  readonly policy: 'allow' | 'deny' | 'fallback';
}

/** Published on `ratekeeper:recover` once per limiter and outage, when its store answers again. */
export interface RecoverEvent {
  readonly limiter: string;
  /** How long the store was down, as this process saw it (ms). */
  readonly outageMs: number;
}
