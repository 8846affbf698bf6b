import { createLimiter } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import type { Cluster, Redis } from 'ioredis';
import { type Connection, toConnection } from '../../../src/stores/redis/connection';
import { SyncedClock as Clock, MAX_SAMPLE_RTT_MS, STALE_AFTER_MS } from '../../../src/stores/redis/synced-clock';
import { newCluster, newRedis, pause, uniquePrefix } from './helpers';

// The default server clock: Redis TIME read in the background, decisions pass its estimate as `now`.
// Real Redis; where time matters beyond one round trip the local monotonic clock is injected.

const redis = newRedis();
const cluster = newCluster();
const extra: Redis[] = [];
afterAll(async () => {
  for (const c of extra) if (c.status !== 'end') await c.quit().catch(() => c.disconnect());
  await Promise.all([redis.quit(), cluster.quit()]);
});

/** A fresh client whose EVALSHA calls record the `now` argument each script received. */
async function recordingClient(): Promise<{ client: Redis; nows: number[]; deadlines: number[] }> {
  const client = newRedis();
  extra.push(client);
  await client.ping();
  const nows: number[] = [];
  const deadlines: number[] = [];
  const evalsha = client.evalsha.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { evalsha: (...args: unknown[]) => Promise<unknown> }).evalsha = (...args) => {
    const keys = args[1] as number;
    nows.push(Number(args[2 + keys]));
    deadlines.push(Number(args[4 + keys]));
    return evalsha(...args);
  };
  return { client, nows, deadlines };
}

/** Syncs until a sample is accepted (a sample slower than MAX_SAMPLE_RTT_MS is discarded by design). */
async function synced(clock: SyncedClock): Promise<NonNullable<SyncedClock['sample']>> {
  for (let i = 0; i < 50 && clock.sample === undefined; i++) {
    await clock.sync();
    // A Cluster node still connecting (or a discarded slow sample): try again shortly.
    if (clock.sample === undefined) await pause(10);
  }
  const sample = clock.sample;
  if (sample === undefined) throw new Error('no accepted TIME sample in 50 attempts');
  return sample;
}

function timeBase(client: Redis | Cluster): Redis {
  if (!client.isCluster) return client as Redis;
  const c = client as Cluster;
  const owner = c.slots[0]?.[0];
  const masters = c.nodes('master');
  return masters.find((n) => `${n.options.host}:${n.options.port}` === owner) ?? (masters[0] as Redis);
}

/** The clock over a test client (replay-safe: the connection sends on the client itself). */
class SyncedClock extends Clock {
  constructor(client: Redis | Cluster, monotonic?: () => number) {
    super(toConnection(client) as Connection, monotonic);
  }
}

describe('SyncedClock', () => {
  it.each([
    ['standalone', () => redis],
    ['Cluster (slot 0 master)', () => cluster],
  ] as const)('%s: agrees with Redis TIME within half the measured round trip (+1 ms rounding)', async (_, get) => {
    const client = get();
    await client.ping();
    const clock = new SyncedClock(client);
    try {
      const sample = await synced(clock);
      expect(sample.rttMs).toBeLessThanOrEqual(MAX_SAMPLE_RTT_MS);
      const node = timeBase(client);
      for (let i = 0; i < 20; i++) {
        const before = clock.now();
        const [s, us] = await node.time();
        const after = clock.now();
        if (before === undefined || after === undefined) throw new Error('sample went stale');
        const server = Number(s) * 1000 + Number(us) / 1000;
        // Redis read TIME between `before` and `after` (local); the estimate errs by ≤ rtt/2, and
        // both estimates are floored to whole ms. 0.5 ms more for monotonic-vs-Redis drift.
        const tolerance = sample.rttMs / 2 + 0.5;
        expect(server).toBeGreaterThanOrEqual(before - tolerance);
        expect(server).toBeLessThanOrEqual(after + 1 + tolerance);
      }
    } finally {
      clock.close();
    }
  });

  it('follows the injected monotonic clock exactly, and a stale sample is not used (a new sync starts)', async () => {
    await redis.ping();
    let t = 1_000;
    const clock = new SyncedClock(redis, () => t);
    try {
      expect(clock.now()).toBeUndefined(); // first use starts the sync
      const sample = await synced(clock);
      expect(sample.rttMs).toBe(0);
      const first = clock.now() as number;
      t += 1234;
      expect(clock.now()).toBe(first + 1234);
      t += STALE_AFTER_MS;
      expect(clock.now()).toBeUndefined();
      expect(clock.sample).toBe(sample); // kept, but too old to use; a re-sync is in flight
      await clock.sync();
      expect(clock.sample).not.toBe(sample);
      expect(clock.now()).toBeDefined();
    } finally {
      clock.close();
    }
  });

  it('a sample slower than MAX_SAMPLE_RTT_MS is discarded', async () => {
    await redis.ping();
    let t = 0;
    const clock = new SyncedClock(redis, () => {
      t += MAX_SAMPLE_RTT_MS + 1; // read twice per sync: an rtt just over the limit
      return t;
    });
    try {
      await clock.sync();
      expect(clock.sample).toBeUndefined();
    } finally {
      clock.close();
    }
  });

  it('re-syncs after a reconnect, falling back to script TIME until then', async () => {
    const { client } = await recordingClient();
    const clock = new SyncedClock(client);
    try {
      clock.now();
      await synced(clock);
      const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
      client.disconnect(true);
      await ready;
      // Our listener ran first: the old offset is dropped and a new measurement is in flight.
      expect(clock.sample).toBeUndefined();
      expect(clock.now()).toBeUndefined();
      await synced(clock);
      expect(clock.now()).toBeDefined();
    } finally {
      clock.close();
    }
  });

  it('its re-sync timer never keeps the process alive, and close() stops it', async () => {
    const { client } = await recordingClient();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const store = new RedisStore({ client });
    const clock = store.syncedClock as SyncedClock;
    expect(clock.running).toBe(false); // nothing runs before first use
    const baseline = timers();
    clock.now(); // first use: starts the timer (and a sync)
    expect(clock.running).toBe(true);
    // getActiveResourcesInfo lists only what keeps the event loop alive: an unref'd timer is absent.
    expect(timers()).toBe(baseline);
    const limiter = createLimiter({ timeoutMs: 30_000, limit: 5, window: '1m', store, prefix: uniquePrefix('unref') });
    expect((await limiter.consume('k')).error).toBeUndefined();
    await store.close();
    expect(clock.running).toBe(false);
  });

  it('stops its timer when the client ends', async () => {
    const { client } = await recordingClient();
    const clock = new SyncedClock(client);
    clock.now();
    expect(clock.running).toBe(true);
    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    client.disconnect();
    await ended;
    expect(clock.running).toBe(false);
    expect(clock.now()).toBeUndefined(); // no restart on an ended client
    expect(clock.running).toBe(false);
    clock.close();
  });

  it('stores on one connection share one clock; the last close() stops it', async () => {
    const { client } = await recordingClient();
    const a = new RedisStore({ client });
    const b = new RedisStore({ client });
    expect(a.syncedClock).toBe(b.syncedClock);
    a.syncedClock?.now();
    await a.close();
    expect(b.syncedClock?.running).toBe(true);
    await b.close();
    expect(b.syncedClock?.running).toBe(false);
    expect(new RedisStore({ client, clock: 'client' }).syncedClock).toBeUndefined();
  });
});

describe("RedisStore clock: 'server' (synced)", () => {
  it('every script reads Redis TIME; once synced, a consume carries a deadline of about timeoutMs in Redis time', async () => {
    const { client, nows, deadlines } = await recordingClient();
    const store = new RedisStore({ client });
    const limiter = createLimiter({ timeoutMs: 5_000, limit: 3, window: '1m', store, prefix: uniquePrefix('presync') });
    try {
      const first = await Promise.all([limiter.consume('k'), limiter.consume('k')]);
      // Before the first sample: no deadline (the limiter's late-reply refund still covers it).
      expect(deadlines).toEqual([-1, -1]);
      expect(first.map((d) => d.remaining).sort()).toEqual([1, 2]);
      await synced(store.syncedClock as SyncedClock);
      const d = await limiter.consume('k');
      expect(nows).toEqual([0, 0, 0]); // never a client-side time: the script reads TIME
      const [sec] = await client.time();
      const deadline = deadlines[2] as number;
      expect(deadline).toBeGreaterThan(d.at + 4_000);
      expect(deadline).toBeLessThanOrEqual(d.at + 5_000);
      expect(Math.abs(d.at / 1000 - Number(sec))).toBeLessThan(2);
      expect(d).toMatchObject({ allowed: true, remaining: 0 });
      expect((await limiter.consume('k')).allowed).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('a store whose sync fails still decides on script TIME, without a deadline (and leaves no unhandled rejection)', async () => {
    const { client, deadlines } = await recordingClient();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const store = new RedisStore({ client });
    const clock = store.syncedClock as SyncedClock;
    const limiter = createLimiter({ timeoutMs: 30_000, limit: 2, window: '1m', store, prefix: uniquePrefix('syncfail') });
    try {
      await limiter.consume('k');
      await synced(clock);
      const realTime = client.time.bind(client);
      // The clock sends TIME through the client's generic command call.
      const call = client.call.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as { call: (...args: unknown[]) => Promise<unknown> }).call = (...args) =>
        args[0] === 'TIME' ? Promise.reject(new Error('TIME refused')) : call(...args);
      await clock.sync();
      expect(clock.sample).toBeUndefined();
      const ds = [await limiter.consume('k'), await limiter.consume('k')];
      expect(ds.map((d) => [d.allowed, d.error])).toEqual([
        [true, undefined],
        [false, undefined],
      ]);
      expect(deadlines.slice(-2)).toEqual([-1, -1]);
      // The decision time is Redis's own.
      const [s] = await realTime();
      expect(Math.floor((ds[1]?.at as number) / 1000)).toBeGreaterThanOrEqual(Number(s) - 1);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await store.close();
    }
  });

  it("clock: 'server-script' (the old name) is the same clock: TIME in every script", async () => {
    const { client, nows } = await recordingClient();
    const store = new RedisStore({ client, clock: 'server-script' });
    const limiter = createLimiter({ timeoutMs: 30_000, limit: 2, window: '1m', store, prefix: uniquePrefix('script') });
    try {
      const ds = [await limiter.consume('k'), await limiter.consume('k'), await limiter.consume('k')];
      expect(ds.map((d) => d.allowed)).toEqual([true, true, false]);
      expect(nows).toEqual([0, 0, 0]);
    } finally {
      await store.close();
    }
  });

  it('works on the Cluster with the synced clock', async () => {
    const store = new RedisStore({ client: cluster });
    const limiter = createLimiter({ timeoutMs: 30_000, limit: 2, window: '1m', store, prefix: uniquePrefix('cluster-synced') });
    try {
      await limiter.consume('a');
      await synced(store.syncedClock as SyncedClock);
      for (const key of ['a', 'b', 'c', 'd']) await limiter.consume(key);
      expect((await limiter.consume('a')).allowed).toBe(false);
      expect((await limiter.peek('b')).remaining).toBe(1);
    } finally {
      await store.close();
    }
  });
});
