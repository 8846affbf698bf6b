/**
 * Redis instructions per consume of each algorithm's script, for one or two checkouts. A private
 * `redis-server` runs under callgrind on loopback; counts are zeroed before and dumped after 2,000
 * consumes over 1,000 keys. Instruction counts do not change with machine load, so a change can
 * be compared with its base on a busy 2-core machine.
 *
 *   node --import tsx bench/redis-ir.ts [--against <other checkout>] [--against-clock argv|time]
 *     [--rules N] [--algorithms a,b] [--hits H] [--reply array|compact]
 *
 * `--algorithms` also takes `mix` (the 3 rules of `pnpm bench:redis`: gcra 1 s 1e6 + sliding window
 * 1 min 1e7 + fixed window 1 h 1e7, whatever `--rules`) and `floor` (the trivial INCR+PEXPIRE
 * script of that benchmark, the denominator of its "vs floor" ratios). `--hits H` measures H
 * consumes per key over 1,000 fresh keys (warm-up on other keys): `pnpm bench:redis` makes 20 per
 * key, so `--hits 20` weighs a key's first consume of a window as that benchmark does.
 * `--reply compact` builds the scripts with the compact reply (scripts/driver.ts `ReplyFormat`).
 * Rules that fit the hash layout (scripts/hash-layout.ts: several rules, no sliding log) use it in
 * this checkout, as `RedisStore` does; `--layout keys` keeps one key per rule.
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
type HashLayout = typeof import('../packages/core/src/stores/redis/scripts/hash-layout');
type Rules = typeof import('../packages/core/src/rules');

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ruleCount = Number(opt('rules') ?? 1);
const algorithms = (opt('algorithms') ?? 'floor,fixed-window,sliding-window,gcra,token-bucket,sliding-log,mix').split(',');
const TRIVIAL = "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return c";
// The 3-rule limiter of bench/redis.ts.
const MIX = [
  { limit: 1e6, window: 1000, algorithm: 'gcra' },
  { limit: 1e7, window: 60_000, algorithm: 'sliding-window' },
  { limit: 1e7, window: 3_600_000, algorithm: 'fixed-window' },
] as const;
const checkouts = [opt('against'), '.'].filter((c): c is string => c !== undefined).map((c) => resolve(c));
const againstClock = (opt('against-clock') ?? 'time') as 'time' | 'argv';
const HITS = opt('hits');
const reply = opt('reply') ?? 'array';
const layout = opt('layout') ?? 'auto';
const N = HITS === undefined ? 2_000 : 1_000 * Number(HITS);
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
      const { resolveRule } = (await import(src('rules.ts'))) as Rules;
      const limit = algorithm === 'sliding-log' ? 10_000 : 1_000_000;
      const rules =
        algorithm === 'mix'
          ? MIX.map((r) => resolveRule(r))
          : algorithm === 'floor'
            ? []
            : Array.from({ length: ruleCount }, (_, i) => resolveRule({ limit, window: 240_000 * (i + 1), algorithm: algorithm as never }));
      const tag = `${cells.length}:${algorithm}`;
      const driver = (await import(src('stores/redis/scripts/driver.ts'))) as Driver;
      // Measured keys k0…k999; warm-up keys w… (with --hits) are never measured.
      const id = (k: number) => (k < 0 ? `w${-k}` : `k${k % 1000}`);
      let sha: string;
      let keys: (k: number) => string[];
      let argv: (string | number)[];
      if (algorithm === 'floor') {
        sha = (await client.script('LOAD', TRIVIAL)) as string;
        keys = (k) => [`ir:${tag}{${id(k)}}`];
        argv = [3_600_000];
      } else {
        const clock = root === resolve('.') ? 'time' : againstClock;
        // A checkout without reply formats ignores the fifth argument.
        const build = driver.buildScript as (...a: unknown[]) => string;
        const hash =
          root === resolve('.') && layout !== 'keys'
            ? ((await import(src('stores/redis/scripts/hash-layout.ts'))) as HashLayout)
            : undefined;
        if (hash?.fitsHashLayout(rules)) {
          sha = (await client.script('LOAD', hash.buildHashScript('consume', rules, clock, 0, reply as 'array'))) as string;
          keys = (k) => [`ir:${tag}:h{${id(k)}}`];
        } else {
          sha = (await client.script('LOAD', build('consume', rules, clock, 0, reply))) as string;
          keys = (k) => rules.map((_, i) => `ir:${tag}:${i}{${id(k)}}`);
        }
        argv = [1_700_000_000_000, 1, -1];
      }
      const call = (k: number) => {
        const ks = keys(k);
        return client.evalsha(sha, ks.length, ...ks, ...argv);
      };
      // Without --hits the warm-up touches the first 200 measured keys (the historical setting).
      for (let k = 0; k < 200; k++) await call(HITS === undefined ? k : -1 - k);
      execFileSync('callgrind_control', ['-z', pid], { stdio: 'ignore' });
      for (let i = 0; i < N; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => call(i + j)));
      }
      cells.push(Math.round(dumped() / N).toLocaleString('en-US'));
    }
    rows.push(
      `| ${algorithm === 'mix' ? 'mix (gcra + sliding + fixed)' : algorithm === 'floor' ? 'floor (INCR+PEXPIRE)' : `${algorithm} × ${ruleCount}`} | ${cells.join(' | ')} |`,
    );
  }
  const heads = checkouts.map((c) => (c === resolve('.') ? 'this checkout' : `${c} (${againstClock})`));
  console.log(`| consume script | ${heads.join(' | ')} |`);
  console.log(`| --- | ${heads.map(() => '---:').join(' | ')} |`);
  console.log(rows.join('\n'));
} finally {
  client.disconnect();
  server.kill('SIGTERM');
  await new Promise((done) => server.once('exit', done));
  if (argv.includes('--keep')) console.log(`callgrind dumps kept in ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
