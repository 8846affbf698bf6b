import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createLimiter } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { type Instrumentation, instrument } from '@ratekeeper/otel';
import { switchableStore, testMeter } from './helpers';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = provider.getTracer('test');
const contextManager = new AsyncLocalStorageContextManager();
const meter = testMeter();
let otel: Instrumentation | undefined;

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  context.disable();
  await provider.shutdown();
  await meter.shutdown();
});
beforeEach(() => {
  exporter.reset();
  otel = instrument({ meterProvider: meter.provider });
});
afterEach(() => otel?.uninstrument());

/** Runs `fn` inside an active span named `name` and returns the finished span. */
async function inSpan(name: string, fn: () => Promise<unknown>): Promise<ReadableSpan> {
  await tracer.startActiveSpan(name, async (span) => {
    try {
      await fn();
    } finally {
      span.end();
    }
  });
  const span = exporter.getFinishedSpans().find((s) => s.name === name);
  if (span === undefined) throw new Error(`no span ${name}`);
  return span;
}

/** Every attribute value of the span and of its events. */
function allValues(span: ReadableSpan): unknown[] {
  return [...Object.values(span.attributes), ...span.events.flatMap((e) => Object.values(e.attributes ?? {}))];
}

describe('span attributes', () => {
  it('a decision inside an active span (after an await) sets the ratekeeper.* attributes, never the key; alone, it adds no event', async () => {
    const limiter = createLimiter({ name: 'login', rules: [{ name: 'burst', limit: 1, window: '1m' }] });
    const span = await inSpan('POST /login', async () => {
      await Promise.resolve(); // the active span survives an await (AsyncLocalStorage)
      await limiter.consume('user:alice@example.com', { cost: 1 });
    });
    const expected = {
      'ratekeeper.limiter': 'login',
      'ratekeeper.rule': 'burst',
      'ratekeeper.outcome': 'allowed',
      'ratekeeper.allowed': true,
      'ratekeeper.remaining': 0,
      'ratekeeper.retry_after_ms': 0,
      'ratekeeper.cost': 1,
    };
    expect(span.attributes).toEqual(expected);
    expect(span.events).toEqual([]); // one decision: the attributes tell it all
    expect(allValues(span).filter((v) => typeof v === 'string' && v.includes('alice'))).toEqual([]);
  });

  it('two limiters on one request: the span shows the latest decision (the denial); no events by default', async () => {
    const clock = manualClock(1_200_000);
    const app = createLimiter({ name: 'app', limit: 100, window: '1m', now: clock.now });
    const route = createLimiter({ name: 'route', limit: 1, window: '1m', algorithm: 'fixed-window', now: clock.now });
    await route.consume('10.0.0.1');
    const span = await inSpan('GET /search', async () => {
      await app.consume('10.0.0.1');
      await route.consume('10.0.0.1');
    });
    expect(span.attributes).toMatchObject({ 'ratekeeper.limiter': 'route', 'ratekeeper.outcome': 'limited' });
    expect(span.events).toEqual([]);
  });

  it("spans: 'events': the span shows the latest decision (the denial), an event keeps each; a peek changes nothing", async () => {
    otel = instrument({ meterProvider: meter.provider, spans: 'events' });
    const clock = manualClock(1_200_000); // a minute boundary: the fixed window's wait is a whole minute
    const app = createLimiter({ name: 'app', limit: 100, window: '1m', now: clock.now });
    const route = createLimiter({ name: 'route', limit: 1, window: '1m', algorithm: 'fixed-window', now: clock.now });
    await route.consume('10.0.0.1');
    const span = await inSpan('GET /search', async () => {
      await app.consume('10.0.0.1');
      await route.consume('10.0.0.1', { cost: 1 });
      await app.peek('10.0.0.1'); // answers no request: neither an event nor the span's attributes
    });
    expect(span.attributes).toMatchObject({
      'ratekeeper.limiter': 'route',
      'ratekeeper.outcome': 'limited',
      'ratekeeper.allowed': false,
      'ratekeeper.remaining': 0,
      'ratekeeper.retry_after_ms': 60_000,
    });
    expect(span.events.map((e) => [e.name, e.attributes?.['ratekeeper.limiter'], e.attributes?.['ratekeeper.outcome']])).toEqual([
      ['ratekeeper.decision', 'app', 'allowed'],
      ['ratekeeper.decision', 'route', 'limited'],
    ]);
    const [first, second] = span.events.map((e) => e.time[0] * 1e3 + e.time[1] / 1e6);
    expect(first).toBeLessThanOrEqual(second as number);
    expect(allValues(span)).not.toContain('10.0.0.1');
  });

  it('a decision answered by the failure policy says so on the span', async () => {
    const { store, down } = switchableStore();
    const limiter = createLimiter({ name: 'api', limit: 5, window: '1m', store, onStoreError: 'deny', onError: () => {} });
    down.value = true;
    const span = await inSpan('GET /api', () => limiter.consume('k'));
    expect(span.attributes).toMatchObject({ 'ratekeeper.outcome': 'failed_closed', 'ratekeeper.allowed': false });
  });

  it('spans: false leaves spans alone; no active span, or one not recording, is fine', async () => {
    const limiter = createLimiter({ name: 'quiet', limit: 5, window: '1m' });
    otel = instrument({ meterProvider: meter.provider, spans: false });
    const span = await inSpan('quiet', () => limiter.consume('k'));
    expect(span.attributes).toEqual({});
    expect(span.events).toEqual([]);

    otel = instrument({ meterProvider: meter.provider });
    await expect(limiter.consume('k')).resolves.toMatchObject({ allowed: true });
    const unsampled = trace.wrapSpanContext({ traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 0 });
    await context.with(trace.setSpan(context.active(), unsampled), () => limiter.consume('k'));
    expect(unsampled.isRecording()).toBe(false);
  });
});

describe('span event times', () => {
  it("are on the span's own clock: inside the span even when the monotonic clock has drifted from Date.now", async () => {
    // A long-running process: performance.timeOrigin + performance.now() runs 60 s ahead of the wall clock
    // (the monotonic clock does not follow NTP steps). The SDK corrects performance timestamps per span.
    const realOrigin = performance.timeOrigin;
    Object.defineProperty(performance, 'timeOrigin', { value: realOrigin + 60_000, configurable: true });
    try {
      otel?.uninstrument();
      otel = instrument({ meterProvider: meter.provider, spans: 'events' });
      const limiter = createLimiter({ name: 'drift', limit: 5, window: '1m', now: manualClock().now });
      const span = await inSpan('drifted', async () => {
        await limiter.consume('k');
        await limiter.consume('k');
      });
      const ms = ([s, ns]: readonly [number, number]) => s * 1e3 + ns / 1e6;
      expect(span.events).toHaveLength(2);
      for (const e of span.events) {
        expect(ms(e.time)).toBeGreaterThanOrEqual(ms(span.startTime) - 1);
        expect(ms(e.time)).toBeLessThanOrEqual(ms(span.endTime) + 1);
      }
    } finally {
      // The own property shadows the prototype's getter: removing it restores the real one.
      delete (performance as { timeOrigin?: number }).timeOrigin;
      expect(performance.timeOrigin).toBe(realOrigin);
    }
  });
});
