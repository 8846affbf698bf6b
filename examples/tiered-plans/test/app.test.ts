import supertest from 'supertest';
import { createApp } from '../src/app';

describe('examples/tiered-plans', () => {
  let t = 0;
  const now = () => t;
  beforeEach(() => {
    t = 1_699_999_200_000;
  });

  async function codes(http: ReturnType<typeof supertest>, token: string | undefined, n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = http.get('/api/data');
      out.push((await (token ? r.set('Authorization', `Bearer ${token}`) : r)).status);
    }
    return out;
  }

  it('gives each plan its own limits', async () => {
    const http = supertest(createApp({ now }));
    expect(await codes(http, undefined, 3)).toEqual([200, 200, 429]);
    expect(await codes(http, 'token-free', 6)).toEqual([200, 200, 200, 200, 200, 429]);
    // Pro: bursts of 10, refilled at 10 per second (GCRA), and 50 per minute.
    expect(await codes(http, 'token-pro', 11)).toEqual([...Array(10).fill(200), 429]);
    t += 1000;
    const res = await http.get('/api/data').set('Authorization', 'Bearer token-pro');
    expect(res.body).toEqual({ plan: 'pro', remaining: 9 });
    expect(res.headers['ratelimit-policy']).toBe('"pro-burst";q=10;w=1, "pro";q=50;w=60');
  });

  it('explains the limit in the 429 body, per plan', async () => {
    const http = supertest(createApp({ now }));
    await codes(http, 'token-free', 5);
    const res = await http.get('/api/data').set('Authorization', 'Bearer token-free');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ error: 'rate limit exceeded', plan: 'free', retryAfterSeconds: 72, upgrade: 'https://example.com/pricing' });
  });
});
