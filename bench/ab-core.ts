/**
 * A/B of the core limiter between this checkout and another one (e.g. a `git worktree` of an older
 * commit), in one process, alternating rounds: `await limiter.consume(key)` over 10,000 keys on the
 * MemoryStore, 1,000,000 decisions per round after a warm-up. Prints the median ns per decision of
 * each side and their ratio, so a change's cost is measured against its base on the same machine
 * state (a loaded 2-core machine shifts both sides alike).
 *
 *   node --import tsx bench/ab-core.ts /tmp/base-checkout [algorithm] [rounds]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Core = typeof import('../packages/core/src/index');

const [basePath, algorithm = 'sliding-window', roundsText = '7'] = process.argv.slice(2);
if (basePath === undefined) throw new Error('usage: bench/ab-core.ts <other checkout> [algorithm] [rounds]');
const here = (await import('../packages/core/src/index')) as Core;
const base = (await import(pathToFileURL(resolve(basePath, 'packages/core/src/index.ts')).href)) as Core;

// Flattened key strings, built once, as the micro bench does.
const keys = Array.from({ length: 10_000 }, (_, i) => `203.0.${(i >> 8) & 255}.${i & 255}`).map((k) => `${k} `.slice(0, -1));

async function run(core: Core, n: number): Promise<number> {
  const limiter = core.createLimiter({
    limit: 1e9,
    window: 240_000,
    algorithm: algorithm as never,
    store: new core.MemoryStore({ maxKeys: 2_000_000 }),
  });
  for (let i = 0; i < 200_000; i++) await limiter.consume(keys[i % keys.length] as string);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await limiter.consume(keys[i % keys.length] as string);
  return Number(process.hrtime.bigint() - t0) / n;
}

const results = { base: [] as number[], here: [] as number[] };
for (let r = 0; r < Number(roundsText); r++) {
  // Alternate which side runs first.
  const order: ['base' | 'here', Core][] =
    r % 2 === 0
      ? [
          ['base', base],
          ['here', here],
        ]
      : [
          ['here', here],
          ['base', base],
        ];
  for (const [name, core] of order) results[name].push(await run(core, 1_000_000));
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1] as number;
const b = median(results.base);
const h = median(results.here);
console.log(`${algorithm}: base ${b.toFixed(0)} ns, this checkout ${h.toFixed(0)} ns, ratio ${(h / b).toFixed(2)}`);
console.log(
  `rounds (ns): base ${results.base.map((x) => x.toFixed(0)).join(' / ')}; here ${results.here.map((x) => x.toFixed(0)).join(' / ')}`,
);
