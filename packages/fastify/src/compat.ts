// `@ratekeeper/fastify/compat`: @fastify/rate-limit 11's plugin, options and decorators on
// ratekeeper's engine. Switch by changing the import; see docs/migrating.md for what differs.
import type { ContextConfigDefault, FastifyPluginAsync, FastifySchema, preHandlerAsyncHookHandler, RouteGenericInterface } from 'fastify';
import fp from 'fastify-plugin';
import { normalizeIP } from './compat/ip';
import { plugin, type RateLimitHookHandler } from './compat/plugin';
import type { CheckRateLimit, FastifyRateLimitOptions, RateLimitOptions } from './compat/types';

export type {
  AddHeaders,
  AddHeadersOnExceeding,
  CheckRateLimit,
  CreateRateLimitOptions,
  ErrorResponseBuilderContext,
  errorResponseBuilderContext,
  FastifyRateLimitOptions,
  FastifyRateLimitStore,
  FastifyRateLimitStoreCtor,
  MaxOption,
  RateLimitHook,
  RateLimitOptions,
  RateLimitPluginOptions,
  RateLimitResult,
  StoreCallback,
  StoreResult,
  TimeWindowOption,
} from './compat/types';
export type { RateLimitHookHandler };

declare module 'fastify' {
  interface FastifyInstance<RawServer, RawRequest, RawReply, Logger, TypeProvider> {
    /**
     * A function that checks (and by default counts) one request with these options over the
     * plugin's, without answering it: `await check(request)`, or `check(request, { increment: false })`
     * to read the state only.
     */
    createRateLimit(options?: RateLimitOptions): CheckRateLimit;
    /**
     * An async hook limiting with these options over the plugin's (each call counts on its own),
     * e.g. `app.setNotFoundHandler({ preHandler: app.rateLimit() }, handler)`.
     */
    rateLimit<
      RouteGeneric extends RouteGenericInterface = RouteGenericInterface,
      ContextConfig = ContextConfigDefault,
      SchemaCompiler extends FastifySchema = FastifySchema,
    >(
      options?: RateLimitOptions,
    ): preHandlerAsyncHookHandler<RawServer, RawRequest, RawReply, RouteGeneric, ContextConfig, SchemaCompiler, TypeProvider, Logger>;
  }
}

/** The plugin, with @fastify/rate-limit's named members on it. */
export type FastifyRateLimit = FastifyPluginAsync<FastifyRateLimitOptions> & {
  /** The plugin itself (for `import()` and TypeScript's default-import interop). */
  readonly default: FastifyRateLimit;
  /** The plugin itself. */
  readonly fastifyRateLimit: FastifyRateLimit;
  /** The key the plugin derives from a client address by default. */
  readonly normalizeIP: typeof normalizeIP;
};

/**
 * @fastify/rate-limit 11 on ratekeeper: the same options (`max`, `timeWindow`, `global`, `hook`,
 * `keyGenerator`, `allowList`, `ban`, `continueExceeding`, `store`, `redis`, …), route
 * `config.rateLimit`, headers, errors and decorators (`fastify.rateLimit()`,
 * `fastify.createRateLimit()`), counted in ratekeeper's anchored window (from the key's first
 * request, as the original counts) in its memory or Redis store.
 * fastify-plugin gives it `.default` and `.fastifyRateLimit` (itself), as the original has.
 * @example
 * await app.register(fastifyRateLimit, { max: 100, timeWindow: '1 minute' });
 * app.get('/login', { config: { rateLimit: { max: 5, timeWindow: '1 minute' } } }, login);
 */
const fastifyRateLimit = Object.assign(fp(plugin, { fastify: '5.x', name: '@fastify/rate-limit' }), { normalizeIP }) as FastifyRateLimit;

export default fastifyRateLimit;
export { fastifyRateLimit, normalizeIP };
