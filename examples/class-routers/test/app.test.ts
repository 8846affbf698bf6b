import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Express } from 'express';
import supertest from 'supertest';
import { createRoutingControllersApp } from '../src/routing-controllers/app';
import { createTsoaApp } from '../src/tsoa/app';

// Both apps as `pnpm start` builds them, each listening on 127.0.0.1: @ratekeeper/express's
// middleware on single routes through routing-controllers' @UseBefore and tsoa's @Middlewares
// (tsoa's routes generated first, into the git-ignored .generated/). The limits are per address and
// route, so each test uses its own client address (Express trusts X-Forwarded-For here).

const servers: Server[] = [];
const http: Record<'routing-controllers' | 'tsoa', ReturnType<typeof supertest>> = {} as never;

function listen(app: Express): Promise<ReturnType<typeof supertest>> {
  app.set('trust proxy', true);
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      servers.push(server);
      resolve(supertest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    });
  });
}

beforeAll(async () => {
  http['routing-controllers'] = await listen(createRoutingControllersApp());
  http.tsoa = await listen(await createTsoaApp(join(__dirname, '..')));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe.each(['routing-controllers', 'tsoa'] as const)('examples/class-routers: %s', (name) => {
  it('POST /auth/login (the docs/nestjs.md controller): 5 a minute, headers on every answer, then 429 with Retry-After', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await http[name].post('/auth/login').set('X-Forwarded-For', '203.0.113.1');
      codes.push(res.status);
      expect(res.body).toEqual({ ok: true });
      expect(res.headers['x-ratelimit-limit']).toBe('5');
      expect(res.headers['x-ratelimit-remaining']).toBe(String(4 - i));
      expect(res.headers['ratelimit-policy']).toBe('"5-in-1min";q=5;w=60');
      expect(res.headers.ratelimit).toMatch(/^"5-in-1min";r=\d;t=\d+$/);
    }
    expect(codes).toEqual([200, 200, 200, 200, 200]);
    const denied = await http[name].post('/auth/login').set('X-Forwarded-For', '203.0.113.1');
    expect(denied.status).toBe(429);
    expect(Number(denied.headers['retry-after'])).toBeGreaterThan(0);
    expect(denied.headers['x-ratelimit-remaining']).toBe('0');
    expect(denied.text).toBe('Too many requests, please try again later.');
    // Another client has its own bucket.
    expect((await http[name].post('/auth/login').set('X-Forwarded-For', '203.0.113.2')).status).toBe(200);
  });

  it("key ['ip', 'route'] uses the route pattern: /items/1, /items/2, /items/3 share one bucket", async () => {
    const keys: unknown[] = [];
    for (let i = 1; i <= 3; i++) {
      const res = await http[name].get(`/items/${i}`).set('X-Forwarded-For', '203.0.113.3');
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(String(i));
      keys.push(res.body.key);
    }
    expect(keys).toEqual(Array(3).fill('203.0.113.3|GET /items/:id'));
    const denied = await http[name].get('/items/4').set('X-Forwarded-For', '203.0.113.3');
    expect(denied.status).toBe(429);
    expect(denied.headers['retry-after']).toBeDefined();
    // The login route is another bucket for the same address; another address, another bucket.
    expect((await http[name].post('/auth/login').set('X-Forwarded-For', '203.0.113.3')).status).toBe(200);
    expect((await http[name].get('/items/4').set('X-Forwarded-For', '203.0.113.4')).body.key).toBe('203.0.113.4|GET /items/:id');
  });

  it('a path no route matches runs no limiter: 404 without rate-limit headers', async () => {
    const res = await http[name].get('/nowhere');
    expect(res.status).toBe(404);
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
  });
});

describe('examples/class-routers: docs/nestjs.md', () => {
  it('shows the two login controllers exactly as this example runs them', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'nestjs.md'), 'utf8');
    const section = doc.split('## routing-controllers and tsoa')[1] ?? '';
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    const source = (file: string) => readFileSync(join(__dirname, '..', 'src', file), 'utf8');
    expect(blocks).toEqual([source('routing-controllers/auth.controller.ts'), source('tsoa/auth.controller.ts')]);
  });
});
