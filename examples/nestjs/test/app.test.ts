import type { NestExpressApplication } from '@nestjs/platform-express';
import supertest from 'supertest';
import { createApp } from '../src/app';

// The example's app as `pnpm start` builds it, listening on 127.0.0.1 in this process, with a
// manual clock (an hour boundary: window resets are round numbers). A fresh app (and store) per test.
const T0 = 1_699_999_200_000;
const now = (): number => T0;

let app: NestExpressApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(): Promise<ReturnType<typeof supertest>> {
  app = await createApp({ now });
  await app.listen(0, '127.0.0.1');
  return supertest(await app.getUrl());
}

const statuses = async (n: number, send: () => supertest.Test): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send()).status);
  return out;
};

describe('examples/nestjs', () => {
  it('RateLimitModule.forRoot: every undecorated route counts in the module bucket, byte-exact headers, 429 with Retry-After', async () => {
    const http = await start();
    const first = await http.get('/');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ hello: 'world', remaining: 99 });
    expect(first.headers['x-ratelimit-limit']).toBe('100');
    expect(first.headers['x-ratelimit-remaining']).toBe('99');
    expect(first.headers['x-ratelimit-reset']).toBe(String(T0 / 1000 + 900));
    expect(first.headers['ratelimit-policy']).toBe('"100-in-15min";q=100;w=900');
    expect(first.headers.ratelimit).toBe('"100-in-15min";r=99;t=900');
    expect(await statuses(99, () => http.get('/'))).toEqual(Array(99).fill(200));
    const denied = await http.get('/');
    expect(denied.status).toBe(429);
    // Sliding window: one more fits once 1/100 of the next 15 minutes has passed (900 s + 9 s).
    expect(denied.headers['retry-after']).toBe('909');
    expect(denied.body).toEqual({ statusCode: 429, message: 'Too many requests, please try again later.' });
  });

  it('@RateLimit on the login handler: its own bucket of 5 a minute, a JSON message, the module bucket untouched', async () => {
    const http = await start();
    expect(await statuses(5, () => http.post('/auth/login'))).toEqual([401, 401, 401, 401, 401]);
    const denied = await http.post('/auth/login');
    expect(denied.status).toBe(429);
    expect(denied.body).toEqual({ error: 'Too many login attempts, try again later.' });
    // Sliding window: 60 s + 1/5 of the next minute.
    expect(denied.headers['retry-after']).toBe('72');
    expect(denied.headers['x-ratelimit-limit']).toBe('5');
    expect(denied.headers['x-ratelimit-remaining']).toBe('0');
    expect(denied.headers['ratelimit-policy']).toBe('"5-in-1min";q=5;w=60');
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('99');
  });

  it('@SkipRateLimit on the health route: no headers, never limited, even with the module bucket empty', async () => {
    const http = await start();
    await statuses(100, () => http.get('/'));
    expect((await http.get('/')).status).toBe(429);
    for (let i = 0; i < 3; i++) {
      const health = await http.get('/health');
      expect(health.status).toBe(200);
      expect(health.text).toBe('ok');
      expect(health.headers['x-ratelimit-limit']).toBeUndefined();
      expect(health.headers.ratelimit).toBeUndefined();
    }
  });

  it('@RateLimit on a controller class: its handlers share one bucket per client', async () => {
    const http = await start();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      codes.push((await http.get('/admin/users')).status);
      codes.push((await http.get('/admin/audit')).status);
    }
    expect(codes).toEqual([...Array(10).fill(200), 429, 429]);
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('99');
  });

  it('tiered plans: rules from the caller plan (defineRules), counted per account, policies named after the plan', async () => {
    const http = await start();
    const as = (token?: string) => () => {
      const r = http.get('/api/data');
      return token === undefined ? r : r.set('Authorization', `Bearer ${token}`);
    };
    // Anonymous: 2 a minute per address.
    const anon = await http.get('/api/data');
    expect(anon.body).toEqual({ plan: 'anonymous', remaining: 1 });
    expect(anon.headers['ratelimit-policy']).toBe('"anonymous";q=2;w=60');
    expect(await statuses(2, as())).toEqual([200, 429]);
    // Free: 5 a minute for the account, though it calls from the same (exhausted) address.
    const free = await as('token-free')();
    expect(free.body).toEqual({ plan: 'free', remaining: 4 });
    expect(free.headers['ratelimit-policy']).toBe('"free";q=5;w=60');
    expect(await statuses(5, as('token-free'))).toEqual([200, 200, 200, 200, 429]);
    // Pro: two rules, 10 a second (GCRA) and 50 a minute; the clock stands still, so the burst rule denies the 11th.
    const pro = await as('token-pro')();
    expect(pro.body).toEqual({ plan: 'pro', remaining: 9 });
    expect(pro.headers['ratelimit-policy']).toBe('"pro-burst";q=10;w=1, "pro";q=50;w=60');
    const proCodes = await statuses(10, as('token-pro'));
    expect(proCodes).toEqual([...Array(9).fill(200), 429]);
    expect(await statuses(1, as('token-pro'))).toEqual([429]);
  });
});
