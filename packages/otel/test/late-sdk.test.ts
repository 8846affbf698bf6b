import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createLimiter } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { instrument, METRICS } from '@ratekeeper/otel';
import { table, testMeter } from './helpers';

// An SDK started after instrument(), in a process where the OpenTelemetry API had registered
// nothing yet (its global object does not exist until then): the next decision sees it.
const API = Symbol.for('opentelemetry.js.api.1');

it('a context manager and a MeterProvider registered after instrument() are used from the next decision on', async () => {
  expect((globalThis as Record<symbol, unknown>)[API]).toBeUndefined();
  const otel = instrument();
  const clock = manualClock();
  const limiter = createLimiter({ name: 'late', limit: 10, window: '1m', now: clock.now });
  const meter = testMeter();
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  try {
    await limiter.consume('k'); // nothing registered: nowhere to count, no span
    expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(true);
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    expect(metrics.setGlobalMeterProvider(meter.provider)).toBe(true);
    // The API's own object, as it created it: a plain property again.
    expect(Object.getOwnPropertyDescriptor(globalThis, API)).toMatchObject({ writable: true, enumerable: true, configurable: true });
    await trace.getTracer('test').startActiveSpan('GET /', async (span) => {
      await limiter.consume('k');
      span.end();
    });
    const [span] = exporter.getFinishedSpans();
    expect(span?.attributes['ratekeeper.limiter']).toBe('late');
    expect(span?.attributes['ratekeeper.remaining']).toBe(8);
    expect(table((await meter.read()).get(METRICS.decisions))).toEqual([['limiter=late,outcome=allowed,rule=late', 1]]);
  } finally {
    otel.uninstrument();
    context.disable();
    trace.disable();
    metrics.disable();
    await provider.shutdown();
    await meter.shutdown();
  }
});
