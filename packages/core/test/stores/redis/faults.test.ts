import { createLimiter, type StoreError } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import type { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../../../scripts/redis-server';
import { newRedis, pause, pollUntil, uniquePrefix } from './helpers';

// Faults run against a dedicated redis-server (killed, paused, flushed) so other suites never see them.

let server: RedisServer;
let admin: Redis;
const clients: Redis[] = [];
function client(extra: Record<string, unknown> = {}): Redis {
  const c = newRedis(server.port, { retryStrategy: () => 20, ...extra });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startRedis();
  admin = client();
});
afterAll(async () => {
  // Let every socket close (bounded: cleanup, not an assertion): ioredis otherwise leaves a ref'd
  // destroy timer running past the suite.
  const closed = clients.map((c) =>
    c.status === 'end' || c.status === 'wait'
      ? undefined
      : new Promise<void>((resolve) => {
          c.once('end', () => resolve());
        }),
  );
  for (const c of clients) c.disconnect();
  await Promise.race([Promise.all(closed), pause(2500)]);
  await server.stop();
});

async function commandCalls(name: string): Promise<number> {
  const info = await admin.info('commandstats');
  const m = new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

describe('RedisStore faults', () => {
  it('SCRIPT FLUSH between calls: NOSCRIPT is recovered with EVAL, and each decision counts exactly once', async () => {
    const limiter = createLimiter({
      limit: 10,
      window: '1h',
      algorithm: 'fixed-window',
      store: new RedisStore({ client: client() }),
      prefix: uniquePrefix('flush'),
    });
    await admin.config('RESETSTAT');
    for (let i = 0; i < 5; i++) {
      await admin.script('FLUSH');
      const d = await limiter.consume('k');
      expect(d.error).toBeUndefined();
      expect(d.remaining).toBe(10 - i - 1);
    }
    // Each decision: one EVALSHA refused with NOSCRIPT, one EVAL that ran; exactly one HINCRBY each.
    expect(await commandCalls('eval')).toBe(5);
    expect(await commandCalls('hincrby')).toBe(5);
  });

  it('CLIENT PAUSE (a slow Redis) hits the timeout path: the policy answers within timeoutMs', async () => {
    const errors: StoreError[] = [];
    const limiter = createLimiter({
      limit: 10,
      window: '1h',
      store: new RedisStore({ client: client() }),
      prefix: uniquePrefix('pause'),
      timeoutMs: 100,
      retryStoreAfterMs: 0,
      onStoreError: 'deny',
      onError: (e) => errors.push(e),
    });
    expect((await limiter.consume('k')).allowed).toBe(true);
    await admin.call('CLIENT', 'PAUSE', '300', 'ALL');
    try {
      const d = await limiter.consume('k');
      expect(d.allowed).toBe(false);
      expect(d.error?.timedOut).toBe(true);
      expect(errors.map((e) => e.timedOut)).toEqual([true]);
    } finally {
      // Waits for the pause to end (UNPAUSE itself is paused).
      await admin.ping();
    }
  });

  it('Redis killed mid-traffic and restarted on the same port: fallback store within timeoutMs, automatic recovery, onRecover reported', async () => {
    const errors: StoreError[] = [];
    let recovered = 0;
    const { MemoryStore } = await import('@ratekeeper/core');
    const c = client();
    const limiter = createLimiter({
      limit: 1000,
      window: '1h',
      algorithm: 'gcra',
      store: new RedisStore({ client: c, timeoutMs: 100 }),
      prefix: uniquePrefix('kill'),
      timeoutMs: 200,
      retryStoreAfterMs: 0,
      onStoreError: new MemoryStore(),
      onError: (e) => errors.push(e),
      onRecover: () => recovered++,
    });
    for (let i = 0; i < 20; i++) expect((await limiter.consume('k')).error).toBeUndefined();
    // Traffic in flight while the server dies: every request still gets an answer.
    const inFlight = Array.from({ length: 50 }, () => limiter.consume('k'));
    const port = server.port;
    await server.stop();
    const answered = await Promise.all(inFlight);
    expect(answered).toHaveLength(50);
    await pollUntil(() => c.status !== 'ready', 'the client to notice', 20);
    const down = await limiter.consume('k');
    expect(down.allowed).toBe(true); // answered by the fallback MemoryStore
    expect(errors.length).toBeGreaterThan(0);
    expect(recovered).toBe(0);
    server = await startRedis({ port });
    await pollUntil(() => c.status === 'ready', 'the client to reconnect', 20);
    await pollUntil(async () => (await limiter.consume('k')).error === undefined, 'the limiter to use Redis again', 20);
    expect(recovered).toBe(1);
    // The restarted server holds the state again.
    expect((await limiter.peek('k')).error).toBeUndefined();
  });

  it('a dead Redis never hangs a request nor leaves an unhandled rejection (no ready connection: nothing queued)', async () => {
    const dead = newRedis(1, { retryStrategy: () => 50, lazyConnect: true });
    dead.on('error', () => {});
    clients.push(dead);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const limiter = createLimiter({
        limit: 5,
        window: '1s',
        store: new RedisStore({ client: dead, timeoutMs: 50 }),
        timeoutMs: 80,
        retryStoreAfterMs: 0,
        onStoreError: 'deny',
        onError: () => {},
      });
      const ds = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('k')));
      for (const d of ds) expect(d).toMatchObject({ allowed: false });
      await limiter.refund('k');
      await expect(limiter.reset('k')).rejects.toThrow(/not ready/);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      // Nothing went to ioredis's offline queue to run after the policy already answered.
      expect((dead as unknown as { offlineQueue: { length: number } }).offlineQueue.length).toBe(0);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
