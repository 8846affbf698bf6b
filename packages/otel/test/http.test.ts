import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { rateLimit } from '@ratekeeper/express';
import { type Instrumentation, instrument, METRICS } from '@ratekeeper/otel';
import { createRateLimiter } from '@ratekeeper/web';
import express from 'express';
import supertest from 'supertest';
import { table, testMeter } from './helpers';

// The adapters' path: the request's span (here started by the test, as an HTTP server
// instrumentation would) gets the decision of the limiter, labelled by the adapter's `name` option.

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer('http-server');
const contextManager = new AsyncLocalStorageContextManager();
let meter: ReturnType<typeof testMeter>;
let otel: Instrumentation;

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  context.disable();
  await provider.shutdown();
});
beforeEach(() => {
  exporter.reset();
  meter = testMeter();
  otel = instrument({ meterProvider: meter.provider });
});
afterEach(async () => {
  otel.uninstrument();
  await meter.shutdown();
});

/** Every attribute value of a span and of its events. */
function allValues(span: ReadableSpan): unknown[] {
  return [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes ?? {}))];
}

const CLIENT = '203.0.113.7';

describe('@ratekeeper/web', () => {
  it("request spans get the decision's attributes; the `name` option labels the limiter in spans and metrics", async () => {
    const limiter = createRateLimiter({
      name: 'search',
      rules: [{ name: 'per-minute', limit: 1, window: '1m' }],
      ip: () => CLIENT,
    });
    const handler = limiter.wrap(async () => new Response('results'), { route: 'GET /search' });
    /** One request, served inside its own server span, as an HTTP instrumentation would. */
    const serve = (n: number): Promise<[number, ReadableSpan]> =>
      tracer.startActiveSpan(`GET /search #${n}`, async (span): Promise<[number, ReadableSpan]> => {
        const response = await handler(new Request(`http://localhost/search?q=${n}`));
        span.end();
        const finished = exporter.getFinishedSpans().find((s) => s.name === `GET /search #${n}`);
        if (finished === undefined) throw new Error('span not exported');
        return [response.status, finished];
      });

    const [ok, first] = await serve(1);
    const [limited, second] = await serve(2);
    expect([ok, limited]).toEqual([200, 429]);
    expect(first.attributes).toMatchObject({
      'ratekeeper.limiter': 'search',
      'ratekeeper.rule': 'per-minute',
      'ratekeeper.outcome': 'allowed',
      'ratekeeper.allowed': true,
      'ratekeeper.remaining': 0,
    });
    expect(second.attributes).toMatchObject({
      'ratekeeper.limiter': 'search',
      'ratekeeper.rule': 'per-minute',
      'ratekeeper.outcome': 'limited',
      'ratekeeper.allowed': false,
    });
    expect(second.attributes['ratekeeper.retry_after_ms']).toBeGreaterThan(0);
    for (const span of [first, second]) expect(allValues(span).filter((v) => String(v).includes('203.0.113'))).toEqual([]);

    const all = await meter.read();
    expect(table(all.get(METRICS.decisions))).toEqual([
      ['limiter=search,outcome=allowed,rule=per-minute', 1],
      ['limiter=search,outcome=limited,rule=per-minute', 1],
    ]);
  });
});

describe('@ratekeeper/express', () => {
  it("an app-wide and a route limiter on one request: the span shows the one that answered 429, an event per decision (spans: 'events')", async () => {
    otel = instrument({ meterProvider: meter.provider, spans: 'events' });
    const app = express();
    app.set('trust proxy', false);
    // What an HTTP server instrumentation does: the rest of the request runs inside its span.
    app.use((req, res, next) => {
      tracer.startActiveSpan(`${req.method} ${req.path}`, (span) => {
        res.on('finish', () => span.end());
        next();
      });
    });
    app.use(rateLimit({ name: 'app', limit: 100, window: '1m' }));
    app.get('/login', rateLimit({ name: 'login', limit: 1, window: '1m', algorithm: 'fixed-window' }), (_req, res) => {
      res.send('welcome');
    });
    const agent = supertest(app);
    expect((await agent.get('/login')).status).toBe(200);
    expect((await agent.get('/login')).status).toBe(429);

    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'GET /login');
    expect(spans).toHaveLength(2);
    const [first, second] = spans as [ReadableSpan, ReadableSpan];
    expect(first.attributes).toMatchObject({ 'ratekeeper.limiter': 'login', 'ratekeeper.outcome': 'allowed', 'ratekeeper.remaining': 0 });
    expect(second.attributes).toMatchObject({
      'ratekeeper.limiter': 'login',
      'ratekeeper.outcome': 'limited',
      'ratekeeper.allowed': false,
    });
    expect(second.events.map((e) => [e.name, e.attributes?.['ratekeeper.limiter'], e.attributes?.['ratekeeper.outcome']])).toEqual([
      ['ratekeeper.decision', 'app', 'allowed'],
      ['ratekeeper.decision', 'login', 'limited'],
    ]);
    for (const span of spans) expect(allValues(span).filter((v) => String(v).includes('127.0.0.1'))).toEqual([]);

    const all = await meter.read();
    // The one-rule shorthand names its rule after the limiter.
    expect(table(all.get(METRICS.decisions))).toEqual([
      ['limiter=app,outcome=allowed,rule=app', 2],
      ['limiter=login,outcome=allowed,rule=login', 1],
      ['limiter=login,outcome=limited,rule=login', 1],
    ]);
    otel = instrument({ meterProvider: meter.provider });
  });
});
