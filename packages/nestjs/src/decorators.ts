import { SetMetadata } from '@nestjs/common';
import type { NestRequest, RateLimitDecoratorOptions } from './options';
import { RATE_LIMIT_METADATA, SKIP_METADATA } from './tokens';

/**
 * Rate limits for a controller (every handler of the class counts in one bucket per key) or one
 * handler (its own bucket): options layered over the module's, a method's over its class's.
 * @example
 * ```ts
 * @Controller('auth')
 * class AuthController {
 *   @RateLimit({ limit: 5, window: '1m' })
 *   @Post('login')
 *   login() {}
 * }
 * ```
 */
export function RateLimit<Req = NestRequest>(options: RateLimitDecoratorOptions<Req>): ClassDecorator & MethodDecorator {
  return SetMetadata(RATE_LIMIT_METADATA, options);
}

/** No rate limit at all for this controller or handler (every limit, the module's included). */
export function SkipRateLimit(): ClassDecorator & MethodDecorator {
  return SetMetadata(SKIP_METADATA, true);
}
