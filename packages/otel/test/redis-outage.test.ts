import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createLimiter, MemoryStore } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { type Instrumentation, instrument, METRICS } from '@ratekeeper/otel';
import { Redis } from 'ioredis';
import { table, testMeter } from './helpers';

// A Redis outage as the metrics see it: the shared redis-server of the integration project's global
// setup, reached through a proxy the test cuts (every connection dropped, new ones refused) and
// restores on the same port, so the server itself stays up for the suites running beside this one.

/** A loopback TCP proxy to `targetPort` that can be cut and restored. */
async function cuttableProxy(targetPort: number): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = createServer((incoming) => {
        const outgoing = connect(targetPort, '127.0.0.1');
        sockets.add(incoming).add(outgoing);
        incoming.pipe(outgoing).pipe(incoming);
        const end = () => {
          incoming.destroy();
          outgoing.destroy();
          sockets.delete(incoming);
          sockets.delete(outgoing);
        };
        incoming.on('error', end).on('close', end);
        outgoing.on('error', end).on('close', end);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        server = s;
        resolve((s.address() as { port: number }).port);
      });
    });
  const port = await listen(0);
  return {
    port,
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server?.close(() => resolve());
      }),
    restore: async () => void (await listen(port)),
  };
}

function redisPort(): number {
  const port = Number(process.env.RK_REDIS_PORT);
  if (!port) throw new Error('RK_REDIS_PORT is not set: the Jest global setup must start redis-server');
  return port;
}

const meter = testMeter();
let otel: Instrumentation;
beforeAll(() => {
  otel = instrument({ meterProvider: meter.provider });
});
afterAll(async () => {
  otel.uninstrument();
  await meter.shutdown();
});

describe('a Redis outage', () => {
  it("counts failed_open and fallback decisions, one store error and one recovery per limiter, then the store's decisions again", async () => {
    const proxy = await cuttableProxy(redisPort());
    const client = new Redis({ host: '127.0.0.1', port: proxy.port, ...replaySafeRedisOptions, retryStrategy: () => 20 });
    client.on('error', () => {});
    const store = new RedisStore({ client });
    const prefix = `t:${process.pid}:${Date.now().toString(36)}:otel:`;
    const common = { limit: 1000, window: '1h', store, prefix, timeoutMs: 2000, retryStoreAfterMs: 60_000, onError: () => {} } as const;
    const open = createLimiter({ ...common, name: 'open', onStoreError: 'allow' });
    const insured = createLimiter({ ...common, name: 'insured', onStoreError: new MemoryStore() });
    try {
      await open.consume('user-1');
      await open.consume('user-1');
      await insured.consume('user-1');

      // The client's own events say when it saw the drop and the reconnection: no polling, no sleep.
      const closed = once(client, 'close');
      await proxy.cut();
      await closed;
      expect(client.status).not.toBe('ready');
      for (let i = 0; i < 3; i++) {
        expect(await open.consume('user-1')).toMatchObject({ allowed: true, error: expect.anything() });
        expect((await insured.consume('user-1')).allowed).toBe(true);
      }

      const ready = once(client, 'ready');
      await proxy.restore();
      await ready;
      expect((await open.consume('user-1')).error).toBeUndefined();
      expect((await insured.consume('user-1')).error).toBeUndefined();

      const all = await meter.read();
      expect(table(all.get(METRICS.decisions))).toEqual([
        ['limiter=insured,outcome=allowed,rule=insured', 2],
        ['limiter=insured,outcome=fallback,rule=insured', 3],
        ['limiter=open,outcome=allowed,rule=open', 3],
        ['limiter=open,outcome=failed_open,rule=open', 3],
      ]);
      expect(table(all.get(METRICS.storeErrors))).toEqual([
        ['limiter=insured,operation=consume,policy=fallback', 1],
        ['limiter=open,operation=consume,policy=allow', 1],
      ]);
      expect(table(all.get(METRICS.storeRecoveries))).toEqual([
        ['limiter=insured', 1],
        ['limiter=open', 1],
      ]);
      // Timed: only what Redis answered; the dropped connection opened the circuit at once, so the
      // outage's decisions were made in the process and waited for no timeout.
      expect(table(all.get(METRICS.storeDuration))).toEqual([
        ['limiter=insured,outcome=allowed', 2],
        ['limiter=open,outcome=allowed', 3],
      ]);
      const values = [...all.values()].flatMap((points) => points.flatMap((p) => Object.values(p.attributes)));
      expect(values.filter((v) => String(v).includes('user-1'))).toEqual([]);
    } finally {
      await store.close();
      client.disconnect();
      await proxy.cut();
    }
  }, 20_000);
});
