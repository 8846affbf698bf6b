/**
 * Instructions per decision of a checkout's core limiter, for callgrind: machine load does not
 * change instruction counts, so a change can be compared with its base on a busy 2-core machine.
 * Run it twice with different `n` under callgrind; the difference of the totals over the difference
 * of `n` is the steady-state cost of one `await limiter.consume(key)` (10,000 keys, MemoryStore):
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null --smc-check=all-non-file \
 *     node --single-threaded --import tsx bench/ir-per-decision.ts <checkout> sliding-window 50000
 *   (again with 150000; (total₂ − total₁) / 100000 = instructions per decision)
 *
 * A fourth argument installs a subscriber first, as `bench:micro --observe` does: `noop` (a
 * counting subscriber on the decision channel), `otel` (@ratekeeper/otel on an SDK MeterProvider,
 * spans on, no tracer provider), `otel-nospans` (the same with `spans: false`), `tally` (core's
 * `observeDecisions` with a bare tally), `tally-wants` (and a `wants` that declines every event) or
 * `prom` (@ratekeeper/prometheus on a fresh Registry).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Core = typeof import('../packages/core/src/index');

const [root = '.', algorithm = 'sliding-window', nText = '50000', observe = 'none'] = process.argv.slice(2);
const core = (await import(pathToFileURL(resolve(root, 'packages/core/src/index.ts')).href)) as Core;
await subscribe(observe);
const n = Number(nText);
const keys = Array.from({ length: 10_000 }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`);
const limiter = core.createLimiter({
  limit: 1e9,
  window: 240_000,
  algorithm: algorithm as never,
  store: new core.MemoryStore({ maxKeys: 2_000_000 }),
  now: () => 1_700_000_000_000,
});
// 100,000 decisions of warm-up in both runs, then `n` more.
for (let i = 0, j = 0; i < 100_000 + n; i++) {
  await limiter.consume(keys[j] as string);
  if (++j === keys.length) j = 0;
}

async function subscribe(mode: string): Promise<void> {
  if (mode === 'none') return;
  if (mode === 'noop') {
    let seen = 0;
    (await import('node:diagnostics_channel')).subscribe('ratekeeper:decision', () => {
      seen++;
    });
  } else if (mode === 'otel' || mode === 'otel-nospans') {
    const [{ instrument }, { MeterProvider }] = await Promise.all([import('@ratekeeper/otel'), import('@opentelemetry/sdk-metrics')]);
    instrument({ meterProvider: new MeterProvider(), spans: mode === 'otel' });
  } else if (mode === 'tally' || mode === 'tally-wants') {
    // The core's side alone: a tally (and, with -wants, a wants() that declines every event).
    const { DecisionTally, observeDecisions } = await import('@ratekeeper/core');
    observeDecisions({ tally: new DecisionTally(), ...(mode === 'tally-wants' ? { wants: () => false, decision: () => {} } : {}) });
  } else if (mode === 'prom') {
    const [{ instrument }, { Registry }] = await Promise.all([import('@ratekeeper/prometheus'), import('prom-client')]);
    instrument({ registry: new Registry() });
  } else throw new Error(`unknown observe mode ${mode}: none, noop, otel, otel-nospans, tally, tally-wants or prom`);
}
