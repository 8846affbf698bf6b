// Entry point of `@ratekeeper/core/http`: the transport-neutral HTTP pipeline and its parts, for
// adapters (@ratekeeper/express, /fastify, /koa) and for anyone wiring ratekeeper into another
// server. Applications use an adapter, or `createLimiter` from `@ratekeeper/core`, instead.

// The pipeline: an adapter describes its framework (`HttpAdapter`) and applies each `HttpOutcome`.

export { createHttpLimiter, type HttpAdapter, HttpLimiter, type HttpOutcome } from './http/pipeline';
export type { RequestDecision } from './http/request-decision';
export { type Framework, wrongFrameworkError } from './http/wrong-framework';

// Node's http server (Express, Fastify, Koa): header lookup, headers and refunds on a ServerResponse.

export { finishOnClose, type NodeRequestLike, type NodeResponseLike, nodeHeader, setNodeHeaders } from './http/node';

// Fetch servers (@ratekeeper/web, @ratekeeper/hono): several limiters on one Request, headers on a Response.

export { applyOutcomeHeaders, lastDecision, recordOutcome, withOutcomeHeaders } from './http/fetch';

// Option handling, for adapters with options of their own and per-route options layered over app-wide ones.

export { rejectUnknownOptions } from './errors/config-error';
export { HTTP_OPTION_KEYS, type LooseRateLimitOptions, mergeRateLimitOptions } from './http/options';

// The response parts, for answering from a `Decision` outside the pipeline.

export { type LimitedBody, serializeBody } from './http/body';
export { DEFAULT_HEADER_FORMATS, rateLimitHeaders, retryAfterSeconds } from './http/headers';

// Client addresses as the pipeline keys and matches them (IPv6 grouped per /56, CIDR allow lists).

export { compileAllowList, normalizeIp } from './http/ip';
