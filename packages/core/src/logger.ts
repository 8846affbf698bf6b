/**
 * Where ratekeeper's one-time warnings go (a store outage, `X-Forwarded-For` without trust proxy):
 * the app's logger, such as Fastify's `fastify.log`, pino, winston or `console`. Without one they
 * are process warnings.
 */
export interface RateLimitLogger {
  warn(message: string): void;
}

/** @internal Validates a `logger` option. */
export function isLogger(value: unknown): value is RateLimitLogger {
  return typeof value === 'object' && value !== null && typeof (value as RateLimitLogger).warn === 'function';
}
