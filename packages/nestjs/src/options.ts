import type { RateLimitOverrides } from '@ratekeeper/core';
import type { RequestDecision } from '@ratekeeper/core/http';

/**
 * The request the options' functions receive: the platform's (`express.Request` or Fastify's
 * `FastifyRequest` over HTTP; for GraphQL the request in the GraphQL context, `req` or
 * `request`; for a WebSocket gateway a {@link NestWsRequest}). Give your own type as the type
 * parameter of `forRoot` / `@RateLimit` to reach `req.user` and friends.
 */
export interface NestRequest {
  readonly ip?: string | undefined;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** The request of a gateway's message (`@nestjs/websockets`), built by the guard for each message. */
export interface NestWsRequest extends NestRequest {
  /** The client's address: socket.io's `handshake.address`, or the `ws` socket's `remoteAddress`. */
  readonly ip: string | undefined;
  /** socket.io's handshake headers; empty with `ws`. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The gateway's client: a socket.io `Socket` or a `ws` `WebSocket`. */
  readonly client: unknown;
  /** The event (`@SubscribeMessage('event')`): what `key: 'route'` uses. */
  readonly event: string;
  /** The message's payload. */
  readonly data: unknown;
}

/**
 * Options of `@RateLimit()` on a controller class or a handler method: the HTTP options of every
 * ratekeeper adapter. Method options override class options override module options; the rules
 * (`limit`/`window`/`algorithm`/`burst`/`blockFor`/`name`, or `rules`) are taken as a whole.
 */
export type RateLimitDecoratorOptions<Req = NestRequest> = RateLimitOverrides<Req>;

/** Options of `RateLimitModule.forRoot`: defaults for every route, and whether the guard is global. */
export type RateLimitModuleOptions<Req = NestRequest> = RateLimitOverrides<Req> & {
  /**
   * Register `RateLimitGuard` as a global guard (`APP_GUARD`). With `false`, put it on
   * controllers or handlers yourself with `@UseGuards(RateLimitGuard)`. @default true
   */
  global?: boolean;
};

/**
 * What the guard adds to a request it counted: intersect it with your platform's request type.
 * @example
 * ```ts
 * @Controller('auth')
 * class AuthController {
 *   @Post('login')
 *   login(@Req() req: Request & RateLimitedRequest) {
 *     return req.rateLimit?.remaining;
 *   }
 * }
 * ```
 */
export interface RateLimitedRequest {
  /** The decision of the limiter that counted this request, with its `key`, `refund()` and `reset()`. */
  rateLimit?: RequestDecision;
}
