import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { createLimiter } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { testMeter, total } from './helpers';

type Otel = typeof import('@ratekeeper/otel');

/** A second installed copy of @ratekeeper/otel (its own module state), as ESM beside CommonJS would be. */
function secondCopy(): Otel {
  let copy: Otel | undefined;
  jest.isolateModules(() => {
    copy = require('../src/index') as Otel;
  });
  return copy as Otel;
}

class DeltaReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

describe('ratekeeper.decisions across instrument() calls', () => {
  it('a second copy of the package replacing the first on the same provider keeps the count cumulative', async () => {
    const meter = testMeter();
    const first = require('../src/index') as Otel;
    const second = secondCopy();
    expect(second.instrument).not.toBe(first.instrument);
    const limiter = createLimiter({ name: 'two-copies', limit: 100, window: '1m', now: manualClock().now });
    const a = first.instrument({ meterProvider: meter.provider, spans: false });
    for (let i = 0; i < 5; i++) await limiter.consume('k');
    expect(total((await meter.read()).get('ratekeeper.decisions'))).toBe(5);
    const b = second.instrument({ meterProvider: meter.provider, spans: false }); // replaces `a`
    for (let i = 0; i < 3; i++) await limiter.consume('k');
    expect(total((await meter.read()).get('ratekeeper.decisions'))).toBe(8);
    a.uninstrument();
    b.uninstrument();
    await meter.shutdown();
  });

  it('delta temporality: re-instrumenting the same provider reports only the new decisions', async () => {
    const otel = require('../src/index') as Otel;
    const reader = new DeltaReader();
    const provider = new MeterProvider({ readers: [reader] });
    const read = async () => {
      const { resourceMetrics } = await reader.collect();
      let n = 0;
      for (const s of resourceMetrics.scopeMetrics)
        for (const m of s.metrics) if (m.descriptor.name === 'ratekeeper.decisions') for (const p of m.dataPoints) n += p.value as number;
      return n;
    };
    const limiter = createLimiter({ name: 'delta', limit: 100, window: '1m', now: manualClock().now });
    const a = otel.instrument({ meterProvider: provider, spans: false });
    for (let i = 0; i < 4; i++) await limiter.consume('k');
    expect(await read()).toBe(4);
    a.uninstrument();
    await limiter.consume('k'); // not counted
    expect(await read()).toBe(0);
    const b = otel.instrument({ meterProvider: provider, spans: false });
    for (let i = 0; i < 2; i++) await limiter.consume('k');
    expect(await read()).toBe(2);
    b.uninstrument();
    await provider.shutdown();
  });
});
