// One client process of bench/redis-lease.ts. It waits for commands from the parent over IPC:
// { id, scenario, ms } builds that contender on its own connection, warms it up on the scenario's
// keys, answers { ready }, waits for { go }, runs `ms` of decisions with 100 in flight and answers
// { n, allowed, cpuUs, elapsedMs, failures }, then closes the contender (a leasing store gives its units back).
import { createRequire } from 'node:module';
import { createLimiter, type Limiter } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import { RedisStore as RateLimitRedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { ipKeys } from './keys';

const port = Number(process.argv[2]);
const IN_FLIGHT = 100;
const MINUTE = 60_000;
const require = createRequire(import.meta.url);
const coldKeys = ipKeys(10_000);

interface Instance {
  decide(key: string): Promise<boolean>;
  close(): Promise<void>;
}

interface FastifyStore {
  incr(key: string, cb: (err: Error | null, res: { current: number; ttl: number } | null) => void, timeWindow: number, max: number): void;
}
type FastifyStoreCtor = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, key?: string) => FastifyStore;

/** Decisions the onStoreError policy answered (a slow reply): none may count as Redis decisions. */
let failures = 0;

const rk = (client: Redis, algorithm: 'fixed-window' | 'gcra' | 'token-bucket', lease: boolean): Instance => {
  const store = new RedisStore({ client, ...(lease ? { lease: { size: 'auto' as const } } : {}) });
  // 1e9 per minute (the most a rule takes for a minute): nothing is denied, so every contender does
  // the same work per decision.
  // A generous timeout: 4 processes × 100 in flight on one CPU can take longer than the default 250 ms
  // for a reply, and a decision the fail-open policy answered would be counted without Redis's work.
  const limiter: Limiter = createLimiter({
    limit: 1e9,
    window: '1m',
    algorithm,
    store,
    prefix: lease ? 'rkl:' : 'rkp:',
    timeoutMs: 30_000,
    onError: () => {
      failures++;
    },
  });
  return { decide: (k) => limiter.consume(k).then((d) => d.allowed), close: () => store.close() };
};

const make: Record<string, (client: Redis) => Promise<Instance> | Instance> = {
  'rk-fixed': (c) => rk(c, 'fixed-window', false),
  'rk-gcra': (c) => rk(c, 'gcra', false),
  'rk-lease-fixed': (c) => rk(c, 'fixed-window', true),
  'rk-lease-gcra': (c) => rk(c, 'gcra', true),
  'rk-lease-tb': (c) => rk(c, 'token-bucket', true),
  'rate-limit-redis': async (client) => {
    const store = new RateLimitRedisStore({
      sendCommand: (...args: string[]) => client.call(...(args as [string, ...string[]])) as Promise<RedisReply>,
      prefix: 'rlr:',
    });
    await store.init({ windowMs: MINUTE } as Parameters<RateLimitRedisStore['init']>[0]);
    return { decide: (k) => store.increment(k).then((r) => r.totalHits <= 1e9), close: async () => {} };
  },
  rlf: (client) => {
    const l = new RateLimiterRedis({ storeClient: client, points: 1e9, duration: MINUTE / 1000, keyPrefix: 'rlf' });
    return { decide: (k) => l.consume(k).then(() => true), close: async () => {} };
  },
  fastify: (client) => {
    const Ctor = require('@fastify/rate-limit/store/RedisStore.js') as FastifyStoreCtor;
    const store = new Ctor(false, false, client, 'frl:');
    return {
      decide: (k) =>
        new Promise((resolve, reject) =>
          store.incr(k, (err, res) => (err ? reject(err) : resolve((res?.current ?? 0) <= 1e9)), MINUTE, 1e9),
        ),
      close: async () => {},
    };
  },
};

async function run(inst: Instance, scenario: string, ms: number): Promise<{ n: number; allowed: number; elapsedMs: number }> {
  let n = 0;
  let allowed = 0;
  let next = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        const key = scenario === 'hot' ? 'hot' : (coldKeys[next++ % coldKeys.length] as string);
        if (await inst.decide(key)) allowed++;
        n++;
      }
    }),
  );
  return { n, allowed, elapsedMs: performance.now() - t0 };
}

const client = new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions });
await client.ping();
let current: { inst: Instance; scenario: string; ms: number } | undefined;
process.on('message', (m: { id?: string; scenario?: string; ms?: number; go?: boolean; quit?: boolean }) => {
  void (async () => {
    if (m.quit) {
      client.disconnect();
      process.exit(0);
    }
    if (m.id !== undefined) {
      const factory = make[m.id];
      if (factory === undefined) throw new Error(`unknown contender ${m.id}`);
      const inst = await factory(client);
      current = { inst, scenario: m.scenario as string, ms: m.ms as number };
      // Warm-up: JIT, scripts, lease sizes (cold keys: every key seen once).
      await run(inst, current.scenario, Math.min(current.scenario === 'hot' ? 300 : 1000, current.ms));
      process.send?.({ ready: true });
      return;
    }
    if (m.go && current) {
      const cpu0 = process.cpuUsage();
      failures = 0;
      const r = await run(current.inst, current.scenario, current.ms);
      const cpu = process.cpuUsage(cpu0);
      await current.inst.close();
      current = undefined;
      process.send?.({ ...r, cpuUs: cpu.user + cpu.system, failures });
    }
  })().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
});
process.send?.({ ready: true });
