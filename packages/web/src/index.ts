// @ratekeeper/web: rate limiting for Fetch-API servers (Next.js, Bun, Deno, Cloudflare Workers).

export type { Decision, Rule } from '@ratekeeper/core';
export { ConfigError, defineRules, MemoryStore, RateLimitError } from '@ratekeeper/core';
export type { RequestDecision } from '@ratekeeper/core/http';
export { bunIp, cloudflareIp, denoIp, flyIp, forwardedFor, type IpResolver, vercelIp } from './ip';
export {
  type CheckOptions,
  type CheckResult,
  createRateLimiter,
  type FetchHandler,
  getRateLimit,
  type WebRateLimiter,
  type WebRateLimitOptions,
  type WrapOptions,
} from './limiter';
