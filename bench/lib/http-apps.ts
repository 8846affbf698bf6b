import { type IncomingMessage, Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { serve } from '@hono/node-server';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
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

/**
 * What runs in front of the trivial `GET /` handler. The `rk-otel-*` and `*-traced-*` variants
 * (`--observe`) are ratekeeper's with OpenTelemetry in the server process: `otel` calls
 * `@ratekeeper/otel`'s `instrument()` on a real MeterProvider; `traced` registers a TracerProvider
 * and runs every request inside its own server span, as an HTTP instrumentation would.
 */
export type Variant =
  | 'bare'
  | 'rk-allow'
  | 'rk-block'
  | 'inc-allow'
  | 'inc-block'
  | 'rk-otel-allow'
  | 'rk-otel-block'
  | 'rk-traced-allow'
  | 'rk-otel-traced-allow';

/** Every variant of the default run, in the order they alternate within a round. */
export const VARIANTS: readonly Variant[] = ['bare', 'rk-allow', 'inc-allow', 'rk-block', 'inc-block'];

/** The variants of `--observe`: the default ones, each ratekeeper one next to its OpenTelemetry twin. */
export const OBSERVE_VARIANTS: readonly Variant[] = [
  'bare',
  'rk-allow',
  'rk-otel-allow',
  'inc-allow',
  'rk-block',
  'rk-otel-block',
  'inc-block',
  'rk-traced-allow',
  'rk-otel-traced-allow',
];

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

/** What a server's OpenTelemetry has recorded so far (`--observe` variants; empty for the others). */
export interface Observed {
  /** Sum of the `ratekeeper.decisions` counter. */
  decisions?: number;
  /** Request spans ended so far. */
  spans?: number;
  /** Of those, annotated with the decision (`ratekeeper.*` attributes). */
  annotated?: number;
}

/**
 * Installs what `variant` needs of OpenTelemetry in this process, before the app is built:
 * `otel`: a MeterProvider with a PeriodicExportingMetricReader (default 60 s interval) exporting to
 * memory, and `instrument({ meterProvider })` (spans on); `traced`: an AsyncLocalStorage context
 * manager, a TracerProvider with a BatchSpanProcessor whose exporter drops the spans, and a
 * server span around every request (started where `@opentelemetry/instrumentation-http` starts
 * it: `Server.prototype.emit('request')`). Returns a reader of what was recorded.
 */
export async function installObservability(variant: Variant): Promise<() => Promise<Observed>> {
  const counters: { spans?: number; annotated?: number } = {};
  let decisions: (() => Promise<number>) | undefined;
  if (variant.includes('-traced-')) {
    const [{ context, SpanKind, trace }, { AsyncLocalStorageContextManager }, { BatchSpanProcessor, TracerProvider }] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/context-async-hooks'),
      import('@opentelemetry/sdk-trace'),
    ]);
    counters.spans = 0;
    counters.annotated = 0;
    const exporter: SpanExporter = {
      export(spans, done) {
        counters.spans = (counters.spans ?? 0) + spans.length;
        counters.annotated = (counters.annotated ?? 0) + spans.filter((sp) => sp.attributes['ratekeeper.outcome'] !== undefined).length;
        done({ code: 0 });
      },
      shutdown: () => Promise.resolve(),
    };
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
    trace.setGlobalTracerProvider(provider);
    const tracer = provider.getTracer('bench-http-server');
    const emit = Server.prototype.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
    Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== 'request') return emit.call(this, event, ...args);
      const [req, res] = args as [IncomingMessage, ServerResponse];
      const span = tracer.startSpan(req.method ?? 'GET', {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method ?? '', 'url.path': req.url ?? '' },
      });
      res.once('finish', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        span.end();
      });
      return context.with(trace.setSpan(context.active(), span), () => emit.call(this, event, ...args));
    };
  }
  if (variant.startsWith('rk-otel-')) {
    const [{ instrument, METRICS }, { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader }] =
      await Promise.all([import('@ratekeeper/otel'), import('@opentelemetry/sdk-metrics')]);
    const reader = new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE) });
    instrument({ meterProvider: new MeterProvider({ readers: [reader] }) });
    decisions = async () => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((sc) => sc.metrics).find((m) => m.descriptor.name === METRICS.decisions);
      return (metric?.dataPoints ?? []).reduce((a, p) => a + (typeof p.value === 'number' ? p.value : 0), 0);
    };
  }
  return async () => ({ ...counters, ...(decisions ? { decisions: await decisions() } : {}) });
}

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
