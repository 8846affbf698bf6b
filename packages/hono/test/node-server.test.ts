import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { rateLimit } from '@ratekeeper/hono';
import { Hono } from 'hono';

const T0 = 1_699_999_200_000;

describe('@ratekeeper/hono on @hono/node-server', () => {
  let server: ReturnType<typeof serve> | undefined;
  afterEach(() => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))));

  async function start(app: Hono): Promise<string> {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    return `http://127.0.0.1:${((server as ReturnType<typeof serve>).address() as AddressInfo).port}`;
  }

  it("a handler's own Response (also an immutable one) carries the headers; the connection's address is the key", async () => {
    const app = new Hono();
    app.use(rateLimit({ limit: 3, window: '1m', algorithm: 'fixed-window', now: () => T0 }));
    app.get('/raw', () => new Response('raw', { headers: { 'x-own': '1' } }));
    app.get('/immutable', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
    app.get('/key', (c) => c.text(c.get('rateLimit')?.key ?? 'none'));
    const url = await start(app);
    const raw = await fetch(`${url}/raw`);
    expect(raw.headers.get('x-own')).toBe('1');
    expect(raw.headers.get('x-ratelimit-remaining')).toBe('2');
    const redirect = await fetch(`${url}/immutable`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('x-ratelimit-remaining')).toBe('1');
    expect(await (await fetch(`${url}/key`)).text()).toBe('127.0.0.1');
    const denied = await fetch(`${url}/raw`);
    expect(denied.status).toBe(429);
    expect(denied.headers.get('retry-after')).toBe('60');
    expect(denied.headers.get('content-type')).toMatch(/^text\/plain/);
  });
});
