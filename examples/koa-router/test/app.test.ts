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

  it('limits each API route separately with draft-7 headers', async () => {
    expect((await http.post('/api/items')).headers.ratelimit).toBe('limit=2, remaining=1, reset=1');
    expect((await http.post('/api/items')).status).toBe(201);
    expect((await http.post('/api/items')).status).toBe(429);
    expect((await http.post('/api/orders')).status).toBe(201);
    t += 2000;
    expect((await http.post('/api/items')).status).toBe(201);
  });
});
