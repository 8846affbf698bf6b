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

  it('decorates fastify.rateLimit(options): a hook for your own hooks, layered over the plugin options', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { global: false, now });
    expect(typeof app.rateLimit).toBe('function');
    app.addHook('preHandler', app.rateLimit({ limit: 1, window: '1m' }));
    app.get('/', async (request) => ({ key: request.rateLimit?.key, limit: request.rateLimit?.limit }));
    const first = await get(app, '/');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ key: '127.0.0.1', limit: 1 });
    const second = await get(app, '/');
    expect(second.status).toBe(429);
    expect(second.headers['x-ratelimit-limit']).toBe('1');
    await app.close();
  });

  it('a fastify.rateLimit() hook on one route limits that route only', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { global: false, now });
    app.get('/limited', { preHandler: app.rateLimit({ limit: 2, window: '1m' }) }, async () => 'ok');
    app.get('/free', async () => 'ok');
    expect(await codes(app, '/limited', 3)).toEqual([200, 200, 429]);
    expect(await codes(app, '/free', 3)).toEqual([200, 200, 200]);
    await app.close();
  });

  it('counts a fastify.rateLimit() hook on its own, apart from the app-wide limiter and other hooks', async () => {
    const app = Fastify();
    await app.register(rateLimitPlugin, { limit: 10, window: '1m', now });
    // The same rules and store as the app limiter: still its own buckets, one unit per request.
    app.addHook('preHandler', app.rateLimit());
    const perRoute = { limit: 2, window: '1m' } as const;
    app.get('/a', { preHandler: app.rateLimit(perRoute) }, async () => 'a');
    app.get('/b', { preHandler: app.rateLimit(perRoute) }, async () => 'b');
    const first = await get(app, '/a');
    expect(first.headers.ratelimit).toBe('"10-in-1min";r=9;t=60, "10-in-1min";r=9;t=60, "2-in-1min";r=1;t=60');
    expect(await codes(app, '/a', 2)).toEqual([200, 429]);
    // /b's hook is another limiter with the same options: two units of its own.
    expect(await codes(app, '/b', 3)).toEqual([200, 200, 429]);
    await app.close();
  });

  describe('never unlimited in silence', () => {
    const plugin = { limit: 3, window: '1m' as const, now };
    const routes = (app: FastifyInstance): void => {
      app.get('/', async () => 'ok');
      app.get('/strict', { config: { rateLimit: { limit: 1, window: '1m' } } }, async () => 'ok');
    };
    it.each<[string, (app: FastifyInstance) => Promise<void>]>([
      [
        'routes added while register() was not awaited',
        async (app) => {
          // No await: the plugin loads when the app starts, after the routes were declared.
          void app.register(rateLimitPlugin, plugin);
          routes(app);
        },
      ],
      [
        'routes declared before the plugin',
        async (app) => {
          routes(app);
          await app.register(rateLimitPlugin, plugin);
        },
      ],
      [
        'routes declared before a register() that was not awaited',
        async (app) => {
          routes(app);
          void app.register(rateLimitPlugin, plugin);
        },
      ],
    ])('limits %s, route configs included', async (_label, build) => {
      const app = Fastify({ trustProxy: true });
      await build(app);
      const from = async (url: string, ip: string, n: number): Promise<number[]> => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await get(app, url, { 'x-forwarded-for': ip })).status);
        return out;
      };
      expect(await from('/', '203.0.113.1', 4)).toEqual([200, 200, 200, 429]);
      expect(await from('/strict', '203.0.113.2', 2)).toEqual([200, 429]);
      // The 429 comes from the route's own limit of 1.
      expect((await get(app, '/strict', { 'x-forwarded-for': '203.0.113.2' })).headers['x-ratelimit-limit']).toBe('1');
      await app.close();
    });
  });
});

describe("warnings go to Fastify's logger", () => {
  /** A store whose every call fails. */
  const broken = {
    bind: () => ({
      consume: () => {
        throw new Error('connection refused');
      },
      peek: () => {
        throw new Error('connection refused');
      },
      refund: () => {},
      reset: () => {},
    }),
  };

  it('a store outage and X-Forwarded-For without trust proxy are logged by fastify.log when logging is on', async () => {
    const lines: { level: number; msg: string }[] = [];
    const stream = { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) };
    const app = Fastify({ logger: { level: 'warn', stream } });
    const processWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await app.register(rateLimitPlugin, { limit: 5, window: '1m', now, store: broken });
      app.get('/', async () => 'ok');
      expect((await get(app, '/', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
      const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
      expect(warnings).toEqual([expect.stringMatching(/X-Forwarded-For/), expect.stringMatching(/connection refused.*onStoreError/)]);
      expect(processWarning).not.toHaveBeenCalled();
    } finally {
      processWarning.mockRestore();
      await app.close();
    }
  });

  it('with logging off they stay process warnings (nothing vanishes)', async () => {
    const app = Fastify();
    const processWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      await app.register(rateLimitPlugin, { limit: 5, window: '1m', now, store: broken });
      app.get('/', async () => 'ok');
      expect((await get(app, '/')).status).toBe(200);
      expect(processWarning).toHaveBeenCalledWith(expect.stringMatching(/connection refused/), expect.anything());
    } finally {
      processWarning.mockRestore();
      await app.close();
    }
  });
});
