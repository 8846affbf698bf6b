import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { createApp } from '../src/app';

const now = () => 1_699_999_200_000;
let app: FastifyInstance;
let http: ReturnType<typeof supertest>;

beforeEach(async () => {
  app = await createApp({ now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  http = supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
});
afterEach(() => app.close());

describe('examples/fastify-routes', () => {
  it('applies the route override on /search', async () => {
    for (let i = 0; i < 3; i++) expect((await http.get('/search')).status).toBe(200);
    const res = await http.get('/search');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ error: 'search is limited to 3 per 10 s' });
    // The route limit adds to the app-wide one: the 4 searches counted there too.
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('95');
  });

  it('never limits /health', async () => {
    const res = await http.get('/health');
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('limits reports by the account plan: free 5/min, pro 50/min', async () => {
    const run = async (key: string, n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) codes.push((await http.get(`/reports/${i}`).set('x-api-key', key)).status);
      return codes;
    };
    expect(await run('key-free', 6)).toEqual([200, 200, 200, 200, 200, 429]);
    const pro = await run('key-pro', 51);
    expect(pro.slice(0, 50).every((c) => c === 200)).toBe(true);
    expect(pro[50]).toBe(429);
    const res = await http.get('/reports/x').set('x-api-key', 'key-pro');
    expect(res.headers['ratelimit-policy']).toBe('"pro";q=50;w=60, "pro-daily";q=10000;w=86400');
  });
});
