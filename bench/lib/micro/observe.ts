import { subscribe } from 'node:diagnostics_channel';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as here from '../../../packages/core/src/index';
import type { Contender } from './contenders';

// `pnpm bench:micro --observe`: ratekeeper's memory-store decision (default algorithm) with and
// without subscribers on its diagnostics channels, and against a checkout from before the channels.

type Core = typeof here;

/** The part of a limiter the loop uses: the same for this checkout's core and an older one's. */
interface Consumer {
  consume(key: string): Promise<{ readonly allowed: boolean }>;
}

/** One `--observe` configuration, in table order. */
export interface ObserveConfig {
  readonly id: string;
  readonly label: string;
}

/** Every configuration; `rk@base` only runs with `--base`. */
export const OBSERVE_CONFIGS: readonly ObserveConfig[] = [
  { id: 'rk@base', label: 'ratekeeper core of the `--base` checkout (no channels)' },
  { id: 'rk', label: 'ratekeeper, nobody subscribed' },
  { id: 'rk+noop', label: 'ratekeeper + a counting no-op subscriber (the cost of publishing)' },
  { id: 'rk+otel', label: '@ratekeeper/otel instrument({ meterProvider }), spans on, no tracer provider' },
  { id: 'rk+prom', label: '@ratekeeper/prometheus instrument({ registry }) on a fresh Registry' },
];

async function loop(limiter: Consumer, keys: readonly string[], n: number): Promise<number> {
  const k = keys.length;
  let blocked = 0;
  for (let i = 0, j = 0; i < n; i++) {
    const d = await limiter.consume(keys[j] as string);
    if (!d.allowed) blocked++;
    if (++j === k) j = 0;
  }
  return blocked;
}

function contender(id: string, core: Core, recorded?: () => Promise<number>): Contender {
  const label = OBSERVE_CONFIGS.find((c) => c.id === id)?.label ?? id;
  return {
    id,
    label,
    async: true,
    create(w) {
      // The default algorithm (sliding window), as an application would create it.
      const limiter = core.createLimiter({ limit: w.limit, window: w.windowMs, store: new core.MemoryStore({ maxKeys: 2_000_000 }) });
      return { run: (keys, n) => loop(limiter, keys, n) };
    },
    ...(recorded ? { recorded } : {}),
  };
}

/** Sum of a counter's data points, whatever their attributes. */
function sum(points: readonly { value: unknown }[] | undefined): number {
  return (points ?? []).reduce((a, p) => a + (typeof p.value === 'number' ? p.value : 0), 0);
}

async function withOtel(): Promise<Contender> {
  const [{ instrument, METRICS }, { MeterProvider, MetricReader }] = await Promise.all([
    import('@ratekeeper/otel'),
    import('@opentelemetry/sdk-metrics'),
  ]);
  /** A reader nobody collects during the timed run (no export interval): only the recording path is measured. */
  class IdleReader extends MetricReader {
    protected override onForceFlush(): Promise<void> {
      return Promise.resolve();
    }
    protected override onShutdown(): Promise<void> {
      return Promise.resolve();
    }
  }
  const reader = new IdleReader();
  instrument({ meterProvider: new MeterProvider({ readers: [reader] }) });
  return contender('rk+otel', here, async () => {
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === METRICS.decisions);
    return sum(metric?.dataPoints);
  });
}

async function withProm(): Promise<Contender> {
  const [{ instrument }, { Registry }] = await Promise.all([import('@ratekeeper/prometheus'), import('prom-client')]);
  const registry = new Registry();
  instrument({ registry });
  return contender('rk+prom', here, async () => {
    const metric = registry.getSingleMetric('ratekeeper_decisions_total');
    return sum(metric ? (await metric.get()).values : undefined);
  });
}

/**
 * Child side: the configuration `id`, its subscriber installed for the whole process (warm-up
 * included). `base` is the checkout `rk@base` loads `packages/core/src` from.
 */
export async function observeContender(id: string, base: string | undefined): Promise<Contender> {
  switch (id) {
    case 'rk':
      return contender(id, here);
    case 'rk@base': {
      if (base === undefined) throw new Error('rk@base needs --base <checkout>');
      const core = (await import(pathToFileURL(resolve(base, 'packages/core/src/index.ts')).href)) as Core;
      return contender(id, core);
    }
    case 'rk+noop': {
      let seen = 0;
      subscribe(here.CHANNELS.decision, () => {
        seen++;
      });
      return contender(id, here, async () => seen);
    }
    case 'rk+otel':
      return withOtel();
    case 'rk+prom':
      return withProm();
    default:
      throw new Error(`unknown --observe configuration ${id}`);
  }
}
