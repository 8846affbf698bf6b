/** Injection token of the module's options (`RateLimitModule.forRoot`). */
export const RATE_LIMIT_OPTIONS = Symbol.for('ratekeeper.nestjs.options');

/** Metadata key of `@RateLimit(options)`. @internal */
export const RATE_LIMIT_METADATA = 'ratekeeper:rate-limit';

/** Metadata key of `@SkipRateLimit()`. @internal */
export const SKIP_METADATA = 'ratekeeper:skip-rate-limit';
