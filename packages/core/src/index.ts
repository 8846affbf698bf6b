// Entry point of `@ratekeeper/core`: the application API. The HTTP pipeline that adapters are built
// on is `@ratekeeper/core/http`; the Redis store is `@ratekeeper/core/redis`.

// The limiter and its decisions: what every user of the library calls.

export type { Acquired, AcquireOptions } from './acquire/acquire';
export type { Decision, RuleDecision } from './decision';
export {
  type ConsumeOptions,
  createLimiter,
  type Limiter,
  type LimiterOptions,
  type LimiterStoreOptions,
  type RefundOptions,
  type StoreErrorPolicy,
} from './limiter';

// Adaptive limits: every rule's limit follows a load signal of the process.

export { type AdaptiveLoad, adaptiveLoad } from './adaptive/adaptive-load';
export type { AdaptiveHysteresis, AdaptiveOptions, AdaptiveSteps, LoadSignal } from './adaptive/options';

// Rules and durations: users write them in options; a `Decision` names its `ResolvedRule`.

export { type Duration, parseDuration } from './duration';
export {
  type Algorithm,
  type AlgorithmChoice,
  type BurstAlgorithm,
  defineRules,
  type ResolvedRule,
  type Rule,
  type RuleFields,
  type RuleOptions,
  resolveRule,
  resolveRules,
  SLIDING_LOG_MAX_LIMIT,
} from './rules';

// Errors users catch or receive in `onError`, with guards that work across two installed copies of core.

export { ConfigError, isConfigError } from './errors/config-error';
export { isRateLimitError, RateLimitError } from './errors/rate-limit-error';
export { isRatekeeperError, RatekeeperError, type RatekeeperErrorCode } from './errors/ratekeeper-error';
export { isStoreError, StoreError } from './errors/store-error';

// Stores: users pass one (`store`, `onStoreError`) or implement `Store` for another backend.

export { MemoryStore, type MemoryStoreOptions } from './stores/memory';
export type { BindOptions, BoundStore, RawResult, Store } from './stores/types';

// The options every HTTP adapter accepts, so an application can type them once for any framework.

export type { ConcurrencyOption } from './http/concurrency';
export type { HeaderFormat } from './http/headers';
export type {
  HttpOptions,
  HttpRules,
  KeyChoice,
  KeyOption,
  KeyPart,
  RateLimitLogger,
  RateLimitOptions,
  RateLimitOverrides,
  UserOption,
} from './http/options';

// Concurrency: at most N holders per key at once.

export {
  type ConcurrencyAcquireOptions,
  type ConcurrencyLimiter,
  type ConcurrencyLimiterOptions,
  createConcurrencyLimiter,
} from './concurrency/concurrency-limiter';
export type { Lease } from './concurrency/lease';
export type { ConcurrencySlots, SlotResult } from './stores/types';

// Observability: every decision, store error and recovery on node:diagnostics_channel.

export { CHANNELS } from './observe/channels';
export type { DecisionEvent, DecisionOutcome, DecisionSource, RecoverEvent, StoreErrorEvent } from './observe/events';
export { type DecisionObservation, type DecisionObserver, observeDecisions } from './observe/observers';
export { type DecisionLabels, DecisionTally } from './observe/tally';

// Outgoing calls: wait for a turn, compose limiters, obey a server's Retry-After.

export { type AllOf, allOf, anyOf, type CompositeDecision, type CompositeLimiter, type CompositeRefundOptions } from './throttle/compose';
export type { GatedAcquired, GatedLimiter } from './throttle/gated';
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
