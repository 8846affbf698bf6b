import { createLimiter, isConfigError, type Limiter } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { Cluster, Redis } from 'ioredis';
import { ALGORITHMS } from '../../../src/rules';
import { clusterPorts, newCluster, newRedis, pollUntil, redisPort, uniquePrefix } from './helpers';

const redis = newRedis();
const cluster = newCluster();
afterAll(async () => {
  await Promise.all([redis.quit(), cluster.quit()]);
});

async function keysOf(client: Redis | Cluster, prefix: string): Promise<{ key: string; pttl: number }[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const out: { key: string; pttl: number }[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) out.push({ key, pttl: await node.pttl(key) });
    } while (cursor !== '0');
  }
  return out;
}

describe('every key has a TTL', () => {
  it.each(['server', 'server-script', 'client'] as const)(
    'after every operation of a random run (%s clock), SCAN finds no key without a TTL',
    async (clock) => {
      const prefix = uniquePrefix(`ttl-${clock}`);
      let t = 1_700_000_000_000;
      const limiter = createLimiter({
        timeoutMs: 30_000,
        rules: ALGORITHMS.map((algorithm, i) => ({ algorithm, limit: 3 + i, window: 50 + 100 * i, ...(i % 2 ? { blockFor: 30 } : {}) })),
        store: new RedisStore({ client: redis, clock }),
        prefix,
        now: () => t,
      });
      let seed = 7;
      const rnd = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      const charges: number[] = [];
      for (let i = 0; i < 150; i++) {
        const key = `k${rnd(3)}`;
        const op = rnd(10);
        if (op < 5) {
          const d = await limiter.consume(key, { cost: 1 + rnd(3) });
          if (d.allowed) charges.push(d.at);
        } else if (op < 6) await limiter.peek(key);
        else if (op < 8) await limiter.refund(key, 1 + rnd(2), { at: charges[charges.length - 1 - rnd(3)] ?? t });
        else t += rnd(200);
        const keys = await keysOf(redis, prefix);
        // -2 means it expired between SCAN and PTTL; -1 (no TTL) must never happen.
        const immortal = keys.filter((k) => k.pttl === -1);
        expect(immortal).toEqual([]);
      }
    },
  );
});

describe('old windows are dropped', () => {
  it.each([
    ['fixed-window', 1],
    ['sliding-window', 2],
  ] as const)('%s: a new window keeps at most %i window counter(s) in the hash', async (algorithm, fields) => {
    const prefix = uniquePrefix(`old-${algorithm}`);
    let t = 1_700_000_000_000;
    const limiter = createLimiter({
      timeoutMs: 30_000,
      limit: 5,
      window: 1000,
      algorithm,
      store: new RedisStore({ client: redis, clock: 'client' }),
      prefix,
      now: () => t,
    });
    for (let w = 0; w < 4; w++) {
      await limiter.consume('k');
      await limiter.consume('k');
      t += 1000;
    }
    const keys = await keysOf(redis, prefix);
    expect(keys).toHaveLength(1);
    expect(await redis.hlen(keys[0]?.key as string)).toBe(fields);
  });
});

describe('refunds never create keys', () => {
  it.each(ALGORITHMS)('%s: a refund after the window expired leaves no key', async (algorithm) => {
    const prefix = uniquePrefix(`refund-expired-${algorithm}`);
    const limiter: Limiter = createLimiter({
      timeoutMs: 30_000,
      limit: 2,
      // Long enough that the key is surely still there when checked right after the consume (a
      // 30 ms window could expire first on a busy machine), short enough to wait for.
      window: 800,
      algorithm,
      store: new RedisStore({ client: redis }),
      prefix,
    });
    const d = await limiter.consume('k');
    expect(d.allowed).toBe(true);
    expect((await keysOf(redis, prefix)).length).toBeGreaterThan(0);
    // Wait (by polling) for Redis to expire the state on its own clock.
    await pollUntil(async () => (await keysOf(redis, prefix)).length === 0, 'the key to expire');
    await limiter.refund('k', 1, { at: d.at });
    await limiter.refund('k', 5);
    expect(await keysOf(redis, prefix)).toEqual([]);
  });
});

describe('options', () => {
  it('a client that would replay a script after a reconnect gets a replay-safe duplicate connection', async () => {
    const unsafe = new Redis({ host: '127.0.0.1', port: redisPort() });
    const unsafeCluster = new Cluster([{ host: '127.0.0.1', port: clusterPorts()[0] as number }]);
    const store = new RedisStore({ client: unsafe, clock: 'client' });
    const clusterStore = new RedisStore({ client: unsafeCluster, clock: 'client' });
    try {
      expect(store.client).not.toBe(unsafe);
      expect((store.client as Redis).options.autoResendUnfulfilledCommands).toBe(false);
      expect(clusterStore.client).not.toBe(unsafeCluster);
      expect((clusterStore.client as Cluster).options.retryDelayOnFailover).toBe(0);
      for (const s of [store, clusterStore]) {
        const limiter = createLimiter({
          timeoutMs: 30_000,
          limit: 1,
          window: '1m',
          store: s,
          prefix: uniquePrefix('dup'),
          now: () => 1_700_000_000_000,
        });
        expect((await limiter.consume('k')).allowed).toBe(true);
        expect((await limiter.consume('k')).allowed).toBe(false);
      }
      // The duplicate ends with the client it was made from.
      const ended = new Promise<void>((resolve) => store.client.once('end', () => resolve()));
      await unsafe.quit();
      await ended;
      expect(store.client.status).toBe('end');
    } finally {
      unsafe.disconnect();
      await clusterStore.close();
      expect(['end', 'disconnecting', 'close']).toContain(clusterStore.client.status);
      await unsafeCluster.quit();
    }
  });

  it('a replay-safe client is used as is', () => {
    expect(new RedisStore({ client: redis }).client).toBe(redis);
    expect(new RedisStore({ client: cluster }).client).toBe(cluster);
  });

  it.each([
    [{ client: 'nope' }, /`client`/],
    [{ client: 'redis', clock: 'local' }, /`clock`.*"local"/],
    [{ client: 'redis', prefix: 'a{b' }, /`prefix`.*"a\{b"/],
    [{ client: 'redis', timeoutMs: 0 }, /`timeoutMs`.*got 0/],
    [{ client: 'redis', blockedCache: { maxKeys: 0 } }, /`blockedCache.maxKeys`.*got 0/],
    [{ client: 'redis', ttl: 5 }, /`ttl`/],
    [{ client: 'redis', timeout: 5 }, /^Unknown option `timeout`: did you mean `timeoutMs`\? expected one of client, prefix, clock/],
  ])('rejects %p with a ConfigError naming the option', (options, message) => {
    const o = { ...options, client: options.client === 'redis' ? redis : options.client };
    let error: unknown;
    try {
      new RedisStore(o as never);
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it('a limiter prefix with braces is refused at createLimiter', () => {
    expect(() =>
      createLimiter({ timeoutMs: 30_000, limit: 1, window: 1000, store: new RedisStore({ client: redis }), prefix: 'x}' }),
    ).toThrow(/`prefix`/);
  });
});

describe('Cluster key layout', () => {
  it('three rules of one key share a slot for any key (empty, braces, percent): no CROSSSLOT, no collisions', async () => {
    const prefix = uniquePrefix('slots');
    const limiter = createLimiter({
      timeoutMs: 30_000,
      rules: [
        { limit: 2, window: '1m', algorithm: 'fixed-window' },
        { limit: 3, window: '1h', algorithm: 'gcra' },
        { limit: 4, window: '1h', algorithm: 'sliding-log', blockFor: '1m' },
      ],
      store: new RedisStore({ client: cluster }),
      prefix,
      onStoreError: 'deny',
    });
    const keys = ['', '}', '{', '{}', 'a}b', 'a}c', '%', '%7D', '%25', 'plain', '{user}:1'];
    for (const key of keys) {
      const d = await limiter.consume(key);
      expect([key, d.error?.message, d.remaining]).toEqual([key, undefined, 1]);
    }
    // Every key has its own state.
    for (const key of keys) expect((await limiter.peek(key)).remaining).toBe(1);
    await limiter.reset();
    expect(await keysOf(cluster, prefix)).toEqual([]);
  });
});

describe('blocked-key cache', () => {
  it('answers a known-denied key locally until it could pass, then asks Redis again', async () => {
    const client = newRedis(redisPort());
    let calls = 0;
    const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (...args) => {
      calls++;
      return evalsha(...args);
    };
    let t = 1_700_000_000_000;
    const limiter = createLimiter({
      timeoutMs: 30_000,
      limit: 2,
      window: 1000,
      algorithm: 'fixed-window',
      store: new RedisStore({ client, clock: 'client', blockedCache: true }),
      prefix: uniquePrefix('cache'),
      now: () => t,
    });
    try {
      await limiter.consume('k');
      await limiter.consume('k');
      const denied = await limiter.consume('k');
      expect(denied).toMatchObject({ allowed: false, retryAfterMs: 1000 });
      expect(calls).toBe(3);
      t += 400;
      const cached = await limiter.consume('k');
      expect(cached).toMatchObject({ allowed: false, retryAfterMs: 600, at: t });
      expect(calls).toBe(3);
      // Another key is not affected.
      expect((await limiter.consume('other')).allowed).toBe(true);
      expect(calls).toBe(4);
      t += 600;
      expect((await limiter.consume('k')).allowed).toBe(true);
      expect(calls).toBe(5);
      // A local refund drops the cached denial.
      await limiter.consume('k');
      expect((await limiter.consume('k')).allowed).toBe(false);
      await limiter.refund('k', 1, { at: t });
      expect((await limiter.consume('k')).allowed).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it('is off by default: every consume is a round trip', async () => {
    const client = newRedis(redisPort());
    let calls = 0;
    const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (...args) => {
      calls++;
      return evalsha(...args);
    };
    const limiter = createLimiter({
      timeoutMs: 30_000,
      limit: 1,
      window: '1h',
      store: new RedisStore({ client }),
      prefix: uniquePrefix('nocache'),
    });
    try {
      for (let i = 0; i < 4; i++) await limiter.consume('k');
      expect(calls).toBe(4);
    } finally {
      await client.quit();
    }
  });
});
