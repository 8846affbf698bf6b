// Prelude `fastify-handlers`: the application's own Fastify route handlers a block routes to.
import type { RouteHandlerMethod } from 'fastify';

declare const search: RouteHandlerMethod;
declare const health: RouteHandlerMethod;
