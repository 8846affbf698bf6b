import { connect, createServer, type Server, type Socket } from 'node:net';
import { createLimiter, isConfigError, isStoreError, type Limiter } from '@ratekeeper/core';
import { RedisStore, type RedisStoreClient } from '@ratekeeper/core/redis';
import type { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { type RedisServer, startRedis } from '../../../../../scripts/redis-server';
import { type ClientFamily, ClientPool, FAMILIES, FAMILY_TOPOLOGIES, type Topology } from './clients';
import { clusterPorts, pollUntil, redisPort, uniquePrefix } from './helpers';

// What differs between client families, and what must not: which client the store sends on, a
// connection lost between a script and its reply, a node-redis client that is not connected,
// node-redis on RESP2 and RESP3, and the key layout (TTL on every key, one slot per decision,
// reset() on every master) through every family.

/** Scheduling slack on a busy 2-core machine: answers are bounded, not timed to the millisecond. */
const MARGIN_MS = 250;

const pool = new ClientPool();
const ioredis = FAMILIES.find((f) => f.name === 'ioredis') as ClientFamily;
const nodeRedis = FAMILIES.find((f) => f.name === 'node-redis') as ClientFamily;
const ioFamilies = FAMILIES.filter((f) => f !== nodeRedis);
let admin: Redis;
let adminCluster: Cluster;

beforeAll(async () => {
  admin = (await pool.make(ioredis, 'standalone')) as Redis;
  adminCluster = (await pool.make(ioredis, 'cluster')) as Cluster;
});
afterAll(() => pool.closeAll());

/** The connections to every master of a topology's shared servers. */
function masters(topology: Topology): Redis[] {
  return topology === 'cluster' ? adminCluster.nodes('master') : [admin];
}

/** Every key under `prefix`, by master (SCAN on each). */
async function keysByMaster(topology: Topology, prefix: string): Promise<string[][]> {
  return Promise.all(
    masters(topology).map(async (m) => {
      const out: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await m.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        out.push(...keys);
      } while (cursor !== '0');
      return out.sort();
    }),
  );
}

/** A limit-2 limiter on `store` (a fresh prefix). */
function limiterOn(store: RedisStore): Limiter {
  return createLimiter({ limit: 2, window: '1h', algorithm: 'fixed-window', store, prefix: uniquePrefix('family'), timeoutMs: 30_000 });
}

describe('the client the store sends on', () => {
  it.each(FAMILY_TOPOLOGIES)(
    '%s %s: a replay-safe client (node-redis: any client) is used as it is, no duplicate; one EVALSHA per decision',
    async (name, topology, family) => {
      const given = await pool.make(family, topology);
      const store = new RedisStore({ client: given, clock: 'client' });
      expect(store.client).toBe(given);
      expect([store.connection.family, store.connection.owned, store.connection.cluster]).toEqual([
        name === 'node-redis' ? 'node-redis' : 'ioredis',
        false,
        topology === 'cluster',
      ]);
      const limiter = createLimiter({
        limit: 2,
        window: '1h',
        algorithm: 'fixed-window',
        store,
        prefix: uniquePrefix('as-is'),
        now: () => 1_700_000_000_000,
        timeoutMs: 30_000,
      });
      // Both scripts (consume, peek) are cached on the server from here on.
      expect([(await limiter.consume('k')).error, (await limiter.peek('k')).error]).toEqual([undefined, undefined]);
      // Every command the store sends through the client: ioredis sendCommand(command), node-redis
      // sendCommand(args) and, on a cluster, sendCommand(firstKey, isReadonly, args).
      const sent: string[] = [];
      const c = given as unknown as { sendCommand: (...a: unknown[]) => unknown };
      const own = Object.hasOwn(c, 'sendCommand');
      const original = c.sendCommand;
      c.sendCommand = function (this: unknown, ...a: unknown[]) {
        const args = a.length === 3 ? (a[2] as string[]) : (a[0] as { name?: string } | string[]);
        sent.push(String(Array.isArray(args) ? args[0] : args.name).toUpperCase());
        return original.apply(this, a);
      };
      try {
        const ds = [await limiter.consume('k'), await limiter.consume('k'), await limiter.peek('k')];
        expect(ds.map((d) => [d.allowed, d.error])).toEqual([
          [true, undefined],
          [false, undefined],
          [false, undefined],
        ]);
      } finally {
        if (own) c.sendCommand = original;
        else delete (c as { sendCommand?: unknown }).sendCommand;
      }
      expect(sent).toEqual(['EVALSHA', 'EVALSHA', 'EVALSHA']);
      await store.close();
      // close() never closes the app's own client.
      expect((await limiterOn(new RedisStore({ client: given })).consume('k')).error).toBeUndefined();
    },
  );

  it.each(ioFamilies.flatMap((f) => (['standalone', 'cluster'] as const).map((t) => [f.name, t, f] as const)))(
    '%s %s: a client that would replay gets a replay-safe duplicate, which ends with its owner (and is not disconnected twice)',
    async (_name, topology, family) => {
      const owner = (await pool.make(family, topology, { plain: true })) as Redis | Cluster;
      const store = new RedisStore({ client: owner });
      const dup = store.client as Redis | Cluster;
      expect(dup).not.toBe(owner);
      expect(store.connection.owned).toBe(true);
      if (topology === 'cluster') expect((dup as Cluster).options.retryDelayOnFailover).toBe(0);
      else expect((dup as Redis).options.autoResendUnfulfilledCommands).toBe(false);
      const limiter = limiterOn(store);
      expect((await limiter.consume('k')).error).toBeUndefined();
      // The duplicate ends when its owner ends.
      await family.close(owner);
      // Bounded at 30 s: a Cluster duplicate closes one node connection after another, slowly on a loaded machine.
      await pollUntil(() => store.connection.status() === 'end', 'the duplicate to end with its owner', 10, 3000);

      // A store closed before its owner: the owner's end must not disconnect the ended duplicate
      // again (ioredis would arm a referenced 2 s destroy timer that delays the app's exit).
      const owner2 = (await pool.make(family, topology, { plain: true })) as Redis | Cluster;
      const store2 = new RedisStore({ client: owner2 });
      const dup2 = store2.client as Redis | Cluster;
      await pollUntil(() => dup2.status === 'ready', 'the duplicate to connect');
      await store2.close();
      await pollUntil(() => store2.connection.status() === 'end', 'the closed duplicate to end');
      const disconnect = jest.spyOn(dup2, 'disconnect');
      await family.close(owner2);
      expect(owner2.status).toBe('end');
      expect(disconnect).not.toHaveBeenCalled();
    },
    60_000,
  );
});

describe('a duplicate between reconnect attempts', () => {
  // ioredis emits no 'end' for a client disconnected while it waits to reconnect: the store ends
  // its duplicate itself, whether its owner ended or the store was closed.
  it.each(
    ioFamilies.flatMap((f) =>
      (['standalone', 'cluster'] as const).flatMap((t) =>
        (['owner ends', 'store closes'] as const).map((how) => [f.name, t, how, f] as const),
      ),
    ),
  )(
    '%s %s, %s: the duplicate ends and says so',
    async (_name, topology, how, family) => {
      const owner = (await pool.make(family, topology, { plain: true })) as Redis | Cluster;
      const store = new RedisStore({ client: owner });
      const dup = store.client as Redis | Cluster;
      expect((await limiterOn(store).consume('k')).error).toBeUndefined();
      // Kill the duplicate's connections on the server side: it closes and waits to reconnect.
      const own = topology === 'cluster' ? (dup as Cluster).nodes('all') : [dup as Redis];
      // Each id on its own server only (ids are per server: another server's client may have it).
      for (const n of own) {
        const id = String(await n.client('ID'));
        const admin = masters(topology).find((m) => m.options.port === n.options.port);
        await admin?.call('CLIENT', 'KILL', 'ID', id);
      }
      await pollUntil(() => dup.status === 'reconnecting', 'the duplicate to wait to reconnect', 1, 5000);
      let ended = 0;
      dup.on('end', () => ended++);
      if (how === 'owner ends') await family.close(owner);
      else await store.close();
      await pollUntil(() => ended === 1, "the duplicate's 'end'");
      expect(store.connection.status()).toBe('end');
      // It stays ended: no reconnect attempt follows, nor a second 'end' when the owner ends too.
      if (how === 'store closes') await family.close(owner);
      await store.close();
      expect(ended).toBe(1);
      expect(['reconnecting', 'disconnecting', 'close', 'end']).toContain(dup.status);
    },
    30_000,
  );
});

/**
 * A loopback TCP proxy to `targetPort`. Once armed, the first connection that sends an EVALSHA
 * loses the reply to it: the proxy destroys both sides when the reply arrives (the script ran on
 * Redis, the client never hears of it). Later connections are relayed as they are.
 */
async function replyDroppingProxy(targetPort: number): Promise<{ port: number; arm(): void; dropped(): number; close(): Promise<void> }> {
  let armed = false;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((incoming) => {
    const outgoing = connect(targetPort, '127.0.0.1');
    sockets.add(incoming).add(outgoing);
    let doomed = false;
    const end = () => {
      incoming.destroy();
      outgoing.destroy();
    };
    incoming.on('data', (chunk: Buffer) => {
      if (armed && /evalsha/i.test(chunk.toString('latin1'))) {
        armed = false;
        doomed = true;
      }
      outgoing.write(chunk);
    });
    outgoing.on('data', (chunk: Buffer) => {
      if (!doomed) {
        incoming.write(chunk);
        return;
      }
      dropped++;
      end();
    });
    incoming.on('error', end).on('close', end);
    outgoing.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    arm: () => {
      armed = true;
    },
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('a connection lost after the script ran, before its reply', () => {
  let standaloneProxy: Awaited<ReturnType<typeof replyDroppingProxy>>;
  let clusterProxies: Awaited<ReturnType<typeof replyDroppingProxy>>[];
  let nat: Record<string, { host: string; port: number }>;
  beforeAll(async () => {
    standaloneProxy = await replyDroppingProxy(redisPort());
    clusterProxies = await Promise.all(clusterPorts().map((p) => replyDroppingProxy(p)));
    nat = Object.fromEntries(
      clusterPorts().map((p, i) => [`127.0.0.1:${p}`, { host: '127.0.0.1', port: clusterProxies[i]?.port as number }]),
    );
  });
  // Closed before the proxies: a client whose proxy went away first would be left reconnecting.
  const viaProxy = new ClientPool();
  afterAll(async () => {
    await viaProxy.closeAll();
    await Promise.all([standaloneProxy, ...clusterProxies].map((p) => p.close()));
  });

  // ioredis and iovalkey both ways an app passes its client (replay-safe, or plain: the store's
  // duplicate); node-redis as it is.
  const cases = FAMILY_TOPOLOGIES.flatMap(([name, topology, family]) =>
    (name === 'node-redis' ? [false] : [false, true]).map((plain) => [name, topology, plain ? 'plain' : 'replay-safe', family] as const),
  );
  it.each(cases)(
    '%s %s (%s): the script is not re-sent after the reconnect, the decision is charged exactly once',
    async (_n, topology, kind, family) => {
      const proxies = topology === 'cluster' ? clusterProxies : [standaloneProxy];
      const c = await viaProxy.make(
        family,
        topology,
        topology === 'cluster'
          ? { nat, plain: kind === 'plain', retryMs: 20 }
          : { port: standaloneProxy.port, plain: kind === 'plain', retryMs: 20 },
      );
      const store = new RedisStore({ client: c, clock: 'client', timeoutMs: 1000 });
      const limiter = createLimiter({
        limit: 10,
        window: '1h',
        algorithm: 'fixed-window',
        store,
        prefix: uniquePrefix('lost-reply'),
        now: () => 1_700_000_000_000,
        timeoutMs: 300,
        retryStoreAfterMs: 0,
        onStoreError: 'deny',
        onError: () => {},
      });
      expect((await limiter.consume('k')).remaining).toBe(9);
      const before = proxies.reduce((n, p) => n + p.dropped(), 0);
      for (const p of proxies) p.arm();
      const t0 = performance.now();
      const lost = await limiter.consume('k');
      // Answered by policy: at once (node-redis rejects what was in flight) or at the limiter's timeout.
      expect([lost.allowed, isStoreError(lost.error)]).toEqual([false, true]);
      expect(performance.now() - t0).toBeLessThan(300 + MARGIN_MS);
      expect(proxies.reduce((n, p) => n + p.dropped(), 0)).toBe(before + 1);
      // Back on Redis after the reconnect: the lost consume ran once and was never sent again.
      await pollUntil(async () => (await limiter.peek('k')).error === undefined, 'the store to answer again', 20);
      const again = await limiter.consume('k');
      expect([again.error, again.remaining]).toEqual([undefined, 7]);
      await store.close();
    },
  );
});

describe('a node-redis client that is not connected or closed answers by the policy within timeoutMs', () => {
  const STORE_TIMEOUT_MS = 100;

  async function expectPolicyAnswer(client: RedisStoreClient): Promise<void> {
    const limiter = createLimiter({
      limit: 5,
      window: '1m',
      store: new RedisStore({ client, timeoutMs: STORE_TIMEOUT_MS }),
      prefix: uniquePrefix('offline'),
      // The limiter would wait longer: the answer must come from the store's own bound.
      timeoutMs: 5000,
      onStoreError: 'deny',
      onError: () => {},
    });
    const t0 = performance.now();
    const d = await limiter.consume('k');
    expect(performance.now() - t0).toBeLessThan(STORE_TIMEOUT_MS + MARGIN_MS);
    expect([d.allowed, isStoreError(d.error)]).toEqual([false, true]);
    const t1 = performance.now();
    await expect(limiter.reset()).rejects.toThrow(/not ready|closed|unavailable/);
    expect(performance.now() - t1).toBeLessThan(STORE_TIMEOUT_MS + MARGIN_MS);
  }

  const make = (topology: Topology) =>
    topology === 'cluster'
      ? createCluster({ rootNodes: clusterPorts().map((port) => ({ socket: { host: '127.0.0.1', port } })) })
      : createClient({ socket: { host: '127.0.0.1', port: redisPort() } });

  it.each(['standalone', 'cluster'] as const)('%s: never connected', async (topology) => {
    const c = make(topology);
    c.on('error', () => {});
    await expectPolicyAnswer(pool.track(nodeRedis, c as unknown as RedisStoreClient));
  });

  it.each(['standalone', 'cluster'] as const)('%s: closed before the store was made', async (topology) => {
    const c = make(topology);
    c.on('error', () => {});
    await c.connect();
    c.destroy();
    await expectPolicyAnswer(c as unknown as RedisStoreClient);
  });

  it.each(['standalone', 'cluster'] as const)(
    '%s: closed while the store is in use (no wait: the connection has ended)',
    async (topology) => {
      const c = (await pool.make(nodeRedis, topology)) as unknown as ReturnType<typeof createClient>;
      const store = new RedisStore({ client: c as unknown as RedisStoreClient, timeoutMs: 5000 });
      const limiter = createLimiter({
        limit: 5,
        window: '1m',
        store,
        prefix: uniquePrefix('closed'),
        timeoutMs: 5000,
        onStoreError: 'deny',
        onError: () => {},
      });
      expect((await limiter.consume('k')).error).toBeUndefined();
      c.destroy();
      const t0 = performance.now();
      const d = await limiter.consume('k');
      expect(performance.now() - t0).toBeLessThan(MARGIN_MS);
      expect([d.allowed, isStoreError(d.error)]).toEqual([false, true]);
    },
  );
});

describe('node-redis on RESP2 and RESP3', () => {
  let evicting: RedisServer;
  const warnings: string[] = [];
  let spy: jest.SpiedFunction<typeof process.emitWarning>;
  beforeAll(async () => {
    evicting = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    // Recorded where emitted: inside Jest's sandbox process.on('warning') does not see them.
    spy = jest.spyOn(process, 'emitWarning').mockImplementation((warning: string | Error, options?: unknown) => {
      const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : undefined;
      if (code === 'RATEKEEPER_REDIS_EVICTION') warnings.push(String(warning));
    });
  });
  // Closed before their server stops: node-redis would otherwise sleep in a (referenced) reconnect delay.
  const onEvicting = new ClientPool();
  afterAll(async () => {
    spy.mockRestore();
    await onEvicting.closeAll();
    await evicting.stop();
  });

  it.each([
    [2, 'standalone'],
    [3, 'standalone'],
    [2, 'cluster'],
    [3, 'cluster'],
  ] as const)('RESP%s %s: decisions, peek, refund, reset() on every master, the server clock sample', async (resp, topology) => {
    const c = await pool.make(nodeRedis, topology, { resp });
    const store = new RedisStore({ client: c });
    const prefix = uniquePrefix(`resp${resp}`);
    const limiter = createLimiter({ limit: 2, window: '1h', algorithm: 'sliding-window', store, prefix, timeoutMs: 30_000 });
    const ds = [];
    for (let i = 0; i < 3; i++) ds.push(await limiter.consume('k'));
    expect(ds.map((d) => [d.allowed, d.remaining, d.error])).toEqual([
      [true, 1, undefined],
      [true, 0, undefined],
      [false, 0, undefined],
    ]);
    expect(ds[2]?.retryAfterMs).toBeGreaterThan(0);
    await limiter.refund('k');
    expect((await limiter.peek('k')).remaining).toBe(1);
    // Keys on every master (on a Cluster), then reset() SCANs them all away.
    const keys = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    for (const k of keys) expect((await limiter.consume(k)).error).toBeUndefined();
    const spread = (await keysByMaster(topology, prefix)).map((k) => k.length);
    expect(spread.every((n) => n > 0)).toBe(true);
    await limiter.reset();
    expect((await keysByMaster(topology, prefix)).flat()).toEqual([]);
    // TIME parsed on this protocol: a sample whose offset to this machine's clock is small.
    await pollUntil(() => store.syncedClock?.sample !== undefined, 'a clock sample');
    expect(Math.abs(store.syncedClock?.sample?.offsetMs ?? Number.NaN)).toBeLessThan(1000);
  });

  it.each([2, 3] as const)('RESP%s: the eviction check reads maxmemory-policy and warns once', async (resp) => {
    const c = await onEvicting.make(nodeRedis, 'standalone', { port: evicting.port, resp });
    const before = warnings.length;
    new RedisStore({ client: c });
    new RedisStore({ client: c });
    await pollUntil(() => warnings.length > before, 'the eviction warning');
    await (c as unknown as ReturnType<typeof createClient>).ping();
    expect(warnings.slice(before)).toHaveLength(1);
    expect(warnings[before]).toMatch(new RegExp(`:${evicting.port} has maxmemory-policy allkeys-lru`));
  });
});

describe('keys through every family', () => {
  it.each(FAMILY_TOPOLOGIES)(
    '%s %s: every key of a decision has a TTL (server clock), shares one slot, and reset() removes them from every master',
    async (_name, topology, family) => {
      const c = await pool.make(family, topology);
      const store = new RedisStore({ client: c });
      const prefix = uniquePrefix('layout');
      const limiter = createLimiter({
        rules: [
          { limit: 5, window: '1m', algorithm: 'fixed-window' },
          { limit: 5, window: '1h', algorithm: 'gcra' },
          { limit: 1, window: '1h', algorithm: 'sliding-log', blockFor: '1m' },
        ],
        store,
        prefix,
        timeoutMs: 30_000,
      });
      const users = ['', '}', '{', '%', '{user}:1', ...Array.from({ length: 8 }, (_, i) => `u${i}`)];
      for (const u of users) {
        // The second consume is denied by the sliding log: its blockFor key is written too.
        const [a, b] = [await limiter.consume(u), await limiter.consume(u)];
        expect([u, a.error, a.allowed, b.error, b.allowed]).toEqual([u, undefined, true, undefined, false]);
      }
      const byMaster = await keysByMaster(topology, prefix);
      const all = byMaster.flat();
      // Three rules and one blockFor key per user.
      expect(all).toHaveLength(users.length * 4);
      if (topology === 'cluster') expect(byMaster.filter((ks) => ks.length > 0).length).toBeGreaterThan(1);
      for (const [i, keys] of byMaster.entries()) {
        const m = masters(topology)[i] as Redis;
        const ttls = await Promise.all(keys.map((k) => m.pttl(k)));
        expect(keys.filter((_, j) => !((ttls[j] as number) > 0))).toEqual([]);
        if (topology === 'cluster') {
          // Keys of one user (its hash tag) share a slot.
          const slots = new Map<string, Set<number>>();
          for (const k of keys) {
            const tag = k.slice(k.indexOf('{', prefix.length) + 1, k.indexOf('}', k.indexOf('{', prefix.length)));
            const slot = (await m.call('CLUSTER', 'KEYSLOT', k)) as number;
            slots.set(tag, (slots.get(tag) ?? new Set()).add(slot));
          }
          expect([...slots.values()].filter((s) => s.size !== 1)).toEqual([]);
        }
      }
      await limiter.reset();
      expect((await keysByMaster(topology, prefix)).flat()).toEqual([]);
    },
  );
});

describe('a client of the wrong type', () => {
  const ioredisLike = { evalsha: async () => 0, eval: async () => 0, status: 'ready', options: {}, isCluster: false };
  const wrong: [string, unknown][] = [
    ['{}', {}],
    ['null', null],
    ['a string', 'redis://localhost'],
    ['ioredis-like without on/once/duplicate', ioredisLike],
    [
      'ioredis-like Cluster without nodes()',
      {
        ...ioredisLike,
        isCluster: true,
        on() {},
        off() {},
        once() {},
        call() {},
        duplicate() {},
        connect() {},
        disconnect() {},
        quit() {},
      },
    ],
    ['node-redis-like without off/once', { sendCommand: async () => 0, isReady: true, isOpen: true, on() {} }],
    [
      'node-redis-like cluster without masters',
      { sendCommand: async () => 0, isReady: true, isOpen: true, on() {}, off() {}, once() {}, nodeClient() {} },
    ],
  ];
  it.each(wrong)('%s: ConfigError naming `client`', (_what, client) => {
    let error: unknown;
    try {
      new RedisStore({ client: client as never });
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toMatch(/`client`/);
  });
});
