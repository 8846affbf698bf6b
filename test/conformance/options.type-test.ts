// Compiled by `pnpm typecheck` (strict), never run: what the HTTP options accept and refuse.
import { createLimiter, defineRules, type Rule } from '@ratekeeper/core';
import type { RequestDecision } from '@ratekeeper/core/http';
import { rateLimit as expressRateLimit } from '@ratekeeper/express';
import { rateLimitPlugin } from '@ratekeeper/fastify';
import { rateLimit as koaRateLimit } from '@ratekeeper/koa';
import Fastify from 'fastify';
import Koa from 'koa';

// Tiered plans: an object literal widens '1m' to string, which is not a Duration under strict...
const widened = { free: [{ limit: 5, window: '1m' }] };
// @ts-expect-error string is not assignable to Duration
export const refused: readonly Rule[] = widened.free;
// ...defineRules (or `satisfies`) keeps the literal.
const plans = { free: defineRules([{ limit: 5, window: '1m', name: 'free' }]), pro: defineRules([{ limit: 50, window: '1m' }]) };
const satisfied = { free: [{ limit: 5, window: '1m' }] } satisfies Record<string, readonly Rule[]>;
export const express = expressRateLimit({ rules: (req) => (req.headers['x-plan'] === 'pro' ? plans.pro : satisfied.free) });

// cost: a number or a function of the request; the middleware exposes its limiter.
export const costly = expressRateLimit({ limit: 10, window: '1s', cost: (req) => Number(req.headers['x-cost'] ?? 1) });
export const limit: number | undefined = costly.limiter?.rules[0]?.limit;
// @ts-expect-error cost is a number or a function, not a string
expressRateLimit({ limit: 10, window: '1s', cost: '2' });
// countResponse sees the request too.
expressRateLimit({ limit: 10, window: '1s', countResponse: (status, req) => status < 500 && req.method !== 'HEAD' });

// Koa: ctx.state.rateLimit is typed, with the key and this request's refund/reset.
const app = new Koa();
app.use(koaRateLimit({ limit: 5, window: '1m' }));
app.use(async (ctx) => {
  const d: RequestDecision | undefined = ctx.state.rateLimit;
  if (d !== undefined && ctx.status < 400) await d.refund();
  ctx.body = d?.key;
});

// Fastify: route config is typed (a misspelt option is refused when the route is registered).
const fastify = Fastify();
void fastify.register(rateLimitPlugin, { limit: 100, window: '1m' });
fastify.get('/a', { config: { rateLimit: { limit: 5, window: '1m', cost: 2 } } }, async () => 'ok');
fastify.get('/c', { config: { rateLimit: false } }, async () => 'ok');

// Contradictions are type errors (each also a ConfigError at run time).
// @ts-expect-error `limit` with `rules`
expressRateLimit({ rules: [{ limit: 5, window: '1m' }], limit: 5 });
// @ts-expect-error `window` with `rules`
koaRateLimit({ rules: () => plans.free, window: '1m' });
// @ts-expect-error key 'user' without `user`
expressRateLimit({ limit: 5, window: '1m', key: 'user' });
expressRateLimit({ limit: 5, window: '1m', key: 'user', user: (req) => req.get('x-user') });
// @ts-expect-error burst on a window algorithm (the default is the sliding window)
expressRateLimit({ limit: 5, window: '1m', burst: 10 });
// @ts-expect-error burst on a window algorithm, in a rule
createLimiter({ rules: [{ limit: 5, window: '1m', algorithm: 'fixed-window', burst: 10 }] });
createLimiter({ rules: [{ limit: 5, window: '1s', algorithm: 'token-bucket', burst: 10 }] });
// @ts-expect-error `limit` with `rules`, on the core limiter too
createLimiter({ rules: [{ limit: 5, window: '1m' }], limit: 5 });

// Fastify route config: contradictions are refused; `key: 'user'` may use the plugin's `user`.
// (A misspelt name compiles: Fastify infers the config's type from the route's own object, so
// TypeScript cannot refuse extra names there; the plugin throws a ConfigError when the route is added.)
fastify.get('/user', { config: { rateLimit: { key: 'user', hook: 'preHandler' } } }, async () => 'ok');
// @ts-expect-error `limit` with `rules` in a route config
fastify.get('/both', { config: { rateLimit: { rules: plans.pro, limit: 5 } } }, async () => 'ok');
void fastify.register(rateLimitPlugin, {
  limit: 5,
  window: '1m',
  algorithm: 'gcra',
  burst: 10,
  key: 'user',
  user: (request) => request.headers['x-user'] as string | undefined,
});

// concurrency: alone or beside the rules, on every adapter; its fields are typed.
expressRateLimit({ concurrency: { max: 5 } });
koaRateLimit({ limit: 100, window: '1m', concurrency: { max: 5, leaseMs: '30s', statusCode: 503 } });
fastify.get('/export', { config: { rateLimit: { concurrency: { max: 2 } } } }, async () => 'ok');
// @ts-expect-error `max` is a number
expressRateLimit({ concurrency: { max: '5' } });
// @ts-expect-error `max` is required
expressRateLimit({ concurrency: { leaseMs: '1m' } });
// @ts-expect-error an unknown field of `concurrency`
expressRateLimit({ concurrency: { max: 5, lease: '1m' } });
// @ts-expect-error `limit` with `rules`, concurrency or not
expressRateLimit({ rules: [{ limit: 5, window: '1m' }], limit: 5, concurrency: { max: 1 } });
