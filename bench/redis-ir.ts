/**
 * Redis instructions per consume of each algorithm's script, for one or two checkouts. A private
 * `redis-server` runs under callgrind on loopback; counts are zeroed before and dumped after 2,000
 * consumes over 1,000 keys. Instruction counts do not change with machine load, so a change can
 * be compared with its base on a busy 2-core machine.
 *
 *   node --import tsx bench/redis-ir.ts [--against <other checkout>] [--against-clock argv|time]
 *     [--rules N] [--algorithms a,b]
 *
 * This checkout's scripts read Redis `TIME` (the default clock); `--against-clock argv` builds the
 * other checkout's with the client's time in ARGV (release 1's default, a synced estimate).
 *
 * Needs `valgrind` (callgrind_control) and `redis-server` on PATH.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';

type Driver = typeof import('../packages/core/src/stores/redis/scripts/driver');
type Rules = typeof import('../packages/core/src/rules');

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ruleCount = Number(opt('rules') ?? 1);
const algorithms = (opt('algorithms') ?? 'fixed-window,sliding-window,gcra,token-bucket,sliding-log').split(',');
const checkouts = [opt('against'), '.'].filter((c): c is string => c !== undefined).map((c) => resolve(c));
const againstClock = (opt('against-clock') ?? 'time') as 'time' | 'argv';
const N = 2_000;
const port = 20_000 + (process.pid % 10_000);
const dir = mkdtempSync(join(tmpdir(), 'rk-redis-ir-'));

const server = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    `--callgrind-out-file=${dir}/cg.%p`,
    'redis-server',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ],
  { stdio: 'ignore' },
);
const pid = String(server.pid);
const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 200, maxRetriesPerRequest: null });
// Refused until valgrind's redis-server listens: ioredis retries.
client.on('error', () => undefined);

/** Callgrind's instruction total since the last zeroing (the newest dump). */
function dumped(): number {
  execFileSync('callgrind_control', ['-d', pid], { stdio: 'ignore' });
  const files = readdirSync(dir).filter((f) => /^cg\.\d+\.\d+$/.test(f));
  const newest = files.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).pop();
  const text = readFileSync(join(dir, newest as string), 'utf8');
  return Number((/^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text))?.[1]);
}

try {
  await client.ping();
  const rows: string[] = [];
  for (const algorithm of algorithms) {
    const cells: string[] = [];
    for (const root of checkouts) {
      const src = (p: string) => pathToFileURL(join(root, 'packages/core/src', p)).href;
      const { buildScript } = (await import(src('stores/redis/scripts/driver.ts'))) as Driver;
      const { resolveRule } = (await import(src('rules.ts'))) as Rules;
      const limit = algorithm === 'sliding-log' ? 10_000 : 1_000_000;
      const rules = Array.from({ length: ruleCount }, (_, i) =>
        resolveRule({ limit, window: 240_000 * (i + 1), algorithm: algorithm as never }),
      );
      const sha = (await client.script('LOAD', buildScript('consume', rules, root === resolve('.') ? 'time' : againstClock, 0))) as string;
      const tag = `${cells.length}:${algorithm}`;
      const keys = (k: number) => rules.map((_, i) => `ir:${tag}:${i}{k${k % 1000}}`);
      const now = 1_700_000_000_000;
      for (let k = 0; k < 200; k++) await client.evalsha(sha, ruleCount, ...keys(k), now, 1, -1);
      execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' });
      for (let i = 0; i < N; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => client.evalsha(sha, ruleCount, ...keys(i + j), now, 1, -1)));
      }
      cells.push(Math.round(dumped() / N).toLocaleString('en-US'));
    }
    rows.push(`| ${algorithm} × ${ruleCount} | ${cells.join(' | ')} |`);
  }
  const heads = checkouts.map((c) => (c === resolve('.') ? 'this checkout' : `${c} (${againstClock})`));
  console.log(`| consume script | ${heads.join(' | ')} |`);
  console.log(`| --- | ${heads.map(() => '---:').join(' | ')} |`);
  console.log(rows.join('\n'));
} finally {
  client.disconnect();
  server.kill('SIGTERM');
  await new Promise((done) => server.once('exit', done));
  rmSync(dir, { recursive: true, force: true });
}
