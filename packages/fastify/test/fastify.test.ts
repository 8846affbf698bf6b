import { rateLimitPlugin } from '@ratekeeper/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import supertest from 'supertest';

const now = () => 1_699_999_200_000;

declare module 'fastify' {
  interface FastifyRequest {
    userId?: string | undefined;
  }
}

/** Real HTTP on 127.0.0.1 (Fastify's `inject` needs an ESM-only dependency under Jest). */
const clients = new WeakMap<FastifyInstance, ReturnType<typeof supertest>>();
async function http(app: FastifyInstance): Promise<ReturnType<typeof supertest>> {
  let client = clients.get(app);
  if (client === undefined) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    client = supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
    clients.set(app, client);
  }
  return client;
}

async function codes(app: FastifyInstance, url: string, n: number): Promise<number[]> {
  const client = await http(app);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await client.get(url)).status);
  return out;
}

/** One GET with headers; starts the server on first use. */
async function get(app: FastifyInstance, url: string, headers: Record<string, string> = {}) {
  const client = await http(app);
  let r = client.get(url);
  for (const [k, v] of Object.entries(headers)) r = r.set(k, v);
  return r;
}

describe('@ratekeeper/fastify', () => {
  it('a route config adds its limiter to the app-wide one (both count), and false turns limiting off', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { limit: 4, window: '1m', now });
    app.get('/default', async () => 'ok');
    app.get('/strict', { config: { rateLimit: { limit: 1, window: '1m' } } }, async () => 'ok');
    app.get('/open', { config: { rateLimit: false } }, async () => 'ok');
    expect(await codes(app, '/strict', 2)).toEqual([200, 429]);
    const denied = await get(app, '/strict');
    // The 429 describes the route limiter that denied it.
    expect(denied.headers['x-ratelimit-limit']).toBe('1');
    // The three /strict requests also counted app-wide: one unit of 4 is left.
    expect(await codes(app, '/default', 2)).toEqual([200, 429]);
    const open = await get(app, '/open');
    expect(open.status).toBe(200);
    expect(open.headers['x-ratelimit-limit']).toBeUndefined();
    await app.close();
  });

  it('counts each configured route on its own', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { global: false, now });
    const strict = { config: { rateLimit: { limit: 1, window: '1m' as const } } };
    app.get('/a', strict, async () => 'a');
    app.get('/b', strict, async () => 'b');
    expect(await codes(app, '/a', 2)).toEqual([200, 429]);
    expect(await codes(app, '/b', 2)).toEqual([200, 429]);
    await app.close();
  });

  it('limits only configured routes with global: false', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { global: false, now, headers: 'draft-8' });
    app.get('/free', async () => 'ok');
    app.get('/limited', { config: { rateLimit: { limit: 1, window: '1m' } } }, async () => 'ok');
    expect(await codes(app, '/free', 3)).toEqual([200, 200, 200]);
    expect(await codes(app, '/limited', 2)).toEqual([200, 429]);
    expect((await get(app, '/missing')).status).toBe(404);
    await app.close();
  });

  it('limits requests that match no route (404) with the app limits', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { limit: 2, window: '1m', now });
    app.get('/', async () => 'ok');
    expect(await codes(app, '/nope-1', 1)).toEqual([404]);
    expect(await codes(app, '/nope-2', 1)).toEqual([404]);
    const res = await get(app, '/nope-3');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBeDefined();
    await app.close();
  });

  it('runs in preHandler when asked, after authentication set the user', async () => {
    for (const [hook, expected] of [
      ['onRequest', [200, 429]],
      ['preHandler', [200, 200]],
    ] as const) {
      const app = Fastify();
      app.addHook('preValidation', async (request) => {
        request.userId = request.headers['x-user'] as string | undefined;
      });
      await app.register(rateLimitPlugin, { limit: 1, window: '1m', now, hook, key: 'user', user: (r) => r.userId });
      app.get('/', async () => 'ok');
      // Two users from one address: only a limiter that sees the user keeps them apart.
      const got = [(await get(app, '/', { 'x-user': 'alice' })).status, (await get(app, '/', { 'x-user': 'bob' })).status];
      expect([hook, got]).toEqual([hook, expected]);
      await app.close();
    }
  });

  it('takes the hook per route too', async () => {
    const app = Fastify();
    app.addHook('preValidation', async (request) => {
      request.userId = request.headers['x-user'] as string | undefined;
    });
    await app.register(rateLimitPlugin, { global: false, now });
    app.get(
      '/',
      { config: { rateLimit: { limit: 1, window: '1m', hook: 'preHandler', key: 'user', user: (r) => r.userId } } },
      async () => 'ok',
    );
    expect((await get(app, '/', { 'x-user': 'alice' })).status).toBe(200);
    expect((await get(app, '/', { 'x-user': 'bob' })).status).toBe(200);
    expect((await get(app, '/', { 'x-user': 'bob' })).status).toBe(429);
    await app.close();
  });

  it('exposes the decision on request.rateLimit', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { limit: 3, window: '1m', now });
    app.get('/', async (request) => ({ remaining: request.rateLimit?.remaining }));
    expect((await get(app, '/')).body).toEqual({ remaining: 2 });
    await app.close();
  });

  it('rejects bad plugin and route options when the app starts', async () => {
    const app = Fastify();
    await expect(app.register(rateLimitPlugin, { limit: 1, window: '1m', hook: 'onSend' as never })).rejects.toThrow(/`hook`/);
    const app3 = Fastify();
    await expect(app3.register(rateLimitPlugin, { global: false, windowMs: 1000 } as never)).rejects.toThrow(/`windowMs`/);
    const app2 = Fastify();
    await app2.register(rateLimitPlugin, { global: false });
    expect(() => app2.get('/', { config: { rateLimit: { limit: -2, window: '1m' } } }, async () => 'ok')).toThrow(/limit/);
    await app.close().catch(() => {});
    await app3.close().catch(() => {});
    await app2.close();
  });
});
