/**
 * The program `bench/ir-observe.ts` bundles and runs under callgrind: `<n> <mode>` makes 100,000
 * decisions of warm-up and `n` more (`await limiter.consume(key)`, sliding window, MemoryStore,
 * 10,000 keys, a fixed clock) after installing `mode`:
 * - `none`: nothing; `noop`: a counting subscriber on the decision channel;
 * - `tally`: core's `observeDecisions` with a bare tally; `tally-wants`: and a `wants` that declines;
 * - `otel`: @ratekeeper/otel on an SDK MeterProvider (spans on, no context manager);
 *   `otel-nospans`: the same with `spans: false`;
 * - `otel-off`: the same, uninstrumented at once (the SDK's memory, no hook);
 * - `prom`: @ratekeeper/prometheus on a fresh Registry.
 * Bundled, so that no loader thread (tsx) runs beside the decisions: its timing moved the counts.
 */
import { subscribe } from 'node:diagnostics_channel';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createLimiter, DecisionTally, MemoryStore, observeDecisions } from '@ratekeeper/core';
import { instrument as instrumentOtel } from '@ratekeeper/otel';
import { instrument as instrumentProm } from '@ratekeeper/prometheus';
import { Registry } from 'prom-client';

const [nText = '50000', mode = 'none'] = process.argv.slice(2);
let seen = 0;
if (mode === 'noop') {
  subscribe('ratekeeper:decision', () => {
    seen++;
  });
} else if (mode === 'tally' || mode === 'tally-wants') {
  observeDecisions({ tally: new DecisionTally(), ...(mode === 'tally-wants' ? { wants: () => false, decision: () => {} } : {}) });
} else if (mode === 'otel' || mode === 'otel-nospans') {
  instrumentOtel({ meterProvider: new MeterProvider(), spans: mode === 'otel' });
} else if (mode === 'otel-off') {
  // The SDK and an instrumentation that was stopped: OTel's memory without ratekeeper's hook.
  instrumentOtel({ meterProvider: new MeterProvider(), spans: true }).uninstrument();
} else if (mode === 'prom') {
  instrumentProm({ registry: new Registry() });
} else if (mode !== 'none') {
  throw new Error(`unknown mode ${mode}: none, noop, tally, tally-wants, otel, otel-nospans or prom`);
}
const n = Number(nText);
const keys = Array.from({ length: 10_000 }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`);
const limiter = createLimiter({
  limit: 1e9,
  window: 240_000,
  algorithm: 'sliding-window',
  store: new MemoryStore({ maxKeys: 2_000_000 }),
  now: () => 1_700_000_000_000,
});
for (let i = 0, j = 0; i < 100_000 + n; i++) {
  await limiter.consume(keys[j] as string);
  if (++j === keys.length) j = 0;
}
if (mode === 'noop' && seen !== 100_000 + n) throw new Error(`the subscriber saw ${seen} decisions`);
