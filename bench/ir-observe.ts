/**
 * Instructions per decision with and without the metrics packages, under callgrind: machine load
 * does not move instruction counts, where the timed `bench:micro --observe` swings by ×1.5 between
 * rounds on a busy 2-core machine. Each sample is the difference of two runs of
 * `bench/ir-per-decision.ts` (100,000 and 400,000 decisions after the same warm-up), divided by
 * 300,000; the report gives each mode's median sample and its ratio to `none`'s median.
 *
 *   node --import tsx bench/ir-observe.ts [--rounds N] [--modes none,otel,prom,noop]
 *
 * Two runs go at once (one per core). Needs `valgrind`. About 5 minutes per round and mode pair.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './lib/stats';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const rounds = Number(opt('--rounds') ?? 3);
const modes = (opt('--modes') ?? 'none,otel,prom').split(',');
const script = fileURLToPath(new URL('./ir-per-decision.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));

/** Total instructions of one run of `n` decisions (after the warm-up) with `mode` installed. */
function total(mode: string, n: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'valgrind',
      [
        '--tool=callgrind',
        '--callgrind-out-file=/dev/null',
        '--smc-check=all-non-file',
        'node',
        '--single-threaded',
        // Deterministic V8: fixed hash and random seeds, no time-driven GC or JIT heuristics.
        // Without them samples of one build moved by ±5–10 % between runs; with them, ~0.3 %.
        '--hash-seed=1',
        '--random-seed=1',
        '--predictable',
        '--import',
        'tsx',
        script,
        root,
        'sliding-window',
        String(n),
        mode,
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.on('error', reject);
    child.on('close', () => {
      const m = /Collected : (\d+)/.exec(err);
      if (m === null) reject(new Error(`callgrind printed no total for ${mode} ${n}: ${err.slice(-400)}`));
      else resolve(Number(m[1]));
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
