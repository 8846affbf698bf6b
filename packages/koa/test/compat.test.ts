import { createServer, IncomingMessage, type Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { isConfigError } from '@ratekeeper/core';
import Koa, { type Context } from 'koa';
import supertest from 'supertest';
import ratelimit, { type RatelimitOptions, type RatelimitState } from '../src/compat';
import { longDuration } from '../src/compat/long-duration';

// @ratekeeper/koa/compat as koa-ratelimit 5/6 documents it (README, options, responses), on a
// manual clock. Koa 2 is a dev dependency under the alias `koa2`.
const Koa2 = require('koa2') as new () => Koa;

const T0 = 1_700_000_000_000;
let t = T0;
const now = () => t;
const servers: Server[] = [];

beforeEach(() => {
  t = T0;
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(app: Koa): Promise<ReturnType<typeof supertest>> {
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
}

/** An app with the limiter and a handler that counts its calls; errors are collected, not logged. */
async function appWith(options: RatelimitOptions, KoaClass: new () => Koa = Koa) {
  const app = new KoaClass();
  const errors: unknown[] = [];
  app.on('error', (e: unknown) => errors.push(e));
  const seen = { calls: 0, state: [] as unknown[] };
  app.use(ratelimit({ now, db: new Map(), driver: 'memory', ...options }));
  app.use((ctx) => {
    seen.calls++;
    seen.state.push(ctx.state.rateLimit);
    ctx.body = `hit ${seen.calls}`;
  });
  return { http: await serve(app), seen, errors };
}

const resetOf = (ms: number) => String(ms / 1000);

describe('@ratekeeper/koa/compat (koa-ratelimit 5/6), memory driver', () => {
  it('is the default export, a factory of Koa middleware', () => {
    expect(typeof ratelimit).toBe('function');
    expect(typeof ratelimit({ driver: 'memory', db: new Map() })).toBe('function');
  });

  it('sends X-RateLimit-Limit, -Remaining and -Reset (window end, epoch seconds) on allowed requests', async () => {
    t = T0 + 123;
    const { http, seen } = await appWith({ max: 3, duration: 60_000 });
    const first = await http.get('/');
    expect(first.status).toBe(200);
    expect(first.text).toBe('hit 1');
    expect(first.headers['x-ratelimit-limit']).toBe('3');
    expect(first.headers['x-ratelimit-remaining']).toBe('2');
    expect(first.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 123 + 60_000));
    expect(first.headers['x-ratelimit-reset']).toBe('1700000060.123');
    t += 1000;
    const second = await http.get('/');
    expect(second.headers['x-ratelimit-remaining']).toBe('1');
    expect(second.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 123 + 60_000));
    expect(second.headers['retry-after']).toBeUndefined();
    expect(seen.state).toEqual([undefined, undefined]);
  });

  it('allows max requests per window; the next gets 429, the default message, Retry-After, and never reaches downstream', async () => {
    const { http, seen } = await appWith({ max: 2, duration: 60_000 });
    await http.get('/').expect(200);
    t += 1000;
    await http.get('/').expect(200);
    t = T0 + 15_000;
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Rate limit exceeded, retry in 45 seconds.');
    expect(limited.headers['content-type']).toMatch(/^text\/plain/);
    expect(limited.headers['retry-after']).toBe('45');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(limited.headers['x-ratelimit-limit']).toBe('2');
    expect(limited.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 60_000));
    expect(seen.calls).toBe(2);
  });

  it('uses the defaults: 2500 per hour, message in minutes', async () => {
    const { http } = await appWith({});
    const first = await http.get('/');
    expect(first.headers['x-ratelimit-limit']).toBe('2500');
    expect(first.headers['x-ratelimit-remaining']).toBe('2499');
    expect(first.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 3_600_000));
    const { http: one } = await appWith({ max: 1 });
    await one.get('/').expect(200);
    t += 10;
    const limited = await one.get('/');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Rate limit exceeded, retry in 60 minutes.');
    expect(limited.headers['retry-after']).toBe('3599');
  });

  it('truncates Retry-After: 0 within the last second of the window', async () => {
    const { http } = await appWith({ max: 1, duration: 1000 });
    await http.get('/').expect(200);
    t += 10;
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('0');
    expect(limited.text).toBe('Rate limit exceeded, retry in 990 ms.');
  });

  it('counts a fixed window per id that starts at its first request', async () => {
    const { http } = await appWith({ max: 2, duration: 60_000, id: (ctx) => String(ctx.get('x-id')) });
    await http.get('/').set('x-id', 'a').expect(200);
    t = T0 + 30_000;
    const b = await http.get('/').set('x-id', 'b');
    expect(b.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 90_000));
    t = T0 + 50_000;
    await http.get('/').set('x-id', 'a').expect(200);
    t = T0 + 59_999;
    await http.get('/').set('x-id', 'a').expect(429);
    // The window ends at first request + duration and the whole count starts again: two requests
    // pass at once (a sliding log would still hold the one made at 50 s).
    t = T0 + 60_000;
    const fresh = await http.get('/').set('x-id', 'a');
    expect(fresh.status).toBe(200);
    expect(fresh.headers['x-ratelimit-remaining']).toBe('1');
    expect(fresh.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 120_000));
    t = T0 + 60_001;
    await http.get('/').set('x-id', 'a').expect(200);
    await http.get('/').set('x-id', 'a').expect(429);
    // b's own window is untouched.
    t = T0 + 89_999;
    const b2 = await http.get('/').set('x-id', 'b');
    expect(b2.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('throw: true throws the 429 through upstream middleware, with the rate headers and Retry-After', async () => {
    for (const KoaClass of [Koa, Koa2]) {
      t = T0;
      const app = new KoaClass();
      const thrown: unknown[] = [];
      app.use(async (_ctx, next) => {
        try {
          await next();
        } catch (error) {
          thrown.push(error);
          throw error;
        }
      });
      app.use(ratelimit({ driver: 'memory', db: new Map(), now, duration: 1000, max: 1, throw: true }));
      app.use((ctx) => {
        ctx.body = 'ok';
      });
      const http = await serve(app);
      await http.get('/').expect(200);
      t += 10;
      const limited = await http.get('/');
      expect(limited.status).toBe(429);
      expect(limited.text).toMatch(/^Rate limit exceeded, retry in/);
      expect(limited.headers['retry-after']).toBe('0');
      expect(limited.headers['x-ratelimit-remaining']).toBe('0');
      expect(limited.headers['x-ratelimit-limit']).toBe('1');
      expect(limited.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 1000));
      expect(thrown).toHaveLength(1);
      expect((thrown[0] as { status: number; headers: unknown }).status).toBe(429);
      expect((thrown[0] as { headers: unknown }).headers).toEqual({
        'X-RateLimit-Remaining': 0,
        'X-RateLimit-Reset': (T0 + 1000) / 1000,
        'X-RateLimit-Limit': 1,
        'Retry-After': 0,
      });
    }
  });

  it('limits by the id function; `false` leaves the request unlimited and without headers', async () => {
    const { http } = await appWith({ max: 1, id: (ctx) => ctx.get('foo') || false });
    await http.get('/').set('foo', 'bar').expect('X-RateLimit-Remaining', '0').expect(200);
    await http.get('/').set('foo', 'bar').expect(429);
    await http.get('/').set('foo', 'biz').expect(200, 'hit 2');
    for (let i = 0; i < 3; i++) {
      const free = await http.get('/');
      expect(free.status).toBe(200);
      expect(free.headers['x-ratelimit-remaining']).toBeUndefined();
    }
  });

  it('awaits an id returned as a promise', async () => {
    const { http } = await appWith({ max: 1, id: async (ctx) => ctx.get('foo') });
    await http.get('/').set('foo', 'a').expect(200);
    await http.get('/').set('foo', 'b').expect(200);
    await http.get('/').set('foo', 'a').expect(429);
  });

  it('whitelist: true (or a promise of true) passes without counting or headers', async () => {
    const { http, seen } = await appWith({ max: 1, whitelist: async (ctx) => ctx.get('foo') === 'whitelistme' });
    await http.get('/').expect(200);
    for (let i = 0; i < 3; i++) {
      const res = await http.get('/').set('foo', 'whitelistme');
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
    await http.get('/').set('foo', 'imnotwhitelisted').expect(429);
    expect(seen.calls).toBe(4);
  });

  it('blacklist: true throws 403 Forbidden, even for a whitelisted request', async () => {
    const { http, seen } = await appWith({
      max: 5,
      blacklist: (ctx) => ctx.get('foo') === 'blacklisted',
      whitelist: () => true,
    });
    const res = await http.get('/').set('foo', 'blacklisted');
    expect(res.status).toBe(403);
    expect(res.text).toBe('Forbidden');
    await http.get('/').set('foo', 'fine').expect(200);
    expect(seen.calls).toBe(1);
  });

  it('takes custom header names; a name left out keeps its default', async () => {
    const { http } = await appWith({
      max: 1,
      headers: { remaining: 'Rate-Limit-Remaining', reset: 'Rate-Limit-Reset', total: 'Rate-Limit-Total' },
    });
    const res = await http.get('/');
    expect(res.headers['rate-limit-remaining']).toBe('0');
    expect(res.headers['rate-limit-reset']).toBe(resetOf(T0 + 3_600_000));
    expect(res.headers['rate-limit-total']).toBe('1');
    expect(Object.keys(res.headers).filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
    const { http: partial } = await appWith({ max: 1, headers: { total: 'Rate-Limit-Total' } });
    const p = await partial.get('/');
    expect(p.headers['rate-limit-total']).toBe('1');
    expect(p.headers['x-ratelimit-remaining']).toBe('0');
    expect(p.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('disableHeader: no rate headers; a limited response still carries Retry-After', async () => {
    const { http, seen } = await appWith({ max: 1, duration: 60_000, disableHeader: true });
    const ok = await http.get('/');
    expect(Object.keys(ok.headers).filter((h) => h.includes('ratelimit'))).toEqual([]);
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(Object.keys(limited.headers).filter((h) => h.includes('ratelimit'))).toEqual([]);
    expect(seen.calls).toBe(1);
  });

  it('errorMessage and status replace the body and status; an object is sent as JSON', async () => {
    const { http } = await appWith({ max: 1, errorMessage: 'Sometimes You Just Have to Slow Down.', status: 503 });
    await http.get('/').expect(200);
    await http.get('/').expect(503, 'Sometimes You Just Have to Slow Down.');
    const { http: json } = await appWith({ max: 1, errorMessage: { msg: 'Reject' } });
    await json.get('/').expect(200);
    const res = await json.get('/');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ msg: 'Reject' });
  });

  it('sets ctx.state.rateLimit = { after, headers, id, message } and then calls onLimited(ctx), on limited requests only', async () => {
    const calls: RatelimitState[] = [];
    const app = new Koa();
    app.use(
      ratelimit({
        driver: 'memory',
        db: new Map(),
        now,
        max: 1,
        duration: 60_000,
        id: () => 'user-1',
        onLimited: (ctx) => {
          calls.push(ctx.state.rateLimit as unknown as RatelimitState);
        },
      }),
    );
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    await http.get('/').expect(200);
    expect(calls).toEqual([]);
    t += 20_000;
    await http.get('/').expect(429);
    expect(calls).toEqual([
      {
        after: 40,
        headers: { 'X-RateLimit-Remaining': 0, 'X-RateLimit-Reset': (T0 + 60_000) / 1000, 'X-RateLimit-Limit': 1 },
        id: 'user-1',
        message: 'Rate limit exceeded, retry in 40 seconds.',
      },
    ]);
  });

  it('keeps each window in the db Map under namespace:id; clearing the Map or an entry starts a fresh window', async () => {
    const db = new Map<unknown, unknown>();
    const app = new Koa();
    app.use(ratelimit({ driver: 'memory', db, now, max: 2, duration: 60_000, id: () => 'me' }));
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    await http.get('/').expect(200);
    expect(db.get('limit:me')).toEqual({ id: 'me', reset: (T0 + 60_000) / 1000, remaining: 1, total: 2 });
    await http.get('/').expect(200);
    await http.get('/').expect(429);
    db.clear();
    t += 1000;
    const fresh = await http.get('/');
    expect(fresh.status).toBe(200);
    expect(fresh.headers['x-ratelimit-remaining']).toBe('1');
    expect(fresh.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 61_000));
    await http.get('/').expect(200);
    await http.get('/').expect(429);
    db.delete('limit:me');
    await http.get('/').expect(200);

    const other = new Map<unknown, unknown>();
    const named = new Koa();
    named.use(ratelimit({ driver: 'memory', db: other, now, namespace: 'api', id: () => 'me' }));
    await (await serve(named)).get('/');
    expect([...other.keys()]).toEqual(['api:me']);
  });

  it('shares counts between middlewares on one Map, and between middlewares given no db', async () => {
    const db = new Map<unknown, unknown>();
    const app = new Koa();
    app.use(ratelimit({ driver: 'memory', db, now, max: 2 }));
    app.use(ratelimit({ driver: 'memory', db, now, max: 2 }));
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('0');
    expect((await http.get('/')).status).toBe(429);

    const shared = new Koa();
    const id = `default-db-${Math.random()}`;
    shared.use(ratelimit({ driver: 'memory', now, max: 2, id: () => id }));
    shared.use(ratelimit({ driver: 'memory', now, max: 2, id: () => id }));
    shared.use((ctx) => {
      ctx.body = 'ok';
    });
    const sharedHttp = await serve(shared);
    expect((await sharedHttp.get('/')).headers['x-ratelimit-remaining']).toBe('0');
    expect((await sharedHttp.get('/')).status).toBe(429);
  });

  it('counts every response, 5xx included', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(ratelimit({ driver: 'memory', db: new Map(), now, max: 2 }));
    app.use((ctx) => {
      ctx.status = 500;
      ctx.body = 'boom';
    });
    const http = await serve(app);
    await http.get('/').expect(500);
    await http.get('/').expect(500);
    await http.get('/').expect(429);
  });

  it('max: 0 limits every request', async () => {
    const { http, seen } = await appWith({ max: 0, duration: 60_000 });
    const res = await http.get('/');
    expect(res.status).toBe(429);
    expect(res.headers['x-ratelimit-limit']).toBe('0');
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    expect(res.headers['x-ratelimit-reset']).toBe(resetOf(T0 + 60_000));
    expect(res.headers['retry-after']).toBe('60');
    expect(seen.calls).toBe(0);
  });

  it('counts exactly with a max above the sliding log cap (10001: one anchored window, O(1))', async () => {
    const app = new Koa();
    const mw = ratelimit({ driver: 'memory', db: new Map(), now, max: 10_001, duration: 60_000, id: () => 'big' });
    const run = async () => {
      const req = new IncomingMessage(new Socket());
      const ctx = app.createContext(req, new ServerResponse(req));
      let passed = false;
      await mw(ctx, async () => {
        passed = true;
      });
      return { passed, remaining: ctx.response.get('X-RateLimit-Remaining'), status: ctx.status };
    };
    expect(await run()).toEqual({ passed: true, remaining: '10000', status: 200 });
    for (let i = 1; i < 10_001; i++) {
      t = T0 + Math.floor((i * 59_999) / 10_001);
      await run();
    }
    t = T0 + 59_999;
    expect(await run()).toEqual({ passed: false, remaining: '0', status: 429 });
    t = T0 + 60_000;
    expect(await run()).toEqual({ passed: true, remaining: '10000', status: 200 });
  });

  it('counts each pass through the middleware, as koa-ratelimit does', async () => {
    const limiter = ratelimit({ driver: 'memory', db: new Map(), now, max: 4 });
    const app = new Koa();
    app.use(limiter);
    app.use(limiter);
    app.use((ctx) => {
      ctx.body = 'ok';
    });
    const http = await serve(app);
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('2');
  });

  it('accepts numeric strings for max and duration, and ignores names it does not know', async () => {
    const { http } = await appWith({ max: '1', duration: '60000', onLimit: () => {} } as unknown as RatelimitOptions);
    expect((await http.get('/')).headers['x-ratelimit-reset']).toBe(resetOf(T0 + 60_000));
    await http.get('/').expect(429);
  });

  it('fails each counted request, as koa-ratelimit does, on an unknown driver or a memory db that is not a Map', async () => {
    const bad = await appWith({ driver: 'mongo' as 'memory' });
    await bad.http.get('/').expect(500);
    expect(String(bad.errors[0])).toBe('Error: invalid driver. Expecting memory or redis, got mongo');
    const notMap = await appWith({ db: {} as Map<unknown, unknown> });
    await notMap.http.get('/').expect(500);
    expect((notMap.errors[0] as Error).message).toBe('for memory driver, .db must be Map instance');
    const noRedis = await appWith({ driver: 'redis', db: undefined });
    await noRedis.http.get('/').expect(500);
    expect((noRedis.errors[0] as Error).message).toBe('db required');
    // Requests it never counts are not affected.
    const free = await appWith({ driver: 'mongo' as 'memory', id: () => false });
    await free.http.get('/').expect(200);
    const empty = await appWith({ id: () => '' });
    await empty.http.get('/').expect(500);
    expect((empty.errors[0] as Error).message).toBe('.id required');
  });

  it('refuses, at construction, values koa-ratelimit would misuse in silence', () => {
    const bad: Record<string, unknown>[] = [
      { duration: 0 },
      { duration: -1 },
      { duration: 'an hour' },
      { max: -1 },
      { max: 1.5 },
      { max: 'many' },
      { max: 2 ** 40, duration: 3_600_000 },
      { id: 'ip' },
      { whitelist: ['127.0.0.1'] },
      { blacklist: 'x' },
      { status: 'teapot' },
      { headers: { remaining: 42 } },
      { namespace: 7 },
      { onLimited: true },
      { driver: 'redis', db: new Map(), max: 5 },
      { driver: 'redis', db: {}, max: 10_001 },
    ];
    for (const options of bad) {
      let error: unknown;
      try {
        ratelimit({ driver: 'memory', ...options } as RatelimitOptions);
      } catch (e) {
        error = e;
      }
      expect([options, isConfigError(error)]).toEqual([options, true]);
    }
    expect(() => ratelimit({ driver: 'redis', db: new Map() })).toThrow('Expected `db` to be an ioredis, iovalkey or node-redis client');
    expect(() => ratelimit({ driver: 'memory', whitelist: false as never, blacklist: null as never })).not.toThrow();
  });

  it('works on Koa 2', async () => {
    const { http, seen } = await appWith({ max: 1, duration: 60_000 }, Koa2);
    await http.get('/').expect('X-RateLimit-Remaining', '0').expect(200);
    const limited = await http.get('/');
    expect(limited.status).toBe(429);
    expect(limited.text).toBe('Rate limit exceeded, retry in 1 minute.');
    expect(seen.calls).toBe(1);
  });

  it('hands a ConfigError to Express instead of crashing when mounted on the wrong framework', async () => {
    const mw = ratelimit({ driver: 'memory', db: new Map() }) as unknown as (
      req: unknown,
      res: unknown,
      next: (e?: unknown) => void,
    ) => unknown;
    const passed: unknown[] = [];
    await mw({ headers: {} }, {}, (e) => passed.push(e));
    expect(isConfigError(passed[0])).toBe(true);
    expect(String(passed[0])).toMatch(/@ratekeeper\/koa|Koa/);
  });
});

describe('longDuration (the ms package long form koa-ratelimit writes)', () => {
  it.each([
    [0, '0 ms'],
    [990, '990 ms'],
    [1000, '1 second'],
    [1499, '1 second'],
    [1500, '2 seconds'],
    [45_000, '45 seconds'],
    [60_000, '1 minute'],
    [89_999, '1 minute'],
    [90_000, '2 minutes'],
    [3_599_990, '60 minutes'],
    [3_600_000, '1 hour'],
    [86_400_000, '1 day'],
    [5 * 86_400_000, '5 days'],
    [-300, '-300 ms'],
  ])('%d ms → %s', (ms, text) => {
    expect(longDuration(ms)).toBe(text);
  });
});

// Type-level: the options and state types are exported from the entry point.
const typed: RatelimitOptions = { driver: 'memory', db: new Map(), max: 1, id: (ctx: Context) => ctx.ip };
void typed;
