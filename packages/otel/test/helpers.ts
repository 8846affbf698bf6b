import type { Attributes } from '@opentelemetry/api';
import { DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { MemoryStore, type Store } from '@ratekeeper/core';

/** A reader collected on demand: no export interval, no wall-clock wait. */
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One data point: a counter's value, or a histogram's count and sum. */
export interface Point {
  readonly attributes: Attributes;
  readonly value: number;
  readonly sum?: number;
}

/** A MeterProvider whose metrics a test reads with `read()` (cumulative). */
export function testMeter(): { provider: MeterProvider; read(): Promise<Map<string, Point[]>>; shutdown(): Promise<void> } {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async read() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const byName = new Map<string, Point[]>();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          const points = metric.dataPoints.map((p): Point => {
            if (metric.dataPointType === DataPointType.HISTOGRAM) {
              const h = p.value as { count: number; sum?: number };
              return { attributes: p.attributes, value: h.count, ...(h.sum === undefined ? {} : { sum: h.sum }) };
            }
            return { attributes: p.attributes, value: p.value as number };
          });
          byName.set(metric.descriptor.name, points);
        }
      }
      return byName;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** `points` as `[attributes as one sorted string, value]` pairs, sorted: easy to compare exactly. */
export function table(points: readonly Point[] | undefined): [string, number][] {
  return (points ?? [])
    .map((p): [string, number] => [
      Object.entries(p.attributes)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
      p.value,
    ])
    .sort(([a], [b]) => a.localeCompare(b));
}

/** Sum of the values of `points`. */
export function total(points: readonly Point[] | undefined): number {
  return (points ?? []).reduce((n, p) => n + p.value, 0);
}

/**
 * A MemoryStore that answers asynchronously, as a network store does, and fails while `down.value`
 * is true (a store without connection events).
 */
export function switchableStore(): { store: Store; down: { value: boolean } } {
  const down = { value: false };
  const inner = new MemoryStore();
  const check = (): void => {
    if (down.value) throw new Error('store is down');
  };
  const store: Store = {
    bind(rules, prefix) {
      const bound = inner.bind(rules, prefix);
      return {
        consume: async (key, cost, now) => {
          check();
          return bound.consume(key, cost, now);
        },
        peek: async (key, now) => {
          check();
          return bound.peek(key, now);
        },
        refund: (key, cost, now, at) => bound.refund(key, cost, now, at),
        reset: (key) => bound.reset(key),
      };
    },
  };
  return { store, down };
}
