import { createServer, type Server } from 'node:http';
import Router from '@koa/router';
import { MemoryStore } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/koa';
import Koa from 'koa';
import supertest from 'supertest';

const now = () => 1_699_999_200_000;
const servers: Server[] = [];

async function serve(app: Koa): Promise<ReturnType<typeof supertest>> {
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('@ratekeeper/koa', () => {
  it('keys router routes by the matched route pattern, not the raw path', async () => {
    const store = new MemoryStore();
    const router = new Router({ prefix: '/api' });
    router.get('/users/:id', rateLimit({ limit: 2, window: '1m', now, key: 'route', store }), (ctx) => {
      ctx.body = 'ok';
    });
    const app = new Koa();
    app.use(router.routes());
    const http = await serve(app);
    expect((await http.get('/api/users/1')).status).toBe(200);
    expect((await http.get('/api/users/2')).status).toBe(200);
    expect((await http.get('/api/users/3')).status).toBe(429);
    expect(store.size).toBe(1);
  });

  it('knows the route in router.use() middleware too', async () => {
    const router = new Router();
    router.use(rateLimit({ limit: 1, window: '1m', now, key: ['ip', 'route'] }));
    router.get('/a/:id', (ctx) => {
      ctx.body = 'a';
    });
    router.get('/b/:id', (ctx) => {
      ctx.body = 'b';
    });
    const app = new Koa();
    app.use(router.routes());
    const http = await serve(app);
    expect((await http.get('/a/1')).status).toBe(200);
    expect((await http.get('/a/2')).status).toBe(429);
    expect((await http.get('/b/1')).status).toBe(200);
  });

  it('exposes the decision on ctx.state.rateLimit', async () => {
    const app = new Koa();
    app.use(rateLimit({ limit: 4, window: '1m', now }));
    app.use((ctx) => {
      ctx.body = { remaining: ctx.state.rateLimit?.remaining };
    });
    const http = await serve(app);
    expect((await http.get('/')).body).toEqual({ remaining: 3 });
  });

  it('counts a request once when the same limiter runs on the app and the router', async () => {
    const limiter = rateLimit({ limit: 2, window: '1m', now });
    const router = new Router();
    router.get('/', limiter, (ctx) => {
      ctx.body = 'ok';
    });
    const app = new Koa();
    app.use(limiter);
    app.use(router.routes());
    const http = await serve(app);
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('0');
    expect((await http.get('/')).status).toBe(429);
  });

  it('lets key function errors propagate to Koa error handling', async () => {
    const app = new Koa();
    app.silent = true;
    const seen: string[] = [];
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (e) {
        seen.push((e as Error).message);
        ctx.status = 503;
        ctx.body = 'handled';
      }
    });
    app.use(
      rateLimit({
        limit: 1,
        window: '1m',
        key: () => {
          throw new Error('no key');
        },
      }),
    );
    const http = await serve(app);
    const res = await http.get('/');
    expect(res.status).toBe(503);
    expect(seen).toEqual(['no key']);
  });

  it('exposes the limiter it uses as .limiter', async () => {
    const middleware = rateLimit({ limit: 1, window: '1m', now });
    expect(middleware.limiter?.rules[0]?.limit).toBe(1);
    expect(rateLimit({ rules: () => [{ limit: 1, window: '1m' }] }).limiter).toBeUndefined();
    const app = new Koa();
    app.use(middleware);
    app.use((ctx) => {
      ctx.body = ctx.state.rateLimit?.key;
    });
    const http = await serve(app);
    const first = await http.get('/');
    expect(first.status).toBe(200);
    expect((await http.get('/')).status).toBe(429);
    // The very limiter the middleware counts with: resetting the client's key there lets it through.
    await middleware.limiter?.reset(first.text);
    expect((await http.get('/')).status).toBe(200);
  });
});
