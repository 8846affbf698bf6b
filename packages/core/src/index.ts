export type { Acquired, AcquireOptions } from './acquire/acquire';
export type { Decision, RuleDecision } from './decision';
export { type Duration, parseDuration } from './duration';
export { ConfigError, isConfigError, rejectUnknownOptions } from './errors/config-error';
export { isRateLimitError, RateLimitError } from './errors/rate-limit-error';
export { isRatekeeperError, RatekeeperError, type RatekeeperErrorCode } from './errors/ratekeeper-error';
export { isStoreError, StoreError } from './errors/store-error';
export { type LimitedBody, serializeBody } from './http/body';
export { DEFAULT_HEADER_FORMATS, type HeaderFormat, rateLimitHeaders, retryAfterSeconds } from './http/headers';
export { compileAllowList, normalizeIp } from './http/ip';
export { HTTP_OPTION_KEYS, type KeyPart, mergeRateLimitOptions, type RateLimitLogger, type RateLimitOptions } from './http/options';
export { createHttpLimiter, type HttpAdapter, HttpLimiter, type HttpOutcome } from './http/pipeline';
export {
  type ConsumeOptions,
  createLimiter,
  type Limiter,
  type LimiterOptions,
  type RefundOptions,
  type StoreErrorPolicy,
} from './limiter';
export { type Algorithm, type ResolvedRule, type Rule, resolveRule, resolveRules, SLIDING_LOG_MAX_LIMIT } from './rules';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory';
export type { BoundStore, RawResult, Store } from './stores/types';
export { allOf, anyOf, type CompositeDecision, type CompositeLimiter, type CompositeRefundOptions } from './throttle/compose';
export { type RateLimitedDecorator, type RateLimitedOptions, rateLimited } from './throttle/rate-limited';
export {
  type FetchLike,
  type RateLimitedFetch,
  type RateLimitedFetchOptions,
  rateLimitedFetch,
} from './throttle/rate-limited-fetch';
export { parseRetryAfter, retryAfterFromHeaders } from './throttle/retry-after';
export {
  type LimiterSource,
  type ThrottleCallOptions,
  type Throttled,
  type ThrottledCall,
  type ThrottleOptions,
  throttle,
} from './throttle/throttle';
