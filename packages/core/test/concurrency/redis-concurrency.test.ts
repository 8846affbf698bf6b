import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createConcurrencyLimiter } from '../../src/index';
import { RedisStore } from '../../src/redis';
import { newCluster, newRedis, pollUntil, redisPort, uniquePrefix } from '../stores/redis/helpers';

const redis = newRedis();
const cluster = newCluster();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([redis.quit(), cluster.quit()]);
});

function worker(args: string[]): { child: ChildProcess; message: Promise<Record<string, number>> } {
  const child = fork(join(__dirname, 'redis-concurrency-worker.ts'), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  children.push(child);
  const message = new Promise<Record<string, number>>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Record<string, number>));
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
  });
  return { child, message };
}

async function serverMs(client: Redis): Promise<number> {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

describe.each([
  ['standalone', () => redis, newRedis],
  ['Cluster', () => cluster, newCluster],
] as const)('concurrency limiter on RedisStore (%s)', (_, client, fresh) => {
  it('grants at most max, a waiter gets the released slot, one EVALSHA per acquire and per release', async () => {
    // A client of its own: the store's connection keeps the (spied) evalsha it found when created.
    const c = fresh();
    const evalsha = jest.spyOn(c, 'evalsha');
    const store = new RedisStore({ client: c });
    const limiter = createConcurrencyLimiter({ max: 2, store, prefix: uniquePrefix('conc'), pollMs: 5 });
    try {
      const a = await limiter.acquire('k');
      const b = await limiter.acquire('k');
      expect(evalsha).toHaveBeenCalledTimes(2);
      expect(await limiter.tryAcquire('k')).toBeUndefined();
      let third = false;
      const waiting = limiter.acquire('k').then((lease) => {
        third = true;
        return lease;
      });
      await a.release();
      const lease = await waiting;
      expect(third).toBe(true);
      await Promise.all([b.release(), lease.release()]);
      evalsha.mockClear();
      const d = await limiter.acquire('k');
      await d.release();
      expect(evalsha).toHaveBeenCalledTimes(2);
    } finally {
      await store.close();
      await c.quit();
    }
  });

  it('extend renews a lease; a lease that ran out cannot be extended and its slot is free', async () => {
    const c = client();
    const store = new RedisStore({ client: c });
    const prefix = uniquePrefix('ext');
    const limiter = createConcurrencyLimiter({ max: 1, store, prefix, leaseMs: 200, pollMs: 5 });
    const lease = await limiter.acquire('k');
    expect(await lease.extend()).toBe(true);
    // Redis expires it on its own clock: poll (bounded) until the slot is free again.
    let next: Awaited<ReturnType<typeof limiter.tryAcquire>>;
    await pollUntil(async () => {
      next = await limiter.tryAcquire('k');
      return next !== undefined;
    }, 'the lease to expire');
    expect(await lease.extend()).toBe(false);
    await next?.release();
    await store.close();
  });
});

describe('concurrency limiter on RedisStore across processes', () => {
  it('8 processes share max 3 slots: never more than 3 holders, every acquisition served, nothing left behind', async () => {
    const prefix = uniquePrefix('procs');
    const rounds = 25;
    const workers = Array.from({ length: 8 }, () => worker(['work', String(redisPort()), prefix, '3', String(rounds), '30000']));
    const results = await Promise.all(workers.map((w) => w.message));
    expect(results.map((r) => r.done)).toEqual(Array(8).fill(rounds));
    const most = Math.max(...results.map((r) => r.most as number));
    expect(most).toBeLessThanOrEqual(3);
    expect(most).toBe(3); // the slots were contended: 8 processes reached the cap
    expect(await redis.exists(`${prefix}{shared}`)).toBe(0);
    expect(await redis.get(`${prefix}holders`)).toBe('0');
  }, 60_000);

  it("a killed holder's slot comes back after leaseMs (Redis time), not before", async () => {
    const prefix = uniquePrefix('killed');
    const leaseMs = 800;
    const { child, message } = worker(['hold', String(redisPort()), prefix, '1', '0', String(leaseMs)]);
    const { askedAt } = await message;
    child.kill('SIGKILL');
    const store = new RedisStore({ client: redis });
    const limiter = createConcurrencyLimiter({ max: 1, store, prefix, leaseMs });
    expect(await limiter.tryAcquire('held')).toBeUndefined();
    let lease: Awaited<ReturnType<typeof limiter.tryAcquire>>;
    await pollUntil(async () => {
      lease = await limiter.tryAcquire('held');
      return lease !== undefined;
    }, "the killed holder's lease to expire");
    expect((await serverMs(redis)) - (askedAt as number)).toBeGreaterThanOrEqual(leaseMs);
    await lease?.release();
    await store.close();
  }, 30_000);
});
