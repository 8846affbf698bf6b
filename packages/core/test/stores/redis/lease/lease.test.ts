// Lease mode on a real Redis, in one process: several RedisStores stand for several app processes
// (each has its own leases), driven by one manual clock (`clock: 'client'`), so window turns and
// token refills are exact and no test sleeps.
import { type Algorithm, createLimiter, type Limiter, MemoryStore } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import type { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../../../../src/errors/config-error';
import { resolveRules } from '../../../../src/rules';
import { buildLeaseScript, decodeLeaseReply } from '../../../../src/stores/redis/lease/lease-script';
import { newCluster, newRedis, uniquePrefix } from '../helpers';

const LEASING = ['fixed-window', 'token-bucket', 'gcra'] as const;
const T0 = 1_800_000_000_000; // a window boundary for every window used here

let redis: Redis;
beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await redis.quit();
});

interface Proc {
  store: RedisStore;
  limiter: Limiter;
}

function processes(
  client: Redis | Cluster,
  count: number,
  rule: { limit: number; window: number; algorithm: Algorithm; burst?: number },
  size: number | 'auto',
  clock: { t: number },
  prefix: string,
): Proc[] {
  return Array.from({ length: count }, () => {
    const store = new RedisStore({ client, clock: 'client', lease: { size, ttl: 10 * 60_000 } });
    return { store, limiter: createLimiter({ ...rule, store, prefix, now: () => clock.t, onStoreError: 'deny' } as never) };
  });
}

/** A small deterministic PRNG. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe.each(LEASING)('lease mode, %s', (algorithm) => {
  const rule = { limit: 50, window: 60_000, algorithm };

  test('one process: exactly the limit, one round trip per lease, unspent units back on close', async () => {
    const clock = { t: T0 + 1000 };
    const prefix = uniquePrefix('lease1');
    const [p] = processes(redis, 1, rule, 10, clock, prefix) as [Proc];
    let allowed = 0;
    for (let i = 0; i < 80; i++) if ((await p.limiter.consume('k')).allowed) allowed++;
    expect(allowed).toBe(50);
    await p.store.close();
    // A second process sees exactly the 50 spent: nothing was left leased.
    const [q] = processes(redis, 1, rule, 1, clock, prefix) as [Proc];
    expect((await q.limiter.peek('k')).allowed).toBe(false);

    // Spend 3 of a lease of 10, close: Redis holds exactly 3.
    const prefix2 = uniquePrefix('lease1b');
    const [a] = processes(redis, 1, rule, 10, clock, prefix2) as [Proc];
    for (let i = 0; i < 3; i++) expect((await a.limiter.consume('k')).allowed).toBe(true);
    const plain = createLimiter({
      ...rule,
      store: new RedisStore({ client: redis, clock: 'client' }),
      prefix: prefix2,
      now: () => clock.t,
    });
    expect((await plain.peek('k')).remaining).toBe(40); // 10 leased
    await a.store.close();
    expect((await plain.peek('k')).remaining).toBe(47); // 3 spent, 7 given back
  });

  test('a denied request consumes nothing, and refunds go back to the lease', async () => {
    const clock = { t: T0 + 5000 };
    const prefix = uniquePrefix('lease2');
    const [p, q] = processes(redis, 2, rule, 20, clock, prefix) as [Proc, Proc];
    for (let i = 0; i < 20; i++) expect((await p.limiter.consume('k')).allowed).toBe(true);
    for (let i = 0; i < 30; i++) expect((await q.limiter.consume('k')).allowed).toBe(true);
    const denied = await q.limiter.consume('k', { cost: 2 });
    expect(denied.allowed).toBe(false);
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    // A refund of a unit spent from the lease: spendable again, locally.
    const d = await q.limiter.consume('k', { cost: 1 }).catch(() => undefined);
    expect(d?.allowed).toBe(false);
    await p.limiter.refund('k', 2, { at: clock.t });
    expect((await p.limiter.consume('k')).allowed).toBe(true);
    expect((await p.limiter.consume('k')).allowed).toBe(true);
    expect((await p.limiter.consume('k')).allowed).toBe(false);
    await Promise.all([p.store.close(), q.store.close()]);
    const plain = createLimiter({ ...rule, store: new RedisStore({ client: redis, clock: 'client' }), prefix, now: () => clock.t });
    expect((await plain.peek('k')).remaining).toBe(0);
  });

  test('3 processes, random traffic over several windows: every admission is one the algorithm allows', async () => {
    const clock = { t: T0 };
    const prefix = uniquePrefix('lease3');
    const small = { limit: 20, window: 1000, algorithm, ...(algorithm === 'fixed-window' ? {} : { burst: 10 }) };
    const procs = processes(redis, 3, small, 'auto', clock, prefix).concat(processes(redis, 2, small, 6, clock, prefix));
    const reference = createLimiter({ ...small, store: new MemoryStore(), now: () => clock.t } as never);
    const random = rng(algorithm.length);
    const perWindow = new Map<number, number>();
    let admitted = 0;
    for (let step = 0; step < 3000; step++) {
      clock.t += Math.floor(random() * 3);
      const p = procs[Math.floor(random() * procs.length)] as Proc;
      const cost = random() < 0.1 ? 2 : 1;
      const d = await p.limiter.consume('hot', { cost });
      if (!d.allowed) continue;
      admitted += cost;
      if (algorithm === 'fixed-window') {
        const w = Math.floor(clock.t / 1000);
        perWindow.set(w, (perWindow.get(w) ?? 0) + cost);
        expect(perWindow.get(w)).toBeLessThanOrEqual(20);
      } else {
        // The admissions, replayed on a plain bucket at their times, are all allowed.
        expect((await reference.consume('hot', { cost })).allowed).toBe(true);
      }
    }
    expect(admitted).toBeGreaterThan(0);
    if (algorithm === 'fixed-window') {
      // Demand exceeds the limit: every full window admits at least limit − the units 5 processes may hold.
      const full = [...perWindow.values()];
      expect(Math.min(...full.slice(1, -1))).toBeGreaterThanOrEqual(20 - 5 * 2);
    }
    await Promise.all(procs.map((p) => p.store.close()));
  });
});

describe('window turns and expiry (client clock)', () => {
  test('fixed window: a lease is never spent after its window ends; the old window needs nothing back', async () => {
    const clock = { t: T0 + 59_000 };
    const prefix = uniquePrefix('turn');
    const rule = { limit: 10, window: 60_000, algorithm: 'fixed-window' as const };
    const [p, q] = processes(redis, 2, rule, 8, clock, prefix) as [Proc, Proc];
    expect((await p.limiter.consume('k')).allowed).toBe(true); // p holds 7 of window 1
    for (let i = 0; i < 2; i++) expect((await q.limiter.consume('k')).allowed).toBe(true); // q took the last 2
    expect((await q.limiter.consume('k')).allowed).toBe(false);
    clock.t = T0 + 60_000; // the window turns: p's 7 units are dead
    let allowed = 0;
    for (let i = 0; i < 15; i++) if ((await p.limiter.consume('k')).allowed) allowed++;
    for (let i = 0; i < 5; i++) if ((await q.limiter.consume('k')).allowed) allowed++;
    expect(allowed).toBe(10);
    await Promise.all([p.store.close(), q.store.close()]);
  });

  test.each(['token-bucket', 'gcra'] as const)('%s: leased units expire one by one as their slots pass', async (algorithm) => {
    const clock = { t: T0 };
    const prefix = uniquePrefix('slots');
    // 10 per 10 s: one unit per second; burst 10.
    const rule = { limit: 10, window: 10_000, algorithm };
    const [p, q] = processes(redis, 2, rule, 10, clock, prefix) as [Proc, Proc];
    expect((await p.limiter.consume('k')).allowed).toBe(true); // p holds units 2..10 (slots end at 2 s … 10 s)
    clock.t += 4500; // units 2, 3, 4 expired
    let p2 = 0;
    for (let i = 0; i < 10; i++) if ((await p.limiter.consume('k')).allowed) p2++;
    // Units 5 … 10 of the lease (2, 3, 4 expired unspent), then a refill of the 4 units the bucket
    // regained by 4.5 s: 10, where a plain bucket would have allowed 1 + 9 (an expired unit is an
    // under-admission, never an extra one).
    expect(p2).toBe(10);
    expect((await q.limiter.consume('k')).allowed).toBe(false);
    await Promise.all([p.store.close(), q.store.close()]);
  });
});

describe('fast buckets: a grant reserves refill time, so leased units outlive their microsecond slots', () => {
  test.each(['token-bucket', 'gcra'] as const)('%s, 1e9 per minute', async (algorithm) => {
    const clock = { t: T0 };
    const prefix = uniquePrefix('fast');
    // One unit every 60 ns: a lease of 1,000 spans 60 µs of refill, less than a millisecond.
    const rule = { limit: 1e9, window: 60_000, algorithm };
    const [p] = processes(redis, 1, rule, 1000, clock, prefix) as [Proc];
    expect((await p.limiter.consume('k')).allowed).toBe(true);
    const [key] = await redis.keys(`${prefix}*`);
    const granted = await redis.get(key as string);
    clock.t += 99; // the grant topped the backlog up to 100 ms of refill: every unit still valid
    let local = 0;
    for (let i = 0; i < 999; i++) {
      const r = p.limiter.consume('k');
      if ((await r).allowed) local++;
    }
    expect(local).toBe(999);
    expect(await redis.get(key as string)).toBe(granted); // all spent locally: no refill
    await p.store.close();
  });
});

describe('Cluster', () => {
  let cluster: Cluster;
  beforeAll(() => {
    cluster = newCluster();
  });
  afterAll(async () => {
    await cluster.quit();
  });

  test.each(LEASING)('%s: exact totals across 3 processes and leases given back on close', async (algorithm) => {
    const clock = { t: T0 + 1234 };
    const prefix = uniquePrefix('lease-cluster');
    const rule = { limit: 40, window: 60_000, algorithm };
    const procs = processes(cluster, 3, rule, 3, clock, prefix);
    let allowed = 0;
    // Keys of every slot of the 3 masters: shared by all processes, and one per process.
    for (let i = 0; i < 30; i++) {
      for (const [j, p] of procs.entries()) {
        if ((await p.limiter.consume(`user:${i % 3}`)).allowed) allowed++;
        if ((await p.limiter.consume(`own:${j}`)).allowed) allowed++;
      }
    }
    expect(allowed).toBe(180); // 30 per key and process, under the limit
    await Promise.all(procs.map((p) => p.store.close()));
    const plain = createLimiter({ ...rule, store: new RedisStore({ client: cluster, clock: 'client' }), prefix, now: () => clock.t });
    // One holder per key: everything unspent came back.
    for (let j = 0; j < 3; j++) expect((await plain.peek(`own:${j}`)).remaining).toBe(10);
    for (let k = 0; k < 3; k++) {
      const { remaining } = await plain.peek(`user:${k}`);
      if (algorithm === 'fixed-window') expect(remaining).toBe(10);
      else {
        // A bucket takes units back only from the latest grant on it; the other two holders' (at most
        // 2 each) drain as their slots pass.
        expect(remaining).toBeLessThanOrEqual(10);
        expect(remaining).toBeGreaterThanOrEqual(10 - 2 * 2);
      }
    }
  });
});

describe('the lease script', () => {
  // Every key it touches is in KEYS (Redis's scripting rules; Dragonfly enforces them): every
  // redis.call / redis.pcall goes through a guard that raises on any other key.
  const GUARD = `
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local function guard_keys(cmd, k)
  if cmd ~= 'TIME' and not declared[k] then error('undeclared key ' .. tostring(k) .. ' in ' .. cmd) end
end
local function guarded_call(cmd, k, ...) if k == nil then return redis.call(cmd) end guard_keys(cmd, k) return redis.call(cmd, k, ...) end
local function guarded_pcall(cmd, k, ...) guard_keys(cmd, k) return redis.pcall(cmd, k, ...) end
`;
  test('grants and gives back, for 3 algorithms in one limiter, touching only KEYS', async () => {
    const rules = resolveRules([
      { limit: 10, window: 60_000, algorithm: 'fixed-window' },
      { limit: 20, window: 60_000, algorithm: 'token-bucket' },
      { limit: 30, window: 60_000, algorithm: 'gcra' },
    ]);
    const src =
      GUARD +
      buildLeaseScript(rules, 'argv', 0)
        .replace(/redis\.call\(/g, 'guarded_call(')
        .replace(/redis\.pcall\(/g, 'guarded_pcall(');
    const prefix = uniquePrefix('lease-keys');
    const keys = rules.map((r) => `${prefix}${r.id}:{k}`);
    const none = [0, 0, 0, 0, '', 0, 0, '', 0, 0, '', 0];
    const reply = decodeLeaseReply(await redis.eval(src, 3, ...keys, T0, 8, 1, -1, ...none), 3);
    expect(reply?.granted).toBe(8);
    expect(reply?.rules.map((r) => r.remaining)).toEqual([2, 12, 22]);
    // Give 7 back (1 spent): every rule holds 1.
    const give = [8, 1, T0, ...(reply?.rules ?? []).flatMap((r) => [r.b0, r.state, r.reserved])];
    await redis.eval(src, 3, ...keys, T0, 0, 0, -1, ...give.slice(0, 3), ...give.slice(3));
    const again = decodeLeaseReply(await redis.eval(src, 3, ...keys, T0, 100, 1, -1, ...none), 3);
    expect(again?.granted).toBe(9); // the fixed window's 10 − 1
    expect(again?.rules.map((r) => r.remaining)).toEqual([0, 10, 20]);
  });
});

describe('options', () => {
  test('bad lease options and non-leasing rules are ConfigErrors naming the option and value', () => {
    expect(() => new RedisStore({ client: redis, lease: { size: 0 } })).toThrow(/`lease.size`.*got 0/);
    expect(() => new RedisStore({ client: redis, lease: { size: 'big' as never } })).toThrow(ConfigError);
    expect(() => new RedisStore({ client: redis, lease: { size: 'auto', ttl: -1 } })).toThrow(/`lease.ttl`/);
    expect(() => new RedisStore({ client: redis, lease: { size: 'auto', maxKeys: 0 } })).toThrow(/`lease.maxKeys`/);
    expect(() => new RedisStore({ client: redis, lease: { size: 'auto', sise: 1 } as never })).toThrow(/lease.sise/);
    const store = new RedisStore({ client: redis, lease: { size: 'auto' } });
    expect(() => createLimiter({ limit: 10, window: '1m', store })).toThrow(/`rules\[0\].algorithm`.*sliding-window/);
    expect(() => createLimiter({ limit: 10, window: '1m', algorithm: 'sliding-log', store })).toThrow(ConfigError);
    expect(() => createLimiter({ limit: 10, window: '1m', algorithm: 'gcra', blockFor: '1m', store })).toThrow(/`rules\[0\].blockFor`/);
    return store.close();
  });
});
