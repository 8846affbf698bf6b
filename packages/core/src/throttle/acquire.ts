import type { Decision } from '../decision';
import type { Limiter } from '../limiter';

/** Options of `limiter.acquire`. */
export interface AcquireOptions {
  /** Units to take. @default 1 */
  cost?: number;
  /** Reject at once with `RateLimitError` when the wait would be longer. @default Infinity */
  maxWaitMs?: number;
  /** Aborting removes the waiter; nothing is consumed. */
  signal?: AbortSignal;
}

/** A granted acquisition: the decision, and `refund()` to give the units back. */
export type Acquired = Decision & { refund(): Promise<void> };

/** @internal Placeholder until the throttle module lands. */
export function acquire(_limiter: Limiter, _key: string, _options?: AcquireOptions): Promise<Acquired> {
  return Promise.reject(new Error('acquire is not implemented yet'));
}
