// Entry point of `@ratekeeper/express/compat`: express-rate-limit 8's API (its options, defaults,
// headers, stores and module shape) on ratekeeper's engine. Switching is one line:
// `import rateLimit from 'express-rate-limit'` becomes `import rateLimit from '@ratekeeper/express/compat'`.
// In CommonJS, `require('@ratekeeper/express/compat')` is the function itself, with these names on it.

import { rateLimit } from './compat/rate-limit';

export { ipKeyGenerator } from './compat/ip-key-generator';
export { MemoryStore } from './compat/memory-store';
export type {
  AugmentedRequest,
  ClientRateLimitInfo,
  DraftHeadersVersion,
  EnabledValidations,
  IncrementCallback,
  IncrementResponse,
  LegacyStore,
  Logger,
  LoggerFn,
  Options,
  RateLimitExceededEventHandler,
  RateLimitInfo,
  RateLimitRequestHandler,
  Store,
  ValidationName,
  ValueDeterminingMiddleware,
} from './compat/types';
export { rateLimit };

/** One second in milliseconds, for `windowMs`. */
export const SECOND = 1000;
/** One minute in milliseconds. */
export const MINUTE = 60 * SECOND;
/** One hour in milliseconds. */
export const HOUR = 60 * MINUTE;
/** One day in milliseconds. */
export const DAY = 24 * HOUR;

// express-rate-limit's main export is its default one (`import rateLimit from 'express-rate-limit'`).
export default rateLimit;
