import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { serve } from '@hono/node-server';
import { rateLimit as rkExpress } from '@ratekeeper/express';
import { rateLimitPlugin as rkFastify } from '@ratekeeper/fastify';
import { rateLimit as rkHono } from '@ratekeeper/hono';
import { rateLimit as rkKoa } from '@ratekeeper/koa';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';

// Peers are loaded from bench/node_modules exactly as installed (CommonJS; typed here by the
// members used, since koa-ratelimit ships no types).
const require = createRequire(import.meta.url);

/** The frameworks measured. */
export const FRAMEWORKS = ['express', 'fastify', 'koa', 'hono'] as const;
/** One of {@link FRAMEWORKS}. */
export type Framework = (typeof FRAMEWORKS)[number];

/** What runs in front of the trivial `GET /` handler. */
export type Variant = 'bare' | 'rk-allow' | 'rk-block' | 'inc-allow' | 'inc-block';

/** Every variant, in the order they alternate within a round. */
export const VARIANTS: readonly Variant[] = ['bare', 'rk-allow', 'inc-allow', 'rk-block', 'inc-block'];

/** Limit of the "nothing blocked" variants: never reached by a benchmark run. */
export const ALLOW_LIMIT = 1e9;
/**
 * Limit per minute of the "most requests 429" variants. Low enough that even a fixed window
 * rolling over during a measured round (up to this many more allowed) keeps the 429 share above
 * 99 % at a few thousand requests per second.
 */
export const BLOCK_LIMIT = 100;
/** The window of every limited variant. */
export const WINDOW_MS = 60_000;

/** The incumbent limiter of each framework. */
export const INCUMBENT: Readonly<Record<Framework, string>> = {
  express: 'express-rate-limit',
  fastify: '@fastify/rate-limit',
  koa: 'koa-ratelimit (memory)',
  hono: 'hono-rate-limiter',
};

type Handler = (...args: never[]) => unknown;

/** Starts `variant` of `framework` on 127.0.0.1 (ephemeral port); resolves with the listening server. */
export async function startApp(framework: Framework, variant: Variant): Promise<Server> {
  const limit = variant.endsWith('-allow') ? ALLOW_LIMIT : BLOCK_LIMIT;
  const rk = variant.startsWith('rk-');
  const limited = variant !== 'bare';
  switch (framework) {
    case 'express': {
      const app = express();
      if (limited && rk) app.use(rkExpress({ limit, window: WINDOW_MS }));
      if (limited && !rk) {
        const erl = require('express-rate-limit') as { rateLimit: (o: object) => Handler };
        app.use(erl.rateLimit({ windowMs: WINDOW_MS, limit }) as never);
      }
      app.get('/', (_req, res) => {
        res.send('hello');
      });
      return listen((port, cb) => app.listen(port, '127.0.0.1', cb));
    }
    case 'fastify': {
      const app = Fastify({ logger: false });
      if (limited && rk) await app.register(rkFastify, { limit, window: WINDOW_MS });
      if (limited && !rk) {
        const plugin = require('@fastify/rate-limit') as Handler;
        await app.register(plugin as never, { max: limit, timeWindow: WINDOW_MS } as never);
      }
      app.get('/', async () => 'hello');
      await app.listen({ port: 0, host: '127.0.0.1' });
      return app.server;
    }
    case 'koa': {
      const app = new Koa();
      if (limited && rk) app.use(rkKoa({ limit, window: WINDOW_MS }));
      if (limited && !rk) {
        const ratelimit = require('koa-ratelimit') as (o: object) => Koa.Middleware;
        app.use(ratelimit({ driver: 'memory', db: new Map(), duration: WINDOW_MS, max: limit, id: (ctx: Koa.Context) => ctx.ip }));
      }
      app.use((ctx) => {
        ctx.body = 'hello';
      });
      return listen((port, cb) => app.listen(port, '127.0.0.1', cb));
    }
    case 'hono': {
      // On @hono/node-server; both limiters key by the socket's address.
      const app = new Hono<{ Bindings: { incoming: { socket: { remoteAddress?: string } } } }>();
      if (limited && rk) app.use(rkHono({ limit, window: WINDOW_MS }));
      if (limited && !rk) {
        const { rateLimiter } = require('hono-rate-limiter') as { rateLimiter: (o: object) => Handler };
        const keyGenerator = (c: { env: { incoming: { socket: { remoteAddress?: string } } } }) =>
          c.env.incoming.socket.remoteAddress ?? '';
        app.use(rateLimiter({ windowMs: WINDOW_MS, limit, keyGenerator }) as never);
      }
      app.get('/', (c) => c.text('hello'));
      return new Promise((resolve) => {
        const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(server as Server));
      });
    }
  }
}

function listen(start: (port: number, cb: () => void) => Server): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = start(0, () => resolve(server));
    server.once('error', reject);
  });
}
