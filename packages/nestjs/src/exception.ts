import { HttpException } from '@nestjs/common';
import type { RequestDecision } from '@ratekeeper/core/http';

/**
 * The limited answer, thrown by `RateLimitGuard` so exception filters see it: status 429 (or the
 * `statusCode` option), the `message` option as the response (the default text becomes Nest's
 * `{ statusCode, message }` JSON), the rate-limit headers (already set on the HTTP response), the
 * decision and `retryAfter` in seconds.
 */
export class RateLimitException extends HttpException {
  /** The headers the limited response carries (`Retry-After`, `X-RateLimit-*`, `RateLimit*`). */
  readonly headers: Readonly<Record<string, string>>;
  /** Seconds until the same request may pass (absent other traffic). */
  readonly retryAfter: number;

  constructor(
    response: string | object,
    status: number,
    headers: Readonly<Record<string, string>>,
    /** The decision that denied the request. */
    readonly decision: RequestDecision,
  ) {
    super(response, status);
    this.headers = headers;
    this.retryAfter = Number.isFinite(decision.retryAfterMs) ? Math.ceil(decision.retryAfterMs / 1000) : -1;
  }
}
