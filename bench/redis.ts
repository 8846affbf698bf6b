// Redis store benchmark: ratekeeper's RedisStore against rate-limit-redis, rate-limiter-flexible and
// @fastify/rate-limit's Redis store, the trivial EVALSHA INCR+PEXPIRE script as the floor, and
// redis-benchmark (C client) of that script as the physical reference, on a throwaway local
// redis-server pinned to CPU 0.
// Each measurement: FLUSHALL, N decisions over 10,000 keys, one ioredis connection; at 1 in flight
// the client runs on Redis's CPU, at 100 in flight on the other one (on a 2-vCPU VM, waking the idle
// vCPU added ~100 µs to every round trip at 1 in flight, more than any difference between libraries).
// Contenders alternate across rounds; medians (and per-round values) are reported. Besides
// throughput (noisy on shared machines) it reports per-decision Redis commands (INFO commandstats,
// Lua-internal included), Redis CPU, client CPU and bytes: the steadier figures.
// Then the concurrency slots benchmark (bench/redis-slots.ts: acquire+release vs Bottleneck's Redis mode)
// and lease mode (bench/redis-lease.ts: 4 client processes, a hot key and 10,000 cold keys).
// Run: pnpm bench:redis [--rounds 3] [--decisions 200000] [--quick] [--only id,id|slots|lease] [--no-pin] [--no-slots] [--no-lease] [--lease-seconds S] [--list]
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createLimiter, type Limiter } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import Valkey from 'iovalkey';
import { RedisStore as RateLimitRedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient } from 'redis';
import { startRedis } from '../scripts/redis-server';
import { ipKeys } from './lib/keys';
import { markdownTable } from './lib/markdown';
import { type CounterDelta, delta, pin, redisBenchmark, serverCounters } from './lib/redis-stats';
import { fmtFixed, fmtInt, median, spread } from './lib/stats';
import { leaseBench } from './redis-lease';
import { slotsBench } from './redis-slots';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('quick');
const ROUNDS = Number(opt('rounds') ?? (QUICK ? 1 : 3));
const DECISIONS = Number(opt('decisions') ?? (QUICK ? 20_000 : 200_000));
const WARMUP = Math.min(DECISIONS, 20_000);
const KEYS = 10_000;
const PIN = !flag('no-pin') && cpus().length >= 2;
const REDIS_CPU = 0;
const OTHER_CPU = 1;
const keys = ipKeys(KEYS);

type Decide = (key: string) => Promise<unknown>;
interface Instance {
  decide: Decide;
  close?: () => Promise<void>;
}
interface Contender {
  id: string;
  name: string;
  make(client: Redis): Promise<Instance> | Instance;
}

const TRIVIAL = "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return c";
const HOUR = 3_600_000;
const require = createRequire(import.meta.url);

function rk(store: RedisStore, limiter: Limiter): Instance {
  return { decide: (k) => limiter.consume(k), close: () => store.close() };
}

interface FastifyStore {
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number } | null) => void, timeWindow: number, max: number): void;
}
type FastifyStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => FastifyStore;

const contenders: Contender[] = [
  {
    id: 'rk-fixed',
    name: "ratekeeper fixed-window, 1 rule (clock: 'server', synced; default)",
    make: (client) => {
      const store = new RedisStore({ client });
      return rk(store, createLimiter({ limit: 1e7, window: '1h', algorithm: 'fixed-window', store, prefix: 'rka:' }));
    },
  },
  {
    id: 'rk-fixed-script',
    name: "ratekeeper fixed-window, 1 rule (clock: 'server-script')",
    make: (client) => {
      const store = new RedisStore({ client, clock: 'server-script' });
      return rk(store, createLimiter({ limit: 1e7, window: '1h', algorithm: 'fixed-window', store, prefix: 'rkb:' }));
    },
  },
  {
    id: 'rk-fixed-client',
    name: "ratekeeper fixed-window, 1 rule (clock: 'client')",
    make: (client) => {
      const store = new RedisStore({ client, clock: 'client' });
      return rk(store, createLimiter({ limit: 1e7, window: '1h', algorithm: 'fixed-window', store, prefix: 'rkc:' }));
    },
  },
  {
    id: 'rk-sliding',
    name: 'ratekeeper sliding-window, 1 rule (default clock)',
    make: (client) => {
      const store = new RedisStore({ client });
      return rk(store, createLimiter({ limit: 1e7, window: '1m', algorithm: 'sliding-window', store, prefix: 'rkd:' }));
    },
  },
  {
    id: 'rk-fixed-node-redis',
    name: 'ratekeeper fixed-window, 1 rule, through node-redis 6 (default clock)',
    make: async (client) => {
      const nodeRedis = await createClient({ socket: { host: '127.0.0.1', port: client.options.port as number } }).connect();
      const store = new RedisStore({ client: nodeRedis });
      const limiter = createLimiter({ limit: 1e7, window: '1h', algorithm: 'fixed-window', store, prefix: 'rkn:' });
      return { decide: (k) => limiter.consume(k), close: () => store.close().then(() => nodeRedis.close()) };
    },
  },
  {
    id: 'rk-fixed-iovalkey',
    name: 'ratekeeper fixed-window, 1 rule, through iovalkey (default clock)',
    make: (client) => {
      const valkey = new Valkey({ host: '127.0.0.1', port: client.options.port as number, ...replaySafeRedisOptions });
      const store = new RedisStore({ client: valkey });
      const limiter = createLimiter({ limit: 1e7, window: '1h', algorithm: 'fixed-window', store, prefix: 'rkv:' });
      return {
        decide: (k) => limiter.consume(k),
        close: () =>
          store
            .close()
            .then(() => valkey.quit())
            .then(() => undefined),
      };
    },
  },
  {
    id: 'rk-gcra',
    name: 'ratekeeper gcra, 1 rule (default clock)',
    make: (client) => {
      const store = new RedisStore({ client });
      return rk(store, createLimiter({ limit: 1e6, window: '1s', algorithm: 'gcra', store, prefix: 'rkf:' }));
    },
  },
  {
    id: 'rk-3rules',
    name: 'ratekeeper 3 rules: gcra 1s + sliding 1m + fixed 1h (default clock)',
    make: (client) => {
      const store = new RedisStore({ client });
      const limiter = createLimiter({
        rules: [
          { limit: 1e6, window: '1s', algorithm: 'gcra' },
          { limit: 1e7, window: '1m', algorithm: 'sliding-window' },
          { limit: 1e7, window: '1h', algorithm: 'fixed-window' },
        ],
        store,
        prefix: 'rke:',
      });
      return rk(store, limiter);
    },
  },
  {
    id: 'rate-limit-redis',
    name: 'rate-limit-redis `increment` (express-rate-limit store)',
    make: async (client) => {
      const store = new RateLimitRedisStore({
        sendCommand: (...args: string[]) => client.call(...(args as [string, ...string[]])) as Promise<RedisReply>,
        prefix: 'rlr:',
      });
      await store.init({ windowMs: HOUR } as Parameters<RateLimitRedisStore['init']>[0]);
      return { decide: (k) => store.increment(k) };
    },
  },
  {
    id: 'rlf',
    name: 'rate-limiter-flexible `RateLimiterRedis.consume`',
    make: (client) => {
      const l = new RateLimiterRedis({ storeClient: client, points: 1e9, duration: HOUR / 1000, keyPrefix: 'rlf' });
      return { decide: (k) => l.consume(k) };
    },
  },
  {
    id: 'fastify',
    name: '@fastify/rate-limit `RedisStore.incr` (in a Promise, as its plugin)',
    make: (client) => {
      const Ctor = require('@fastify/rate-limit/store/RedisStore.js') as FastifyStoreCtor;
      const store = new Ctor(false, false, client, 'frl:');
      return {
        decide: (k) => new Promise((resolve, reject) => store.incr(k, (err, res) => (err ? reject(err) : resolve(res)), HOUR, 1e9)),
      };
    },
  },
  {
    id: 'floor',
    name: 'floor: ioredis EVALSHA of INCR+PEXPIRE',
    make: (client) => {
      if (!('rkTrivial' in client)) client.defineCommand('rkTrivial', { numberOfKeys: 1, lua: TRIVIAL });
      const c = client as unknown as { rkTrivial(k: string, ms: number): Promise<number> };
      return { decide: (k) => c.rkTrivial(`tiny:${k}`, HOUR) };
    },
  },
];

interface Sample {
  rate: number;
  p50Us: number;
  p99Us: number;
  clientCpuUs: number;
  roundTrips: number;
  server: CounterDelta;
  bytesPerKey: number;
}

async function drive(decide: Decide, n: number, inFlight: number, lat?: Float64Array): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await decide(keys[i % KEYS] as string);
        if (lat) lat[i] = performance.now() - s;
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** Mean MEMORY USAGE over up to 200 keys (only the measured contender's keys exist after FLUSHALL). */
async function bytesPerKey(admin: Redis): Promise<number> {
  const [, found] = await admin.scan('0', 'COUNT', 400);
  const sample = found.slice(0, 200);
  if (sample.length === 0) return Number.NaN;
  let total = 0;
  for (const k of sample) total += Number(await admin.call('MEMORY', 'USAGE', k, 'SAMPLES', '0'));
  return total / sample.length;
}

async function measure(admin: Redis, counter: { sent: number }, decide: Decide, inFlight: number): Promise<Sample> {
  await admin.flushall();
  const lat = new Float64Array(DECISIONS);
  const before = await serverCounters(admin);
  const sent0 = counter.sent;
  const cpu0 = process.cpuUsage();
  const rate = await drive(decide, DECISIONS, inFlight, lat);
  const cpu = process.cpuUsage(cpu0);
  const sent = counter.sent - sent0;
  const after = await serverCounters(admin);
  lat.sort();
  return {
    rate,
    p50Us: (lat[Math.floor(DECISIONS * 0.5)] ?? Number.NaN) * 1000,
    p99Us: (lat[Math.floor(DECISIONS * 0.99)] ?? Number.NaN) * 1000,
    clientCpuUs: (cpu.user + cpu.system) / DECISIONS,
    roundTrips: sent / DECISIONS,
    server: delta(before, after, DECISIONS),
    bytesPerKey: await bytesPerKey(admin),
  };
}

interface CRow {
  rate: number;
  p50Us: number;
  p99Us: number;
  server: CounterDelta;
}

async function main(): Promise<void> {
  if (flag('list')) {
    for (const c of contenders) console.log(`${c.id.padEnd(18)} ${c.name}`);
    return;
  }
  const only = opt('only')?.split(',');
  const chosen = contenders.filter((c) => !only || only.includes(c.id) || c.id === 'floor');
  if (only && chosen.length === 1 && only.every((id) => id === 'slots' || id === 'lease')) {
    await extras(only);
    return;
  }
  const server = await startRedis();
  const pinnedRedis = PIN && pin(server.pid, REDIS_CPU);
  const admin = new Redis({ port: server.port, host: '127.0.0.1' });
  const client = new Redis({ port: server.port, host: '127.0.0.1', ...replaySafeRedisOptions });
  // Round trips: every command ioredis writes for the measured client.
  const counter = { sent: 0 };
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((...a: Parameters<Redis['sendCommand']>) => {
    counter.sent++;
    return send(...a);
  }) as Redis['sendCommand'];
  await Promise.all([admin.ping(), client.ping()]);
  const samples = new Map<string, { one: Sample[]; many: Sample[] }>(chosen.map((c) => [c.id, { one: [], many: [] }]));
  const cbench: CRow[] = [];
  const started = Date.now();
  try {
    const tinySha = String(await admin.script('LOAD', TRIVIAL));
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate: even rounds forwards, odd rounds backwards, each rotated by the round number.
      const rotated = chosen.map((_, i) => chosen[(i + round) % chosen.length] as Contender);
      const order = round % 2 ? rotated.reverse() : rotated;
      for (const c of order) {
        process.stderr.write(`round ${round + 1}/${ROUNDS}: ${c.id}\n`);
        const inst = await c.make(client);
        try {
          await admin.flushall();
          await drive(inst.decide, WARMUP, 100); // loads scripts, JIT, syncs the server clock
          const s = samples.get(c.id) as { one: Sample[]; many: Sample[] };
          if (PIN) pin(process.pid, REDIS_CPU);
          s.one.push(await measure(admin, counter, inst.decide, 1));
          if (PIN) pin(process.pid, OTHER_CPU);
          s.many.push(await measure(admin, counter, inst.decide, 100));
        } finally {
          await inst.close?.();
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS}: redis-benchmark\n`);
      await admin.flushall();
      const before = await serverCounters(admin);
      const r = await redisBenchmark(server.port, ['EVALSHA', tinySha, '1', 'tiny:__rand_int__', String(HOUR)], {
        n: DECISIONS,
        clients: 100,
        keys: KEYS,
        ...(PIN ? { cpu: OTHER_CPU } : {}),
      });
      cbench.push({ ...r, server: delta(before, await serverCounters(admin), DECISIONS) });
    }
  } finally {
    client.disconnect();
    admin.disconnect();
    await server.stop();
  }
  report(chosen, samples, cbench, pinnedRedis, (Date.now() - started) / 1000);
  await extras(only);
}

/** The slots and lease benchmarks, unless left out (`--no-slots`, `--no-lease`, or `--only` without them). */
async function extras(only: string[] | undefined): Promise<void> {
  if (!flag('no-slots') && (!only || only.includes('slots'))) {
    const text = await slotsBench({ rounds: ROUNDS, pairs: QUICK ? 5_000 : 20_000 });
    console.log(`\n${text}`);
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    writeFileSync(`${dir}redis-slots-${new Date().toISOString().replace(/[:.]/g, '-')}.md`, `${text}\n`);
  }
  if (!flag('no-lease') && (!only || only.includes('lease'))) {
    const text = await leaseBench({ rounds: ROUNDS, seconds: Number(opt('lease-seconds') ?? (QUICK ? 1 : 3)) });
    console.log(`\n${text}`);
  }
}

function report(
  chosen: Contender[],
  samples: Map<string, { one: Sample[]; many: Sample[] }>,
  cbench: CRow[],
  pinned: boolean,
  seconds: number,
): void {
  const floor = samples.get('floor');
  /** Per-round ratio to the floor of the same round and in-flight setting, then the median. */
  const ratio = (xs: Sample[], fs: Sample[] | undefined) => median(xs.map((x, i) => x.rate / (fs?.[i]?.rate ?? Number.NaN)));
  const per = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f));
  const rows: string[][] = [];
  for (const c of chosen) {
    const s = samples.get(c.id);
    if (!s) continue;
    for (const [inFlight, xs, fs] of [
      [1, s.one, floor?.one],
      [100, s.many, floor?.many],
    ] as const) {
      rows.push([
        c.name,
        String(inFlight),
        `${fmtInt(per(xs, (x) => x.rate))} (${xs.map((x) => fmtInt(x.rate)).join(' / ')})`,
        fmtFixed(ratio(xs, fs), 2),
        fmtFixed(
          per(xs, (x) => x.p50Us),
          1,
        ),
        fmtFixed(
          per(xs, (x) => x.p99Us),
          1,
        ),
        fmtFixed(
          per(xs, (x) => x.clientCpuUs),
          1,
        ),
        fmtFixed(
          per(xs, (x) => x.server.redisCpuUs),
          1,
        ),
        fmtFixed(
          per(xs, (x) => x.roundTrips),
          2,
        ),
        fmtFixed(
          per(xs, (x) => x.server.cmds),
          2,
        ),
        `${fmtInt(per(xs, (x) => x.server.inBytes))} / ${fmtInt(per(xs, (x) => x.server.outBytes))}`,
        fmtInt(per(xs, (x) => x.bytesPerKey)),
      ]);
    }
  }
  const cb = (f: (r: CRow) => number) => median(cbench.map(f));
  if (cbench.length > 0)
    rows.push([
      'ref: redis-benchmark (C client) EVALSHA of INCR+PEXPIRE',
      '100',
      `${fmtInt(cb((r) => r.rate))} (${cbench.map((r) => fmtInt(r.rate)).join(' / ')})`,
      fmtFixed(median(cbench.map((r, i) => r.rate / (floor?.many[i]?.rate ?? Number.NaN))), 2),
      fmtFixed(
        cb((r) => r.p50Us),
        1,
      ),
      fmtFixed(
        cb((r) => r.p99Us),
        1,
      ),
      '-',
      fmtFixed(
        cb((r) => r.server.redisCpuUs),
        1,
      ),
      '1.00',
      fmtFixed(
        cb((r) => r.server.cmds),
        2,
      ),
      `${fmtInt(cb((r) => r.server.inBytes))} / ${fmtInt(cb((r) => r.server.outBytes))}`,
      '-',
    ]);
  const out: string[] = [];
  out.push(
    `# bench:redis — ${DECISIONS.toLocaleString('en-US')} decisions per measurement over ${KEYS.toLocaleString('en-US')} keys, ${ROUNDS} round(s), medians (per round)`,
    '',
    `Node ${process.version}, ${cpus().length} CPUs; redis-server ${pinned ? `pinned to CPU ${REDIS_CPU}; client on CPU ${REDIS_CPU} at 1 in flight, CPU ${OTHER_CPU} at 100` : 'not pinned'}; ${fmtFixed(seconds, 0)} s.`,
    '',
    markdownTable(
      [
        'contender',
        'in flight',
        'decisions/s median (per round)',
        'vs floor',
        'p50 µs',
        'p99 µs',
        'client CPU µs',
        'Redis CPU µs',
        'round trips',
        'Redis cmds',
        'bytes to / from Redis',
        'Redis B/key',
      ],
      rows,
      ['l'],
    ),
    '',
    '"vs floor": per-round ratio of decisions/s to the floor (same round, same in-flight), median. CPU, commands and bytes are per decision.',
    '',
    'Redis commands per decision at 100 in flight (commandstats, round 1):',
    '',
  );
  for (const c of chosen) {
    const s = samples.get(c.id)?.many[0];
    if (s) out.push(`- ${c.name}: ${s.server.breakdown}`);
  }
  if (cbench[0]) out.push(`- redis-benchmark: ${cbench[0].server.breakdown}`);
  out.push('', ...targets(samples), '');
  const text = out.join('\n');
  console.log(text);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}redis-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  writeFileSync(`${file}.md`, `${text}\n`);
  writeFileSync(
    `${file}.json`,
    `${JSON.stringify({ decisions: DECISIONS, keys: KEYS, rounds: ROUNDS, samples: Object.fromEntries(samples), cbench }, null, 1)}\n`,
  );
  process.stderr.write(`results written to ${file}.{md,json}\n`);
}

/** The targets (round trips, commands, CPU, request/reply sizes, throughput), checked on this run's medians. */
function targets(samples: Map<string, { one: Sample[]; many: Sample[] }>): string[] {
  const lines = ['## Targets (medians at 100 in flight unless noted)', ''];
  const many = (id: string) => samples.get(id)?.many ?? [];
  const floor = many('floor');
  const check = (ok: boolean | undefined, text: string) => lines.push(`- ${ok === undefined ? 'n/a ' : ok ? 'PASS' : 'FAIL'} ${text}`);
  const m = (id: string, f: (s: Sample) => number) => median(many(id).map(f));
  const r = (id: string) => median(many(id).map((x, i) => x.rate / (floor[i]?.rate ?? Number.NaN)));
  const has = (id: string) => many(id).length > 0;
  const rkIds = ['rk-fixed', 'rk-fixed-script', 'rk-fixed-client', 'rk-sliding', 'rk-gcra', 'rk-3rules'].filter(has);
  const allSamples = rkIds.flatMap((id) => [...(samples.get(id)?.one ?? []), ...many(id)]);
  const maxTrips = Math.max(...allSamples.map((s) => s.roundTrips));
  check(
    rkIds.length ? maxTrips < 1.01 : undefined,
    `one round trip per decision for any number of rules: max ${fmtFixed(maxTrips, 3)} over every ratekeeper measurement (the synced clock's TIME every 5 s included)`,
  );
  if (has('rk-fixed')) {
    const cmds = m('rk-fixed', (s) => s.server.cmds);
    const rcpu = m('rk-fixed', (s) => s.server.redisCpuUs);
    const ccpu = m('rk-fixed', (s) => s.clientCpuUs);
    const ratio = r('rk-fixed');
    check(cmds <= 2.1, `fixed window (default clock) ≤ 2.1 Redis commands/decision: ${fmtFixed(cmds, 2)}`);
    check(
      rcpu <= 7,
      `fixed window ≤ 7 µs Redis CPU/decision: ${fmtFixed(rcpu, 1)} (floor ${fmtFixed(
        m('floor', (s) => s.server.redisCpuUs),
        1,
      )})`,
    );
    check(
      ccpu <= 10,
      `fixed window ≤ 10 µs client CPU/decision: ${fmtFixed(ccpu, 1)} (floor ${fmtFixed(
        m('floor', (s) => s.clientCpuUs),
        1,
      )})`,
    );
    check(ratio >= 0.9, `fixed window throughput within 10 % of the trivial script (paired ratio): ${fmtFixed(ratio, 2)}`);
    const inB = m('rk-fixed', (s) => s.server.inBytes);
    const outB = m('rk-fixed', (s) => s.server.outBytes);
    check(inB <= 100 && outB <= 16, `fixed window request ≤ 100 B, reply ≤ 16 B: ${fmtInt(inB)} B / ${fmtInt(outB)} B`);
  }
  if (has('rk-sliding')) {
    const cmds = m('rk-sliding', (s) => s.server.cmds);
    const bpk = m('rk-sliding', (s) => s.bytesPerKey);
    check(cmds <= 4, `sliding window ≤ 4 Redis commands/decision: ${fmtFixed(cmds, 2)}`);
    check(
      Number.isFinite(bpk),
      `sliding window O(1) Redis memory per key: ${fmtInt(bpk)} B/key with limit 1e7 and 20 hits per key (a hash of ≤ 2 window counters, independent of limit and hits)`,
    );
  }
  if (has('rk-3rules')) {
    const ratio = r('rk-3rules');
    check(ratio >= 0.75, `3 rules ≥ 75 % of the trivial script's throughput (paired ratio): ${fmtFixed(ratio, 2)}`);
  }
  const spreads = [...samples.values()].flatMap((s) => (s.many.length > 1 ? [spread(s.many.map((x) => x.rate))] : []));
  if (spreads.length) lines.push('', `Largest per-round spread of decisions/s at 100 in flight: ${fmtFixed(Math.max(...spreads), 2)}×.`);
  return lines;
}

await main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
