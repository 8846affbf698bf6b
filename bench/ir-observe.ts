/**
 * Instructions per decision with and without the metrics packages, under callgrind: machine load
 * does not move instruction counts, where the timed `bench:micro --observe` swings by ×1.5 between
 * rounds on a busy 2-core machine. `bench/lib/observe-entry.ts` is bundled with esbuild (core,
 * otel and prometheus from a checkout's sources) and run by plain Node with deterministic V8
 * (`--predictable`, fixed seeds, one thread): repeated samples of one build give the same count.
 * Each sample is the difference of two runs (100,000 and 400,000 decisions after the same
 * warm-up) over 300,000; the report gives each mode's median sample and its ratio to `none`'s.
 *
 *   node --import tsx bench/ir-observe.ts [--rounds N] [--modes none,tally,otel,prom,noop] [--checkout DIR]
 *
 * Two runs go at once (one per core). Needs `valgrind`. About 1 minute per sample.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { median } from './lib/stats';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const rounds = Number(opt('--rounds') ?? 1);
const modes = (opt('--modes') ?? 'none,tally,otel,prom').split(',');
const here = fileURLToPath(new URL('.', import.meta.url));
const checkout = resolve(opt('--checkout') ?? join(here, '..'));
const dir = mkdtempSync(join(tmpdir(), 'rk-ir-observe-'));
const bundle = join(dir, 'observe.mjs');
const src = (pkg: string) => join(checkout, 'packages', pkg, 'src/index.ts');
await build({
  entryPoints: [join(here, 'lib/observe-entry.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: bundle,
  logLevel: 'error',
  alias: { '@ratekeeper/core': src('core'), '@ratekeeper/otel': src('otel'), '@ratekeeper/prometheus': src('prometheus') },
  // The bundle's CommonJS dependencies (prom-client) load their own requires from here.
  banner: { js: `import { createRequire } from 'node:module'; const require = createRequire(${JSON.stringify(here)});` },
});

/** Total instructions of one run of `n` decisions (after the warm-up) with `mode` installed. */
function total(mode: string, n: number): Promise<number> {
  return new Promise((done, reject) => {
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--callgrind-out-file=/dev/null',
        'node',
        '--single-threaded',
        // Deterministic V8: fixed hash and random seeds, no time-driven GC or JIT heuristics.
        '--hash-seed=1',
        '--random-seed=1',
        '--predictable',
        bundle,
        String(n),
        mode,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /Collected : (\d+)/.exec(err);
      if (m === null || code !== 0) reject(new Error(`callgrind run ${mode} ${n} failed (exit ${code}): ${err.slice(-400)}`));
      else done(Number(m[1]));
    });
  });
}

async function sample(mode: string): Promise<number> {
  const [a, b] = await Promise.all([total(mode, 100_000), total(mode, 400_000)]);
  return (b - a) / 300_000;
}

const samples = new Map<string, number[]>(modes.map((m) => [m, []]));
for (let r = 0; r < rounds; r++) {
  for (const mode of modes) {
    const s = await sample(mode);
    samples.get(mode)?.push(s);
    process.stderr.write(`round ${r + 1} ${mode}: ${s.toFixed(0)} instructions/decision\n`);
  }
}
const base = median(samples.get('none') ?? []);
console.log('| mode | instructions/decision (median) | samples | × none |');
console.log('| --- | ---: | --- | ---: |');
for (const [mode, xs] of samples) {
  const m = median(xs);
  console.log(`| ${mode} | ${m.toFixed(0)} | ${xs.map((x) => x.toFixed(0)).join(' / ')} | ${(m / base).toFixed(3)} |`);
}
rmSync(dir, { recursive: true, force: true });
