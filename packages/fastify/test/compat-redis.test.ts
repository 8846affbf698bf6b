// `@ratekeeper/fastify/compat` with `redis` (an ioredis client) on the integration project's real
// redis-server: counts live in ratekeeper's RedisStore under `nameSpace`. Redis decides on its own
// clock, so these tests use windows no test outlives instead of moving time.

import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { rateLimitPlugin } from '@ratekeeper/fastify';
import fastifyRateLimit from '@ratekeeper/fastify/compat';
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { redisPort } from '../../core/test/stores/redis/helpers';
import { limitHeaders, send, statuses } from './compat/http';

const apps: FastifyInstance[] = [];
const clients: Redis[] = [];
let seq = 0;

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(clients.splice(0).map((c) => (c.status === 'end' ? undefined : c.quit().catch(() => {}))));
});

/**
 * A connected client the store shares (replay-safe, so it opens no duplicate of its own): the
 * first request must not race the connection, or, on a loaded machine, the store's 250 ms wait for
 * it runs out and the request passes by the `'allow'` policy without headers.
 */
async function redis(): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port: redisPort(), ...replaySafeRedisOptions });
  clients.push(client);
  await client.ping();
  return client;
}

/** A nameSpace no other test (or process) uses: the server is shared. */
function nameSpace(): string {
  return `compat-fastify:${process.pid}:${++seq}:`;
}

async function app(options: Record<string, unknown>, routes?: (a: FastifyInstance) => void): Promise<FastifyInstance> {
  const a = Fastify();
  apps.push(a);
  await a.register(fastifyRateLimit, options);
  if (routes) routes(a);
  else a.get('/', async () => 'hello');
  return a;
}

describe('@ratekeeper/fastify/compat with redis', () => {
  it('counts in Redis under nameSpace: two app instances on one client share the limit', async () => {
    const client = await redis();
    const ns = nameSpace();
    const one = await app({ redis: client, nameSpace: ns, max: 3, timeWindow: 60_000 });
    const two = await app({ redis: client, nameSpace: ns, max: 3, timeWindow: 60_000 });
    expect(limitHeaders(await send(one, '/'))).toEqual({
      'x-ratelimit-limit': '3',
      'x-ratelimit-remaining': '2',
      'x-ratelimit-reset': '60',
    });
    expect(await statuses(two, '/', 2)).toEqual([200, 200]);
    const limited = await send(one, '/');
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 minute' });
    expect(limitHeaders(limited)).toMatchObject({ 'x-ratelimit-remaining': '0', 'retry-after': '60' });
    const keys = await client.keys(`${ns}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith(ns))).toBe(true);
  });

  it('route limits count apart from the plugin-wide one, and a groupId shares one count between routes', async () => {
    const ns = nameSpace();
    const a = await app({ redis: await redis(), nameSpace: ns, max: 5, timeWindow: 60_000 }, (r) => {
      r.get('/', async () => 'hello');
      r.get('/strict', { config: { rateLimit: { max: 1 } } }, async () => 'strict');
      r.get('/otp/send', { config: { rateLimit: { max: 2, groupId: 'otp' } } }, async () => 'sent');
      r.get('/otp/resend', { config: { rateLimit: { max: 2, groupId: 'otp' } } }, async () => 'sent');
    });
    expect(await statuses(a, '/strict', 2)).toEqual([200, 429]);
    expect((await send(a, '/')).headers['x-ratelimit-remaining']).toBe('4');
    expect(await statuses(a, '/otp/send', 1)).toEqual([200]);
    expect(await statuses(a, '/otp/resend', 2)).toEqual([200, 429]);
  });

  it('ban answers 403 once refusals pass it', async () => {
    const a = await app({ redis: await redis(), nameSpace: nameSpace(), max: 1, ban: 1, timeWindow: 60_000 });
    expect(await statuses(a, '/', 3)).toEqual([200, 429, 403]);
    expect((await send(a, '/')).body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Rate limit exceeded, retry in 1 minute' });
  });

  it('continueExceeding restarts the window on each refusal; exponentialBackoff doubles the wait', async () => {
    const restart = await app({ redis: await redis(), nameSpace: nameSpace(), max: 1, timeWindow: 5000, continueExceeding: true });
    await send(restart, '/');
    for (let i = 0; i < 3; i++) {
      const res = await send(restart, '/');
      expect(res.status).toBe(429);
      expect(res.headers['x-ratelimit-reset']).toBe('5');
    }
    const backoff = await app({ redis: await redis(), nameSpace: nameSpace(), max: 1, timeWindow: 1000, exponentialBackoff: true });
    await send(backoff, '/');
    const waits: string[] = [];
    for (let i = 0; i < 3; i++) waits.push(String((await send(backoff, '/')).headers['retry-after']));
    expect(waits).toEqual(['1', '2', '4']);
  });

  it('createRateLimit reads without counting ({ increment: false })', async () => {
    const a = await app({ redis: await redis(), nameSpace: nameSpace(), global: false, max: 2, timeWindow: 60_000 }, (r) => {
      const check = r.createRateLimit();
      r.get('/peek', async (req) => check(req, { increment: false }));
      r.get('/consume', async (req) => check(req));
    });
    expect((await send(a, '/peek')).body).toMatchObject({ remaining: 2, ttl: 0, isExceeded: false });
    expect((await send(a, '/consume')).body).toMatchObject({ remaining: 1, isExceeded: false });
    expect((await send(a, '/peek')).body).toMatchObject({ remaining: 1, ttlInSeconds: 60, isExceeded: false });
  });

  it('a closed client: 500 "Connection is closed." by default, the full quota with skipOnError', async () => {
    const failing = await redis();
    const a = await app({ redis: failing, nameSpace: nameSpace(), max: 2, timeWindow: 60_000 });
    expect((await send(a, '/')).status).toBe(200);
    await failing.quit();
    const res = await send(a, '/');
    expect(res.status).toBe(500);
    expect(res.text).toBe('{"statusCode":500,"error":"Internal Server Error","message":"Connection is closed."}');

    const skipping = await redis();
    const b = await app({ redis: skipping, nameSpace: nameSpace(), max: 2, timeWindow: 60_000, skipOnError: true });
    expect((await send(b, '/')).headers['x-ratelimit-remaining']).toBe('1');
    await skipping.quit();
    const skipped = await send(b, '/');
    expect(skipped.status).toBe(200);
    expect(limitHeaders(skipped)).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '0' });
  });

  it('a native plugin with an anchored-window rule named hits under the same prefixes reads the counts compat wrote', async () => {
    const client = await redis();
    const ns = nameSpace();
    const compat = await app({ redis: client, nameSpace: ns, max: 3, timeWindow: 60_000 });
    expect(await statuses(compat, '/', 2)).toEqual([200, 200]);
    const store = new RedisStore({ client, prefix: ns });
    const native = Fastify();
    apps.push(native);
    native.addHook('onClose', () => store.close());
    await native.register(rateLimitPlugin, {
      limit: 3,
      window: '1m',
      algorithm: 'anchored-window',
      name: 'hits',
      store,
      prefix: '',
      headers: 'legacy',
    });
    native.get('/', async () => 'hello');
    const res = await send(native, '/');
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    expect((await send(native, '/')).status).toBe(429);
  });
});
