// Redis store benchmark: ratekeeper's RedisStore against peers and a trivial-script floor, on a
// throwaway local redis-server. Contenders alternate in rounds; medians are reported. Besides
// throughput (noisy on shared machines) it reports Redis commands per decision (INFO commandstats,
// Lua-internal included), Redis CPU and client CPU per decision: steadier figures.
// Run: pnpm bench:redis   (node --import tsx bench/redis.ts [--rounds 3] [--decisions 20000])
import { createLimiter } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { startRedis } from '../scripts/redis-server';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 3);
const DECISIONS = arg('decisions', 20_000);
const KEYS = 10_000;
const keyOf = (i: number) => `user-${(i * 7919) % KEYS}`;

type Decide = (key: string) => Promise<unknown>;
interface Contender {
  name: string;
  make(client: Redis, round: number): Decide;
}

const TRIVIAL = "local v = redis.call('INCR', KEYS[1]) if v == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return v";

const contenders: Contender[] = [
  {
    name: 'ratekeeper fixed-window, 1 rule (server TIME)',
    make: (client, r) => {
      const l = createLimiter({
        limit: 1e7,
        window: '1h',
        algorithm: 'fixed-window',
        store: new RedisStore({ client }),
        prefix: `b${r}a:`,
      });
      return (k) => l.consume(k);
    },
  },
  {
    name: "ratekeeper fixed-window, 1 rule (clock: 'client')",
    make: (client, r) => {
      const l = createLimiter({
        limit: 1e7,
        window: '1h',
        algorithm: 'fixed-window',
        store: new RedisStore({ client, clock: 'client' }),
        prefix: `b${r}b:`,
      });
      return (k) => l.consume(k);
    },
  },
  {
    name: 'ratekeeper sliding-window, 1 rule (server TIME)',
    make: (client, r) => {
      const l = createLimiter({ limit: 1e7, window: '1h', store: new RedisStore({ client }), prefix: `b${r}c:` });
      return (k) => l.consume(k);
    },
  },
  {
    name: 'ratekeeper 3 rules (gcra + sliding + fixed)',
    make: (client, r) => {
      const l = createLimiter({
        rules: [
          { limit: 1e6, window: '1s', algorithm: 'gcra' },
          { limit: 1e7, window: '1m' },
          { limit: 1e7, window: '1h', algorithm: 'fixed-window' },
        ],
        store: new RedisStore({ client }),
        prefix: `b${r}d:`,
      });
      return (k) => l.consume(k);
    },
  },
  {
    name: 'rate-limiter-flexible RateLimiterRedis',
    make: (client, r) => {
      const l = new RateLimiterRedis({ storeClient: client, points: 1e9, duration: 3600, keyPrefix: `b${r}e` });
      return (k) => l.consume(k);
    },
  },
  {
    name: 'floor: EVALSHA of INCR+PEXPIRE',
    make: (client, r) => {
      client.defineCommand('rkTrivial', { numberOfKeys: 1, lua: TRIVIAL });
      const c = client as unknown as { rkTrivial(k: string, ms: number): Promise<number> };
      return (k) => c.rkTrivial(`b${r}f:${k}`, 3_600_000);
    },
  },
];

async function stats(admin: Redis): Promise<{ calls: number; cpu: number }> {
  const cmd = await admin.info('commandstats');
  let calls = 0;
  for (const m of cmd.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') calls += Number(m[2]);
  const cpu = await admin.info('cpu');
  const user = Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1]);
  return { calls, cpu: (user + sys) * 1e6 };
}

async function measure(decide: Decide, inFlight: number): Promise<{ rate: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < DECISIONS) {
        const i = next++;
        const s = performance.now();
        await decide(keyOf(i));
        lat.push(performance.now() - s);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rate: DECISIONS / secs, p50: lat[Math.floor(lat.length * 0.5)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const server = await startRedis();
  const admin = new Redis({ port: server.port, host: '127.0.0.1' });
  const client = new Redis({ port: server.port, host: '127.0.0.1', ...replaySafeRedisOptions });
  const rows = new Map<
    string,
    {
      r1: number[];
      r100: number[];
      p50: number[];
      p99: number[];
      p50one: number[];
      cmds: number[];
      rcpu: number[];
      ccpu: number[];
      bytes: number[];
    }
  >();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? [...contenders].reverse() : contenders;
      for (const c of order) {
        const decide = c.make(client, round);
        if (process.env.RK_DEBUG) console.error('contender', c.name);
        await measure(decide, 100); // warm-up (loads scripts, creates keys)
        const row = rows.get(c.name) ?? { r1: [], r100: [], p50: [], p99: [], p50one: [], cmds: [], rcpu: [], ccpu: [], bytes: [] };
        rows.set(c.name, row);
        const one = await measure(decide, 1);
        row.r1.push(one.rate);
        row.p50one.push(one.p50);
        await admin.config('RESETSTAT');
        const before = await stats(admin);
        const netBefore = Number(/total_net_input_bytes:(\d+)/.exec(await admin.info('stats'))?.[1]);
        const cpu0 = process.cpuUsage();
        const many = await measure(decide, 100);
        const cpu1 = process.cpuUsage(cpu0);
        const netAfter = Number(/total_net_input_bytes:(\d+)/.exec(await admin.info('stats'))?.[1]);
        const after = await stats(admin);
        row.r100.push(many.rate);
        row.p50.push(many.p50);
        row.p99.push(many.p99);
        // INFO/CONFIG calls of the admin connection are excluded from the command count.
        row.cmds.push((after.calls - before.calls) / DECISIONS);
        row.rcpu.push((after.cpu - before.cpu) / DECISIONS);
        row.ccpu.push((cpu1.user + cpu1.system) / DECISIONS);
        row.bytes.push((netAfter - netBefore) / DECISIONS);
      }
    }
  } finally {
    client.disconnect();
    admin.disconnect();
    await server.stop();
  }
  const floor = rows.get('floor: EVALSHA of INCR+PEXPIRE');
  const floorRate = floor ? median(floor.r100) : 1;
  const f = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(
    `\nRedis store benchmark: ${DECISIONS} decisions per contender per round, ${KEYS.toLocaleString()} keys, ${ROUNDS} rounds (medians)\n`,
  );
  console.log(
    '| contender | decisions/s @1 | p50 @1 (ms) | decisions/s @100 | vs floor | p50 @100 (ms) | p99 @100 (ms) | Redis cmds/decision | Redis CPU µs/decision | client CPU µs/decision | bytes in/request |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${f(median(r.r1))} | ${f(median(r.p50one), 3)} | ${f(median(r.r100))} | ${f((100 * median(r.r100)) / floorRate)} % | ${f(median(r.p50), 2)} | ${f(median(r.p99), 2)} | ${f(median(r.cmds), 2)} | ${f(median(r.rcpu), 1)} | ${f(median(r.ccpu), 1)} | ${f(median(r.bytes))} |`,
    );
  }
}

await main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
