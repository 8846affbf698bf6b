import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import supertest from 'supertest';
import { expressHarness } from './adapters/express';
import { fastifyHarness } from './adapters/fastify';
import { honoHarness } from './adapters/hono';
import { koaHarness } from './adapters/koa';
import { webHarness } from './adapters/web';
import { concurrencyConformance } from './concurrency';
import { gate, type RunningApp } from './harness';

// The `concurrency` scenarios on the Redis store (the real redis-server of the Jest global setup).
// `clock: 'client'` lets the suites' manual clock drive lease expiry in the Lua script.
const port = Number(process.env.RK_REDIS_PORT);
const client = new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions });
afterAll(() => client.quit());

const store = () => new RedisStore({ client, clock: 'client' });
for (const harness of [expressHarness('express 5'), fastifyHarness, koaHarness('koa 3'), webHarness, honoHarness])
  concurrencyConformance(harness, { store, label: 'RedisStore' });

describe('concurrency slots on Redis', () => {
  const apps: RunningApp[] = [];
  afterAll(() => Promise.all(apps.map((a) => a.close())));

  it('are shared by every server on the store (two apps stand for two processes), one sorted set per key', async () => {
    const prefix = `conf:${process.pid}:shared:`;
    const options = { concurrency: { max: 1 }, prefix, timeoutMs: 30_000 };
    // Two stores on one client, as two processes would each have their own.
    for (const harness of [expressHarness('express 5'), fastifyHarness])
      apps.push(await harness.start({ limiters: [{ ...options, store: store() }] }));
    const [one, two] = apps.map((a) => supertest(a.url)) as [ReturnType<typeof supertest>, ReturnType<typeof supertest>];
    const held = one
      .get('/hold')
      .set('X-Forwarded-For', '203.0.113.1')
      .set('x-hold', 'redis-shared')
      .then((r) => r);
    await gate.arrived('redis-shared');
    expect(await client.zcard(`${prefix}concurrency{203.0.113.1}`)).toBe(1);
    const refused = await two.get('/ok').set('X-Forwarded-For', '203.0.113.1');
    expect([refused.status, refused.headers['retry-after']]).toEqual([429, '1']);
    gate.open('redis-shared');
    expect((await held).status).toBe(200);
    expect((await two.get('/ok').set('X-Forwarded-For', '203.0.113.1')).status).toBe(200);
    expect(await client.zcard(`${prefix}concurrency{203.0.113.1}`)).toBe(0);
  });
});
