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

/** The `extensions` of the GraphQL error a limited operation answers with. */
export interface RateLimitErrorExtensions {
  /** `'RATE_LIMITED'`. */
  readonly code: 'RATE_LIMITED';
  /** Seconds until the same operation may pass (absent other traffic); -1 when never (a store failure). */
  readonly retryAfter: number;
  readonly [key: string]: unknown;
}

/**
 * The limited answer to a GraphQL operation (`@nestjs/graphql`): a `RateLimitException` (so
 * `@Catch(RateLimitException)` filters see it) whose `message` is the `message` option's text and
 * whose `extensions` (`code: 'RATE_LIMITED'`, `retryAfter`) GraphQL copies into the response's
 * `errors[n].extensions`. It is not turned into an `INTERNAL_SERVER_ERROR` by `@nestjs/apollo`,
 * which rewrites only exceptions with an object response.
 */
export class RateLimitGraphQLException extends RateLimitException {
  /** What `graphql` puts in the error's `extensions` (it reads `originalError.extensions`). */
  readonly extensions: RateLimitErrorExtensions;

  constructor(message: string, status: number, headers: Readonly<Record<string, string>>, decision: RequestDecision) {
    super(message, status, headers, decision);
    this.extensions = { code: 'RATE_LIMITED', retryAfter: this.retryAfter };
  }
}
