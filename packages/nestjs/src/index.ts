// @ratekeeper/nestjs: module, guard and per-route decorators for NestJS controllers.

export type { Decision, Rule } from '@ratekeeper/core';
export { ConfigError, defineRules, MemoryStore } from '@ratekeeper/core';
export type { RequestDecision } from '@ratekeeper/core/http';
export { RateLimit, SkipRateLimit } from './decorators';
export { type RateLimitErrorExtensions, RateLimitException, RateLimitGraphQLException } from './exception';
export { RateLimitGuard } from './guard';
export { RateLimitModule, type RateLimitModuleAsyncOptions } from './module';
export type { NestRequest, NestWsRequest, RateLimitDecoratorOptions, RateLimitedRequest, RateLimitModuleOptions } from './options';
export { RATE_LIMIT_OPTIONS } from './tokens';
