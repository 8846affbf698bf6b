import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { RedisStore, replaySafeClusterOptions, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { RateLimitModule } from '@ratekeeper/nestjs';
import { Cluster, Redis } from 'ioredis';
import { now, type Platform, start } from './app';

// The real redis-server and 3-master Cluster of the Jest global setup. `clock: 'client'` lets the
// apps' manual clock drive the scripts.
const port = Number(process.env.RK_REDIS_PORT);
const clusterPorts = (process.env.RK_CLUSTER_PORTS ?? '').split(',').filter(Boolean).map(Number);
const redis = new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions });
const cluster = new Cluster(
  clusterPorts.map((p) => ({ host: '127.0.0.1', port: p })),
  { ...replaySafeClusterOptions },
);
afterAll(async () => {
  await redis.quit();
  await cluster.quit();
});

let seq = 0;
const clients = { standalone: redis, cluster } as const;

describe.each([
  ['express', 'standalone'],
  ['fastify', 'cluster'],
] as const)('@ratekeeper/nestjs on platform-%s with Redis %s', (platform: Platform, engine) => {
  const apps: INestApplication[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });

  it('two app instances share the module limit and a handler limit through Redis; 5xx refunded', async () => {
    expect(port).toBeGreaterThan(0);
    expect(clusterPorts).toHaveLength(3);
    const client = clients[engine];
    const prefix = `nest:${process.pid}:${++seq}:`;
    const options = () =>
      RateLimitModule.forRoot({ limit: 3, window: '1m', now, prefix, store: new RedisStore({ client, clock: 'client' }) });
    const one = await start(platform, [options()]);
    const two = await start(platform, [options()]);
    apps.push(one.app, two.app);
    // 5xx first: three fit the limit whether or not the refunds (sent when each response closes)
    // have landed; then wait until Redis holds them all back, with no timer: one read per turn.
    for (let i = 0; i < 3; i++) expect((await one.http.get('/fail')).status).toBe(503);
    const key = `${prefix}sw-3-60000:{127.0.0.1}`;
    const stored = async () => (await client.hvals(key)).reduce((sum, v) => sum + Number(v), 0);
    for (let tries = 0; (await stored()) !== 0; tries++) expect(tries).toBeLessThan(10_000);
    expect((await one.http.get('/a')).status).toBe(200);
    expect((await two.http.get('/b')).status).toBe(200);
    const third = await two.http.get('/a');
    expect(third.status).toBe(200);
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
    const denied = await one.http.get('/b');
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toBeDefined();
    // The handler's own bucket (2 per minute) is shared by both instances too.
    expect((await one.http.get('/login')).status).toBe(200);
    expect((await two.http.get('/login')).status).toBe(200);
    expect((await one.http.get('/login')).status).toBe(429);
    const keys =
      engine === 'standalone'
        ? await redis.keys(`${prefix}*`)
        : (await Promise.all(cluster.nodes('master').map((n) => n.keys(`${prefix}*`)))).flat();
    expect(keys.some((k) => k.startsWith(`${prefix}OpenController#login:`))).toBe(true);
    expect(keys.some((k) => !k.includes('#'))).toBe(true);
  });
});
