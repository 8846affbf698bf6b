import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { createLimiter, MemoryStore } from '@ratekeeper/core';
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { type Instrumentation, instrument } from '@ratekeeper/prometheus';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { parseExposition, series } from './helpers';

// The shared redis-server of the integration project's global setup, reached through a loopback
// proxy this test cuts (every connection dropped, new ones refused) and restores on the same port:
// an outage as the application sees it, without stopping the server other suites use.

/** A TCP proxy to `targetPort` that can be cut and restored. */
async function cuttableProxy(targetPort: number): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((incoming) => {
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
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    port,
    async cut() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async restore() {
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
    },
  };
}

const redisPort = Number(process.env.RK_REDIS_PORT);
let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
let client: Redis;
let metrics: Instrumentation;
const registry = new Registry();

beforeAll(async () => {
  expect(redisPort).toBeGreaterThan(0);
  proxy = await cuttableProxy(redisPort);
  client = new Redis({ host: '127.0.0.1', port: proxy.port, ...replaySafeRedisOptions, retryStrategy: () => 20 });
  client.on('error', () => {});
  if (client.status !== 'ready') await once(client, 'ready');
  metrics = instrument({ registry });
});
afterAll(async () => {
  metrics.uninstrument();
  client.disconnect();
  await proxy.cut();
});

it('a Redis outage: failed_open and fallback decisions, one store error per limiter, one recovery each', async () => {
  const store = new RedisStore({ client });
  const prefix = `prom:${process.pid}:${Date.now()}:`;
  const onError = () => {};
  const open = createLimiter({ name: 'open', limit: 100, window: '1m', store, prefix: `${prefix}open:`, onStoreError: 'allow', onError });
  const insured = createLimiter({
    name: 'insured',
    limit: 2,
    window: '1m',
    store,
    prefix: `${prefix}insured:`,
    onStoreError: new MemoryStore(),
    onError,
  });
  // Who answered (Redis, the policy, the insurance store) is what the metrics below must tell.
  const allowed = async (d: Promise<{ allowed: boolean }>) => (await d).allowed;

  // Redis answers.
  expect(await allowed(open.consume('client-1'))).toBe(true);
  expect(await allowed(open.consume('client-1'))).toBe(true);
  expect(await allowed(insured.consume('client-1'))).toBe(true);

  // The connection drops: both limiters (one connection, one health state) answer without Redis.
  const closed = once(client, 'close');
  await proxy.cut();
  await closed;
  for (let i = 0; i < 3; i++) expect(await allowed(open.consume('client-1'))).toBe(true);
  // The insurance MemoryStore starts empty: 2 allowed, then denied; all three are 'fallback'.
  expect(await allowed(insured.consume('client-1'))).toBe(true);
  expect(await allowed(insured.consume('client-1'))).toBe(true);
  expect(await allowed(insured.consume('client-1'))).toBe(false);
  let samples = parseExposition(await registry.metrics());
  expect(series(samples, 'ratekeeper_store_recoveries_total')).toEqual({});

  // Redis is reachable again: the 'ready' connection brings both limiters back, each reporting one recovery.
  const ready = once(client, 'ready');
  await proxy.restore();
  await ready;
  expect(await allowed(open.consume('client-1'))).toBe(true);
  expect(await allowed(insured.consume('client-1'))).toBe(true); // Redis held 1 of 2
  expect(await allowed(insured.consume('client-1'))).toBe(false);

  samples = parseExposition(await registry.metrics());
  expect(series(samples, 'ratekeeper_decisions_total')).toEqual({
    'limiter=open,outcome=allowed,rule=open': 3,
    'limiter=open,outcome=failed_open,rule=open': 3,
    'limiter=insured,outcome=allowed,rule=insured': 2,
    'limiter=insured,outcome=limited,rule=insured': 1,
    'limiter=insured,outcome=fallback,rule=insured': 3,
  });
  expect(series(samples, 'ratekeeper_store_errors_total')).toEqual({
    'limiter=open,operation=consume,policy=allow': 1,
    'limiter=insured,operation=consume,policy=fallback': 1,
  });
  expect(series(samples, 'ratekeeper_store_recoveries_total')).toEqual({ 'limiter=open': 1, 'limiter=insured': 1 });
  // Timed: only what Redis answered. The outage's decisions were made in the process (the dropped
  // connection opened the circuit at once, so no call waited for a timeout).
  expect(series(samples, 'ratekeeper_store_duration_seconds_count')).toEqual({
    'limiter=open,outcome=allowed': 3,
    'limiter=insured,outcome=allowed': 2,
    'limiter=insured,outcome=limited': 1,
  });
});
