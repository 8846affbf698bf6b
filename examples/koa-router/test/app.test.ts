import { createServer, type Server } from 'node:http';
import supertest from 'supertest';
import { createApp } from '../src/app';

let t = 1_699_999_200_000;
let server: Server;
let http: ReturnType<typeof supertest>;

beforeEach(async () => {
  t = 1_699_999_200_000;
  server = createServer(createApp({ now: () => t }).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  http = supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
});
afterEach(() => new Promise((resolve) => server.close(resolve)));

describe('examples/koa-router', () => {
  it('counts /users/:id per route pattern, whatever the id', async () => {
    for (let i = 0; i < 10; i++) expect((await http.get(`/users/${i}`)).status).toBe(200);
    expect((await http.get('/users/999')).status).toBe(429);
    expect((await http.get('/')).body).toEqual({ hello: 'world', remaining: 88 });
  });

  it('limits each API route separately; its 429 carries its own draft-7 headers only', async () => {
    // Allowed: the app-wide draft-8 list is not overwritten by the router's draft-7 form.
    expect((await http.post('/api/items')).headers.ratelimit).toBe('"100-in-15min";r=99;t=900');
    expect((await http.post('/api/items')).status).toBe(201);
    const limited = await http.post('/api/items');
    expect(limited.status).toBe(429);
    // The 429 describes the limiter that denied it, not the app-wide one.
    expect(limited.headers.ratelimit).toBe('limit=2, remaining=0, reset=2');
    expect(limited.headers['retry-after']).toBe('2');
    expect(limited.headers['x-ratelimit-limit']).toBeUndefined();
    expect((await http.post('/api/orders')).status).toBe(201);
    t += 2000;
    expect((await http.post('/api/items')).status).toBe(201);
  });
});
