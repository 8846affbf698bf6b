import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import { expressHarness } from './adapters/express';
import { fastifyHarness } from './adapters/fastify';
import { honoHarness } from './adapters/hono';
import { koaHarness } from './adapters/koa';
import { webHarness } from './adapters/web';
import { conformance } from './suite';

// The same HTTP scenarios on the Redis store (the real redis-server of the Jest global setup).
// `clock: 'client'` lets the suite's manual clock drive the Lua scripts.
const port = Number(process.env.RK_REDIS_PORT);
const client = new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions });
afterAll(() => client.quit());

it('talks to the test redis-server', async () => {
  expect(port).toBeGreaterThan(0);
  expect(await client.ping()).toBe('PONG');
});

const store = () => new RedisStore({ client, clock: 'client' });
for (const harness of [expressHarness('express 5'), fastifyHarness, koaHarness('koa 3')])
  conformance(harness, { store, label: 'RedisStore' });
for (const harness of [webHarness, honoHarness]) conformance(harness, { store, label: 'RedisStore', proxyWarnings: false });

it('kept the counters of the scenarios above in Redis', async () => {
  const keys = await client.keys(`conf:${process.pid}:*`);
  expect(keys.length).toBeGreaterThan(10);
});
