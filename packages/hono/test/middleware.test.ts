import { isConfigError } from '@ratekeeper/core';
import { connInfoIp, rateLimit } from '@ratekeeper/hono';
import { type Context, Hono } from 'hono';

const T0 = 1_699_999_200_000;
const now = () => T0;

describe('@ratekeeper/hono', () => {
  it("keys by the matched route pattern (app.use), never the raw path; decision on c.get('rateLimit')", async () => {
    const app = new Hono();
    app.use(rateLimit({ limit: 2, window: '1m', algorithm: 'fixed-window', now, key: 'route' }));
    app.get('/posts/:id', (c) => c.text(c.get('rateLimit')?.key ?? 'none'));
    const res = await app.request('/posts/1');
    expect(await res.text()).toBe('GET /posts/:id');
    expect((await app.request('/posts/2')).status).toBe(200);
    const third = await app.request('/posts/3');
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('60');
  });

  it('a request without a connection address is a ConfigError (never one shared bucket)', async () => {
    const app = new Hono();
    let caught: unknown;
    app.onError((error, c) => {
      caught = error;
      return c.text('error', 500);
    });
    app.use(rateLimit({ limit: 2, window: '1m', now }));
    app.get('/', (c) => c.text('ok'));
    expect((await app.request('/')).status).toBe(500);
    expect(isConfigError(caught)).toBe(true);
    expect(String((caught as Error).message)).toMatch(/pass `ip: \(c\) =>/);
  });

  it('connInfoIp reads Node, Bun and Deno connection info from c.env', () => {
    const ctx = (env: unknown) => ({ env, req: { raw: new Request('http://x.test/'), header: () => undefined } }) as unknown as Context;
    expect(connInfoIp(ctx({ incoming: { socket: { remoteAddress: '203.0.113.1' } } }))).toBe('203.0.113.1');
    expect(connInfoIp(ctx({ requestIP: () => ({ address: '203.0.113.2' }) }))).toBe('203.0.113.2');
    expect(connInfoIp(ctx({ remoteAddr: { hostname: '203.0.113.3' } }))).toBe('203.0.113.3');
    expect(connInfoIp(ctx(undefined))).toBeUndefined();
  });

  it('exposes its limiter, and refunds a 5xx from the handler', async () => {
    const app = new Hono();
    const limiter = rateLimit({ limit: 1, window: '1m', now, ip: () => '203.0.113.1' });
    app.onError((_error, c) => c.text('error', 500));
    app.use(limiter);
    app.get('/fail', (c) => c.text('fail', 500));
    app.get('/throw', () => {
      throw new Error('boom');
    });
    app.get('/ok', (c) => c.text('ok'));
    expect((await app.request('/fail')).status).toBe(500);
    expect((await app.request('/throw')).status).toBe(500);
    expect((await app.request('/ok')).status).toBe(200);
    expect((await app.request('/ok')).status).toBe(429);
    expect((await limiter.limiter?.peek('203.0.113.1'))?.remaining).toBe(0);
  });
});
