// Concurrency slots on Redis: acquire + release pairs of ratekeeper's createConcurrencyLimiter on a
// RedisStore against Bottleneck 2's Redis mode (`datastore: 'ioredis'`, `maxConcurrent`), on a
// throwaway local redis-server. Each measurement: FLUSHALL, N pairs (acquire, an empty job, release)
// with 100 callers in flight on one process; one hot key (max 10 holders) and 1,000 keys (max 10
// each). Reports pairs/s, round trips per pair (commands the measured client writes), Redis commands
// and Redis CPU per pair, medians over alternating rounds.
// Run alone: node --import tsx bench/redis-slots.ts [--rounds 3] [--pairs 20000] [--quick]
// (pnpm bench:redis runs it after the decision benchmark with the same --rounds/--quick; --no-slots skips it.)
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createConcurrencyLimiter } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import Bottleneck from 'bottleneck';
import { Redis } from 'ioredis';
import { startRedis } from '../scripts/redis-server';
import { markdownTable } from './lib/markdown';
import { type CounterDelta, delta, serverCounters } from './lib/redis-stats';
import { fmtFixed, fmtInt, median } from './lib/stats';

/** Options of {@link slotsBench}. */
export interface SlotsBenchOptions {
  rounds: number;
  pairs: number;
}

type Pair = (key: string) => Promise<void>;
interface Instance {
  pair: Pair;
  close(): Promise<void>;
}
interface Contender {
  id: string;
  name: string;
  /** `client` counts the commands it writes; the contender owns it and closes it. */
  make(client: Redis): Promise<Instance>;
}

const MAX = 10;
const IN_FLIGHT = 100;
const noop = () => Promise.resolve();

const contenders: Contender[] = [
  {
    id: 'rk-slots',
    name: 'ratekeeper createConcurrencyLimiter on RedisStore (acquire + release)',
    make: async (client) => {
      const store = new RedisStore({ client });
      const slots = createConcurrencyLimiter({ max: MAX, store, leaseMs: 60_000, prefix: 'rks:' });
      return {
        pair: async (key) => {
          const lease = await slots.acquire(key);
          await lease.release();
        },
        close: () => store.close().then(() => client.disconnect()),
      };
    },
  },
  {
    id: 'bottleneck',
    name: "Bottleneck 2 Redis mode (`datastore: 'ioredis'`, `maxConcurrent`; schedule of an empty job)",
    make: async (client) => {
      const connection = new Bottleneck.IORedisConnection({ client });
      const groups = new Map<string, Bottleneck>();
      const limiterOf = (key: string) => {
        let l = groups.get(key);
        if (!l) {
          l = new Bottleneck({ datastore: 'ioredis', connection, id: `bn-${key}`, maxConcurrent: MAX, clearDatastore: false });
          groups.set(key, l);
        }
        return l;
      };
      return {
        pair: (key) => limiterOf(key).schedule(noop),
        close: async () => {
          await Promise.all([...groups.values()].map((l) => l.disconnect(true)));
          await connection.disconnect(true); // QUIT after pending commands (a job resolves before its slot is freed); quits the client too
        },
      };
    },
  },
];

interface Sample {
  rate: number;
  roundTrips: number;
  server: CounterDelta;
}

async function drive(pair: Pair, n: number, keys: readonly string[]): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) {
        const i = next++;
        await pair(keys[i % keys.length] as string);
      }
    }),
  );
  return n / ((performance.now() - t0) / 1000);
}

/** Runs the slots benchmark on its own redis-server and returns its markdown report. */
export async function slotsBench({ rounds, pairs }: SlotsBenchOptions): Promise<string> {
  const server = await startRedis();
  const admin = new Redis({ port: server.port, host: '127.0.0.1' });
  const counter = { sent: 0 };
  const counted = () => {
    const client = new Redis({ port: server.port, host: '127.0.0.1', ...replaySafeRedisOptions });
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((...a: Parameters<Redis['sendCommand']>) => {
      counter.sent++;
      return send(...a);
    }) as Redis['sendCommand'];
    return client;
  };
  const scenarios = [
    { id: 'hot', name: '1 key', keys: ['hot'] },
    { id: 'many', name: '1,000 keys', keys: Array.from({ length: 1000 }, (_, i) => `k${i}`) },
  ];
  const samples = new Map<string, Sample[]>();
  try {
    await admin.ping();
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? [...contenders].reverse() : contenders;
      for (const c of order) {
        for (const sc of scenarios) {
          process.stderr.write(`slots round ${round + 1}/${rounds}: ${c.id} ${sc.id}\n`);
          await admin.flushall();
          const inst = await c.make(counted());
          try {
            // Bottleneck registers each key's limiter on first use; the warm-up does that for both.
            await drive(inst.pair, Math.min(pairs, 2_000) + sc.keys.length, sc.keys);
            const before = await serverCounters(admin);
            const sent0 = counter.sent;
            const rate = await drive(inst.pair, pairs, sc.keys);
            const after = await serverCounters(admin);
            const key = `${c.id}/${sc.id}`;
            samples.set(key, [
              ...(samples.get(key) ?? []),
              { rate, roundTrips: (counter.sent - sent0) / pairs, server: delta(before, after, pairs) },
            ]);
          } finally {
            await inst.close();
          }
        }
      }
    }
  } finally {
    admin.disconnect();
    await server.stop();
  }
  const rows: string[][] = [];
  for (const sc of scenarios)
    for (const c of contenders) {
      const xs = samples.get(`${c.id}/${sc.id}`) ?? [];
      rows.push([
        c.name,
        sc.name,
        `${fmtInt(median(xs.map((x) => x.rate)))} (${xs.map((x) => fmtInt(x.rate)).join(' / ')})`,
        fmtFixed(median(xs.map((x) => x.roundTrips)), 2),
        fmtFixed(median(xs.map((x) => x.server.cmds)), 2),
        fmtFixed(median(xs.map((x) => x.server.redisCpuUs)), 1),
      ]);
    }
  const ratio = (sc: string) =>
    median((samples.get(`rk-slots/${sc}`) ?? []).map((x, i) => x.rate / ((samples.get(`bottleneck/${sc}`) ?? [])[i]?.rate ?? Number.NaN)));
  const lines = [
    `## Concurrency slots on Redis — ${fmtInt(pairs)} acquire+release pairs per measurement, ${IN_FLIGHT} in flight, max ${MAX} holders per key, ${rounds} round(s)`,
    '',
    markdownTable(['contender', 'keys', 'pairs/s median (per round)', 'round trips/pair', 'Redis cmds/pair', 'Redis CPU µs/pair'], rows, [
      'l',
    ]),
    '',
    `ratekeeper vs Bottleneck, pairs/s (paired per round, median): 1 key ${fmtFixed(ratio('hot'), 2)}×, 1,000 keys ${fmtFixed(ratio('many'), 2)}×.`,
    '',
    'Round trips: commands the measured ioredis client writes per pair (Bottleneck also holds a subscriber connection, not counted).',
    'Commands per pair at 1 key (commandstats, round 1):',
    '',
  ];
  for (const c of contenders) {
    const s = samples.get(`${c.id}/hot`)?.[0];
    if (s) lines.push(`- ${c.name}: ${s.server.breakdown}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const text = await slotsBench({
    rounds: Number(opt('rounds') ?? (quick ? 1 : 3)),
    pairs: Number(opt('pairs') ?? (quick ? 5_000 : 20_000)),
  });
  const header = `# bench:redis slots\n\nNode ${process.version}, ${cpus().length} CPUs, redis-server not pinned.\n\n`;
  console.log(header + text);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}redis-slots-${new Date().toISOString().replace(/[:.]/g, '-')}.md`;
  writeFileSync(file, `${header}${text}\n`);
  process.stderr.write(`results written to ${file}\n`);
}
