import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import Koa from 'koa';
import supertest from 'supertest';
import { redisPort } from '../../core/test/stores/redis/helpers';
import ratelimit, { type RatelimitOptions } from '../src/compat';

// @ratekeeper/koa/compat's Redis driver (koa-ratelimit's `driver: 'redis'` with an ioredis `db`)
// on the redis-server of the integration project's global setup. koa-ratelimit counts a sliding
// log there (async-ratelimiter): each request holds a slot for `duration` after it was made.

const T0 = 1_700_000_000_000;
let t = T0;
const now = () => t;
const servers: Server[] = [];
let db: Redis;
let seq = 0;
/** A namespace no other test (or suite on the shared server) uses. */
const namespace = () => `koa-compat-${process.pid}-${Date.now()}-${++seq}`;

beforeAll(() => {
  db = new Redis({ host: '127.0.0.1', port: redisPort() });
});

afterAll(async () => {
  await db.quit();
});

beforeEach(() => {
  t = T0;
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(app: Koa): Promise<ReturnType<typeof supertest>> {
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
}

async function appWith(options: RatelimitOptions) {
  const app = new Koa();
  const seen = { calls: 0 };
  app.use(ratelimit({ driver: 'redis', db, ...options }));
  app.use((ctx) => {
    seen.calls++;
    ctx.body = `hit ${seen.calls}`;
  });
  return { http: await serve(app), seen };
}

async function keysUnder(ns: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await db.scan(cursor, 'MATCH', `${ns}:*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

describe('@ratekeeper/koa/compat, Redis driver', () => {
  it('counts a sliding log per id: a slot comes back `duration` after the request that took it', async () => {
    const { http, seen } = await appWith({ now, namespace: namespace(), max: 2, duration: 10_000 });
    const first = await http.get('/');
    expect(first.status).toBe(200);
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    expect(first.headers['x-ratelimit-remaining']).toBe('1');
    // Whole epoch seconds on Redis.
    expect(first.headers['x-ratelimit-reset']).toBe(String(Math.floor((T0 + 10_000) / 1000)));
    t = T0 + 5000;
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('0');
    t = T0 + 6500;
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    // Limited: when the oldest request ages out (10 s), as koa-ratelimit's Redis driver says.
    expect(limited.headers['x-ratelimit-reset']).toBe(String((T0 + 10_000) / 1000));
    expect(limited.headers['retry-after']).toBe('3');
    expect(limited.text).toBe('Rate limit exceeded, retry in 4 seconds.');
    t = T0 + 10_000;
    expect((await http.get('/')).status).toBe(200);
    // The request made at 5 s still holds its slot until 15 s.
    t = T0 + 14_999;
    expect((await http.get('/')).status).toBe(429);
    t = T0 + 15_000;
    expect((await http.get('/')).status).toBe(200);
    expect(seen.calls).toBe(4);
  });

  it('on Redis time: max per window, then 429 with Retry-After 0 in the last second', async () => {
    const { http, seen } = await appWith({ namespace: namespace(), max: 1, duration: 1000 });
    const ok = await http.get('/');
    expect(ok.status).toBe(200);
    expect(ok.headers['x-ratelimit-remaining']).toBe('0');
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('0');
    expect(limited.text).toMatch(/^Rate limit exceeded, retry in -?\d+ ms\.$/);
    expect(seen.calls).toBe(1);
  });

  it('keeps its keys under the namespace prefix (`limit:`); deleting them (as koa-ratelimit users do) starts afresh', async () => {
    const ns = namespace();
    const { http } = await appWith({ now, namespace: ns, max: 1, duration: 60_000 });
    await http.get('/').expect(200);
    await http.get('/').expect(429);
    const keys = await keysUnder(ns);
    expect(keys.length).toBeGreaterThan(0);
    await db.del(...keys);
    await http.get('/').expect(200);
  });

  it('shares counts between middlewares on one client, per id', async () => {
    const ns = namespace();
    const app = new Koa();
    app.use(ratelimit({ driver: 'redis', db, now, namespace: ns, max: 3, id: (ctx) => ctx.get('x-id') }));
    app.use(ratelimit({ driver: 'redis', db, now, namespace: ns, max: 3, id: (ctx) => ctx.get('x-id') }));
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    expect((await http.get('/').set('x-id', 'a')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await http.get('/').set('x-id', 'b')).headers['x-ratelimit-remaining']).toBe('1');
    await http.get('/').set('x-id', 'a').expect(429);
  });

  it('throw: true, custom headers, state and onLimited behave as on the memory driver', async () => {
    const limitedStates: unknown[] = [];
    const app = new Koa();
    const thrown: unknown[] = [];
    app.use(async (_ctx, next) => {
      try {
        await next();
      } catch (error) {
        thrown.push(error);
        throw error;
      }
    });
    app.use(
      ratelimit({
        driver: 'redis',
        db,
        now,
        namespace: namespace(),
        max: 1,
        duration: 60_000,
        throw: true,
        headers: { remaining: 'Rate-Limit-Remaining', reset: 'Rate-Limit-Reset', total: 'Rate-Limit-Total' },
        errorMessage: 'Sometimes You Just Have to Slow Down.',
        id: () => 'someone',
        onLimited: (ctx) => {
          limitedStates.push(ctx.state.rateLimit);
        },
      }),
    );
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    await http.get('/').expect(200);
    t += 30_000;
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Sometimes You Just Have to Slow Down.');
    expect(limited.headers['rate-limit-remaining']).toBe('0');
    expect(limited.headers['rate-limit-total']).toBe('1');
    expect(limited.headers['rate-limit-reset']).toBe(String((T0 + 60_000) / 1000));
    expect(limited.headers['retry-after']).toBe('30');
    expect(thrown).toHaveLength(1);
    expect(limitedStates).toEqual([
      {
        after: 30,
        headers: { 'Rate-Limit-Remaining': 0, 'Rate-Limit-Reset': (T0 + 60_000) / 1000, 'Rate-Limit-Total': 1, 'Retry-After': 30 },
        id: 'someone',
        message: 'Sometimes You Just Have to Slow Down.',
      },
    ]);
  });

  it('whitelist, blacklist and id false never touch Redis', async () => {
    const ns = namespace();
    const { http } = await appWith({
      now,
      namespace: ns,
      max: 1,
      id: (ctx) => ctx.get('x-id') || false,
      whitelist: (ctx) => ctx.get('x-vip') === '1',
      blacklist: (ctx) => ctx.get('x-bad') === '1',
    });
    await http.get('/').expect(200);
    await http.get('/').set('x-id', 'a').set('x-vip', '1').expect(200);
    await http.get('/').set('x-id', 'a').set('x-bad', '1').expect(403, 'Forbidden');
    expect(await keysUnder(ns)).toEqual([]);
  });
});
