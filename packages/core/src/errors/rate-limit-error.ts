import type { Decision } from '../decision';
import { hasCode, RatekeeperError } from './ratekeeper-error';

/**
 * A request was refused: thrown by waiting acquisition when the wait would exceed `maxWaitMs`
 * (or `wait: false`), and by `throttle`d functions. Carries the refusing {@link Decision}.
 */
export class RateLimitError extends RatekeeperError {
  /** The decision that refused the request. */
  readonly decision: Decision;
  /** Milliseconds until the same request would be allowed (`Infinity` if it never can). */
  readonly retryAfterMs: number;

  constructor(decision: Decision, message?: string) {
    const wait = Number.isFinite(decision.retryAfterMs) ? `retry in ${decision.retryAfterMs} ms` : 'it can never be allowed';
    super('ERR_RK_RATE_LIMITED', message ?? `Rate limit exceeded (${decision.rule.name}): ${wait}`);
    this.decision = decision;
    this.retryAfterMs = decision.retryAfterMs;
  }
}

/** True when `value` is a {@link RateLimitError}. */
export function isRateLimitError(value: unknown): value is RateLimitError {
  return hasCode(value, 'ERR_RK_RATE_LIMITED');
}
