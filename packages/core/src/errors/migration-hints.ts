/**
 * Option names of the incumbents (express-rate-limit, @fastify/rate-limit, koa-ratelimit,
 * rate-limiter-flexible, @nestjs/throttler) and what ratekeeper calls them: an unknown option that
 * is one of these gets this hint instead of a list of every option. `docs/migrating.md` has the
 * full tables.
 */
export const MIGRATION_HINTS: Readonly<Record<string, string>> = Object.freeze({
  max: 'ratekeeper calls it `limit` (requests per window)',
  points: 'ratekeeper calls it `limit` (requests per window)',
  windowMs: "ratekeeper calls it `window` (milliseconds, or a string such as '15m')",
  timeWindow: "ratekeeper calls it `window` (milliseconds, or a string such as '15m')",
  ttl: "ratekeeper calls it `window` (milliseconds, or a string such as '15m')",
  duration: "ratekeeper calls it `window`, in milliseconds or a string such as '15m' (rate-limiter-flexible's `duration` is in seconds)",
  blockDuration: "ratekeeper calls it `blockFor` (milliseconds or '15m')",
  standardHeaders: "use `headers: 'draft-6' | 'draft-7' | 'draft-8'` (or an array, e.g. ['legacy', 'draft-8'])",
  legacyHeaders: "use `headers` with 'legacy' in it (X-RateLimit-*), or leave 'legacy' out",
  enableDraftSpec: "use `headers: 'draft-6'` (RateLimit-Limit, -Remaining, -Reset)",
  addHeaders: 'use `headers: [...formats]` or `headers: false`',
  addHeadersOnExceeding: 'use `headers: [...formats]` or `headers: false`',
  disableHeader: 'use `headers: false`',
  keyGenerator: "use `key: (req) => string` (or 'ip', 'user', 'route', or an array of them)",
  id: "use `key: (req) => string` (or 'ip', 'user', 'route', or an array of them)",
  handler: 'use `message` (a value or `(req, decision) => body`), `statusCode` and `onLimited`',
  errorResponseBuilder: 'use `message: (req, decision) => body` and `statusCode`',
  errorMessage: 'use `message`',
  onExceeded: 'use `onLimited: (req, decision) => void`',
  skipFailedRequests: 'use `countResponse: (status) => status < 400` (responses it rejects are refunded)',
  skipSuccessfulRequests: 'use `countResponse: (status) => status >= 400` (responses it rejects are refunded)',
  requestWasSuccessful: 'use `countResponse: (status, req) => boolean`',
  passOnStoreError: "use `onStoreError: 'allow'` (or 'deny', or an insurance store)",
  skipOnError: "use `onStoreError: 'allow'` (or 'deny', or an insurance store)",
  insuranceLimiter: 'use `onStoreError: new MemoryStore()`',
  whitelist: 'use `allowList` (addresses/CIDR ranges or a predicate), or `skip`',
  allowlist: 'use `allowList` (capital L)',
  keyPrefix: 'use `prefix`',
  nameSpace: 'use `prefix`',
  namespace: 'use `prefix`',
  storeClient: 'use `store: new RedisStore({ client })` from @ratekeeper/core/redis',
  redis: 'use `store: new RedisStore({ client })` from @ratekeeper/core/redis',
  db: 'use `store: new RedisStore({ client })` from @ratekeeper/core/redis (or the default MemoryStore)',
  driver: 'use `store` (the default is the embedded MemoryStore; RedisStore from @ratekeeper/core/redis)',
  requestPropertyName: 'the decision is always on `req.rateLimit` (`request.rateLimit`, `ctx.state.rateLimit`)',
  identifier: 'name a rule: `rules: [{ limit, window, name }]`',
});

/** Duration units of other libraries (`'15min'`, `'10 seconds'`) and ratekeeper's. */
const UNITS: Readonly<Record<string, string>> = {
  sec: 's',
  secs: 's',
  second: 's',
  seconds: 's',
  min: 'm',
  mins: 'm',
  minute: 'm',
  minutes: 'm',
  hr: 'h',
  hrs: 'h',
  hour: 'h',
  hours: 'h',
  day: 'd',
  days: 'd',
  millisecond: 'ms',
  milliseconds: 'ms',
};

/** `'15min'` → `'15m'`: the spelling ratekeeper accepts, for an error message; undefined if none fits. */
export function durationHint(value: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(value);
  const unit = m?.[2] === undefined ? undefined : UNITS[m[2].toLowerCase()];
  return m === null || unit === undefined ? undefined : `'${m[1]}${unit}'`;
}
