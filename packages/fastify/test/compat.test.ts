// `@ratekeeper/fastify/compat` against @fastify/rate-limit 11's documented behaviour (its README and
// option reference), on ratekeeper's memory store. Time is `Date.now()`, moved by a manual clock.

import fastifyRateLimit, {
  type FastifyRateLimitStore,
  normalizeIP,
  type RateLimitOptions,
  type StoreCallback,
} from '@ratekeeper/fastify/compat';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { limitHeaders, manualClock, type Reply, send, statuses } from './compat/http';

let clock: ReturnType<typeof manualClock>;
const apps: FastifyInstance[] = [];

beforeEach(() => {
  clock = manualClock();
});
afterEach(async () => {
  clock.restore();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function app(options: FastifyServerOptions = {}): FastifyInstance {
  const a = Fastify(options);
  apps.push(a);
  return a;
}

const hello = async () => 'hello';

describe('module shape', () => {
  it('is the plugin (fastify-plugin, named @fastify/rate-limit) with .default, .fastifyRateLimit and .normalizeIP on it', () => {
    expect(typeof fastifyRateLimit).toBe('function');
    expect(fastifyRateLimit.default).toBe(fastifyRateLimit);
    expect(fastifyRateLimit.fastifyRateLimit).toBe(fastifyRateLimit);
    expect(fastifyRateLimit.normalizeIP).toBe(normalizeIP);
    const meta = fastifyRateLimit as unknown as Record<symbol, unknown>;
    expect(meta[Symbol.for('fastify.display-name')]).toBe('@fastify/rate-limit');
    expect(meta[Symbol.for('skip-override')]).toBe(true);
    expect(meta[Symbol.for('plugin-meta')]).toMatchObject({ fastify: '5.x' });
  });
});

describe('normalizeIP', () => {
  it('lower-cases non-IPv6, unmaps IPv4-mapped IPv6, masks IPv6 to the subnet (64 by default) in RFC 5952 form', () => {
    expect(normalizeIP('127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIP('Example.COM')).toBe('example.com');
    expect(normalizeIP('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(normalizeIP('::ffff:c000:0201')).toBe('192.0.2.1');
    expect(normalizeIP('2001:0DB8:ABCD:0012:0000:0000:0000:0001')).toBe('2001:db8:abcd:12::');
    expect(normalizeIP('2001:db8:abcd:12::1', 48)).toBe('2001:db8:abcd::');
    expect(normalizeIP('2001:db8:abcd:12::1', 128)).toBe('2001:db8:abcd:12::1');
    expect(normalizeIP('2001:db8:0:0:1:0:0:1', 128)).toBe('2001:db8::1:0:0:1');
  });

  it('keys IPv6 clients per /64 by default, per ipv6Subnet when given, and falls back to 64 for a bad one', async () => {
    const build = async (ipv6Subnet?: unknown) => {
      const a = app({ trustProxy: true });
      await a.register(fastifyRateLimit, { max: 1, timeWindow: 10_000, ...(ipv6Subnet === undefined ? {} : { ipv6Subnet }) } as object);
      a.get('/', hello);
      return a;
    };
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    const a = await build();
    expect((await send(a, '/', from('2001:db8:abcd:12::1'))).status).toBe(200);
    expect((await send(a, '/', from('2001:db8:abcd:12::2'))).status).toBe(429);
    expect((await send(a, '/', from('2001:db8:abcd:13::1'))).status).toBe(200);
    const wide = await build(48);
    expect((await send(wide, '/', from('2001:db8:abcd:12::1'))).status).toBe(200);
    expect((await send(wide, '/', from('2001:db8:abcd:13::1'))).status).toBe(429);
    const bad = await build(129);
    expect((await send(bad, '/', from('2001:db8:abcd:12::1'))).status).toBe(200);
    expect((await send(bad, '/', from('2001:db8:abcd:13::1'))).status).toBe(200);
  });
});

describe('the plugin-wide limit', () => {
  it('sends x-ratelimit-* on every request and answers over the limit with 429, Retry-After and the error body', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 1000 });
    a.get('/', hello);
    expect(limitHeaders(await send(a, '/'))).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '1' });
    expect(limitHeaders(await send(a, '/'))).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    const limited = await send(a, '/');
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(limitHeaders(limited)).toEqual({
      'x-ratelimit-limit': '2',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': '1',
      'retry-after': '1',
    });
    expect(limited.body).toEqual({ statusCode: 429, error: 'Too Many Requests', message: 'Rate limit exceeded, retry in 1 second' });
    clock.advance(1100);
    expect(limitHeaders(await send(a, '/'))).toMatchObject({ 'x-ratelimit-remaining': '1' });
  });

  it("counts in a window from the key's first request: x-ratelimit-reset counts down to it, and it lets max through again at its end", async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 3, timeWindow: 10_000 });
    a.get('/', hello);
    expect(limitHeaders(await send(a, '/'))).toMatchObject({ 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '10' });
    clock.advance(4_000);
    expect(limitHeaders(await send(a, '/'))).toMatchObject({ 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '6' });
    clock.advance(3_000);
    expect(limitHeaders(await send(a, '/'))).toMatchObject({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' });
    expect(limitHeaders(await send(a, '/'))).toMatchObject({ 'retry-after': '3' });
    // The window ends 10 s after the first request: all 3 pass again (a sliding count would free one).
    clock.advance(3_000);
    expect(await statuses(a, '/', 4)).toEqual([200, 200, 200, 429]);
  });

  it('defaults to 1000 requests a minute; a bad max or timeWindow falls back to those', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: Number.NaN, timeWindow: Number.NaN });
    a.get('/', hello);
    expect(limitHeaders(await send(a, '/'))).toEqual({
      'x-ratelimit-limit': '1000',
      'x-ratelimit-remaining': '999',
      'x-ratelimit-reset': '60',
    });
  });

  it('reads timeWindow as milliseconds, a duration string or a function of (request, key)', async () => {
    const seen: string[] = [];
    const a = app();
    await a.register(fastifyRateLimit, { global: false, max: 1 });
    a.get('/string', { config: { rateLimit: { timeWindow: '2 minutes' } } }, hello);
    a.get('/short', { config: { rateLimit: { timeWindow: '10s' } } }, hello);
    a.get(
      '/fn',
      {
        config: {
          rateLimit: {
            timeWindow: async (_req: FastifyRequest, key: string) => {
              seen.push(key);
              return 3000;
            },
          },
        },
      },
      hello,
    );
    a.get('/bad', { config: { rateLimit: { timeWindow: -5 } } }, hello);
    const retry = async (url: string) => {
      await send(a, url);
      const res = await send(a, url);
      return [res.headers['retry-after'], res.body.message];
    };
    expect(await retry('/string')).toEqual(['120', 'Rate limit exceeded, retry in 2 minutes']);
    expect(await retry('/short')).toEqual(['10', 'Rate limit exceeded, retry in 10 seconds']);
    expect(await retry('/fn')).toEqual(['3', 'Rate limit exceeded, retry in 3 seconds']);
    expect(seen).toEqual(['127.0.0.1', '127.0.0.1']);
    // A bad route timeWindow is one minute, not the plugin's.
    expect(await retry('/bad')).toEqual(['60', 'Rate limit exceeded, retry in 1 minute']);
  });

  it('takes max as a function of (request, key)', async () => {
    const a = app();
    await a.register(fastifyRateLimit, {
      keyGenerator: (req) => String(req.headers['api-key']),
      max: async (_req, key) => (key === 'pro' ? 3 : 2),
      timeWindow: 10_000,
    });
    a.get('/', hello);
    expect(await statuses(a, '/', 4, { 'api-key': 'pro' })).toEqual([200, 200, 200, 429]);
    expect(await statuses(a, '/', 3, { 'api-key': 'free' })).toEqual([200, 200, 429]);
  });

  it('counts one key across every route (the plugin-wide limit is per key, not per route)', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 10_000 });
    a.get('/a', hello);
    a.get('/b', hello);
    expect((await send(a, '/a')).status).toBe(200);
    expect((await send(a, '/b')).status).toBe(200);
    expect((await send(a, '/a')).status).toBe(429);
  });

  it('leaves 404s alone unless the not-found handler uses fastify.rateLimit()', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 10_000 });
    a.get('/', hello);
    expect(await statuses(a, '/missing', 2)).toEqual([404, 404]);
    const b = app();
    await b.register(fastifyRateLimit, { max: 1, timeWindow: 10_000 });
    b.setNotFoundHandler({ preHandler: b.rateLimit({ max: 2, timeWindow: 10_000 }) }, async (_req, reply) => reply.code(404).send('nope'));
    expect(await statuses(b, '/missing', 3)).toEqual([404, 404, 429]);
  });

  it('with global: false limits only routes whose config.rateLimit is an object, and sends no headers elsewhere', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false, max: 1, timeWindow: 10_000 });
    a.get('/free', hello);
    a.get('/limited', { config: { rateLimit: {} } }, hello);
    const free = await send(a, '/free');
    expect(limitHeaders(free)).toEqual({});
    expect(await statuses(a, '/free', 2)).toEqual([200, 200]);
    expect(await statuses(a, '/limited', 2)).toEqual([200, 429]);
  });

  it('limits routes declared before the plugin too (the original leaves them unlimited)', async () => {
    const a = app();
    a.get('/early', hello);
    a.get('/early-off', { config: { rateLimit: false } }, hello);
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 10_000 });
    expect(await statuses(a, '/early', 2)).toEqual([200, 429]);
    expect(limitHeaders(await send(a, '/early-off'))).toEqual({});
  });
});

describe('route config.rateLimit', () => {
  it('an object replaces the plugin-wide limit for the route (its own count), false turns limiting off', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 3, timeWindow: 10_000 });
    a.get('/strict', { config: { rateLimit: { max: 1 } } }, hello);
    a.get('/open', { config: { rateLimit: false } }, hello);
    a.get('/default', hello);
    expect(await statuses(a, '/strict', 2)).toEqual([200, 429]);
    // The route's requests did not count plugin-wide.
    expect(limitHeaders(await send(a, '/default'))).toMatchObject({ 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '2' });
    expect(limitHeaders(await send(a, '/open'))).toEqual({});
    expect(await statuses(a, '/open', 5)).toEqual([200, 200, 200, 200, 200]);
  });

  it('counts each configured route apart, and inherits the plugin options the route leaves out', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false, timeWindow: 6000 });
    const config = { config: { rateLimit: { max: 1 } } };
    a.get('/a', config, hello);
    a.get('/b', config, hello);
    const first = await send(a, '/a');
    expect(first.headers['x-ratelimit-reset']).toBe('6');
    expect(await statuses(a, '/a', 1)).toEqual([429]);
    expect(await statuses(a, '/b', 2)).toEqual([200, 429]);
  });

  it('throws when a route is registered with anything but an object or false', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 1000 });
    expect(() => a.get('/', { config: { rateLimit: () => {} } }, hello)).toThrow('Unknown value for route rate-limit configuration');
    expect(() => a.get('/t', { config: { rateLimit: true } }, hello)).toThrow('Unknown value for route rate-limit configuration');
  });

  it('groupId: routes with the same group id count together, under the key with the id appended; a non-string throws', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false, max: 2, timeWindow: 10_000 });
    const seen: string[] = [];
    const otp = { config: { rateLimit: { groupId: 'otp', onExceeding: (_r: FastifyRequest, key: string) => seen.push(key) } } };
    a.get('/otp/send', otp, hello);
    a.post('/otp/resend', otp, hello);
    a.get('/other', { config: { rateLimit: { groupId: 'other' } } }, hello);
    expect(() => a.get('/bad', { config: { rateLimit: { groupId: 42 } } }, hello)).toThrow('groupId must be a string');
    expect((await send(a, '/otp/send')).status).toBe(200);
    expect((await send(a, '/otp/resend', {}, 'post')).status).toBe(200);
    expect((await send(a, '/otp/send')).status).toBe(429);
    expect((await send(a, '/other')).status).toBe(200);
    expect(seen).toEqual(['127.0.0.1otp', '127.0.0.1otp']);
  });

  it('keeps the route own hooks and runs after them', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 10_000, keyGenerator: (req) => String((req as { who?: string }).who) });
    a.get(
      '/',
      {
        onRequest: async (req) => {
          (req as { who?: string }).who = String(req.headers['x-who']);
        },
      },
      hello,
    );
    expect(await statuses(a, '/', 2, { 'x-who': 'ann' })).toEqual([200, 429]);
    expect(await statuses(a, '/', 1, { 'x-who': 'bob' })).toEqual([200]);
  });

  it('hook: preHandler runs after the app hooks of that stage; a 429 stops the lifecycle before them otherwise', async () => {
    const a = app();
    await a.register(fastifyRateLimit, {
      max: 1,
      timeWindow: 10_000,
      hook: 'preHandler',
      keyGenerator: (req) => String((req as { userId?: string }).userId ?? req.ip),
    });
    a.addHook('preHandler', async (req) => {
      const user = (req.query as { user?: string }).user;
      if (user) (req as { userId?: string }).userId = user;
    });
    a.get('/', hello);
    expect(await statuses(a, '/?user=1', 2)).toEqual([200, 429]);
    expect(await statuses(a, '/?user=2', 1)).toEqual([200]);

    const b = app();
    const validated = jest.fn();
    await b.register(fastifyRateLimit, { max: 1, timeWindow: 10_000 });
    b.addHook('preValidation', async () => validated());
    b.get('/', hello);
    expect(await statuses(b, '/', 2)).toEqual([200, 429]);
    expect(validated).toHaveBeenCalledTimes(1);
  });

  it('counts a GET and its HEAD route apart, each request once', async () => {
    const a = app({ exposeHeadRoutes: true });
    await a.register(fastifyRateLimit, { global: false });
    a.get('/', { config: { rateLimit: { max: 2, timeWindow: 10_000 } } }, hello);
    expect((await send(a, '/')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await send(a, '/', {}, 'head')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await send(a, '/')).headers['x-ratelimit-remaining']).toBe('0');
  });

  it('two registrations at the root both apply', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 3, timeWindow: 10_000 });
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 10_000, keyGenerator: () => 'everyone' });
    a.get('/', hello);
    expect(await statuses(a, '/', 3)).toEqual([200, 200, 429]);
  });
});

describe('keys and allow lists', () => {
  it('keyGenerator may be async and return a number; allowList takes keys or a predicate of (request, key)', async () => {
    const a = app();
    const asked: string[] = [];
    await a.register(fastifyRateLimit, {
      max: 1,
      timeWindow: 10_000,
      keyGenerator: async (req) => String(req.headers['x-key']),
      allowList: async (_req, key) => {
        asked.push(key);
        return key === 'admin';
      },
    });
    a.get('/', hello);
    expect(await statuses(a, '/', 2, { 'x-key': 'a' })).toEqual([200, 429]);
    const admin = await send(a, '/', { 'x-key': 'admin' });
    expect(admin.status).toBe(200);
    expect(limitHeaders(admin)).toEqual({});
    expect(await statuses(a, '/', 3, { 'x-key': 'admin' })).toEqual([200, 200, 200]);
    expect(asked).toContain('admin');

    const b = app();
    await b.register(fastifyRateLimit, { max: 1, timeWindow: 10_000, allowList: ['127.0.0.1'] });
    b.get('/', hello);
    expect(await statuses(b, '/', 3)).toEqual([200, 200, 200]);
  });
});

describe('refusals', () => {
  it('ban: after max + ban requests the answer is 403 Forbidden and onBanReach is called', async () => {
    const onBanReach = jest.fn();
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, ban: 1, timeWindow: 1000, onBanReach });
    a.get('/', hello);
    expect(await statuses(a, '/', 2)).toEqual([200, 429]);
    const banned = await send(a, '/');
    expect(banned.status).toBe(403);
    expect(banned.body).toEqual({ statusCode: 403, error: 'Forbidden', message: 'Rate limit exceeded, retry in 1 second' });
    expect(limitHeaders(banned)).toMatchObject({ 'x-ratelimit-remaining': '0', 'retry-after': '1' });
    expect(onBanReach).toHaveBeenCalledTimes(1);
    expect(onBanReach.mock.calls[0]?.[1]).toBe('127.0.0.1');
    clock.advance(1100);
    expect((await send(a, '/')).status).toBe(200);
  });

  it('ban: 0 bans the first refusal', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, ban: 0, timeWindow: '1s' });
    a.get('/', hello);
    expect(await statuses(a, '/', 3)).toEqual([200, 200, 403]);
  });

  it('onExceeding on each request within the limit, onExceeded on each over it, with the key', async () => {
    const events: string[] = [];
    const a = app();
    await a.register(fastifyRateLimit, {
      max: 2,
      timeWindow: 10_000,
      onExceeding: (_req, key) => events.push(`ok ${key}`),
      onExceeded: (_req, key) => events.push(`over ${key}`),
    });
    a.get('/', hello);
    await statuses(a, '/', 4);
    expect(events).toEqual(['ok 127.0.0.1', 'ok 127.0.0.1', 'over 127.0.0.1', 'over 127.0.0.1']);
  });

  it('errorResponseBuilder: what it returns is thrown, and Fastify (or the app error handler) answers it', async () => {
    const a = app();
    await a.register(fastifyRateLimit, {
      max: 1,
      timeWindow: 1000,
      errorResponseBuilder: (_req, context) => ({ statusCode: 429, limit: context.max, timeWindow: context.after, ban: context.ban }),
    });
    a.get('/', hello);
    await send(a, '/');
    const res = await send(a, '/');
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ statusCode: 429, limit: 1, timeWindow: '1 second', ban: false });

    const b = app();
    await b.register(fastifyRateLimit, { max: 1, timeWindow: 1000 });
    b.setErrorHandler((error: Error & { statusCode?: number }, _req, reply) => {
      reply.code(error.statusCode ?? 500).send({ handled: error.message });
    });
    b.get('/', hello);
    await send(b, '/');
    const handled = await send(b, '/');
    expect(handled.status).toBe(429);
    expect(handled.body).toEqual({ handled: 'Rate limit exceeded, retry in 1 second' });
  });

  it('continueExceeding: every refused request restarts the window', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 5000, continueExceeding: true });
    a.get('/', hello);
    expect(await statuses(a, '/', 2)).toEqual([200, 429]);
    clock.advance(3000);
    const again = await send(a, '/');
    expect(again.status).toBe(429);
    expect(again.headers['x-ratelimit-reset']).toBe('5');
    clock.advance(3000);
    expect((await send(a, '/')).status).toBe(429);
    clock.advance(5000);
    expect((await send(a, '/')).status).toBe(200);
  });

  it('exponentialBackoff: the n-th refusal waits timeWindow × 2^(n−1)', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 500, exponentialBackoff: true });
    a.get('/', hello);
    expect(await statuses(a, '/', 2)).toEqual([200, 200]);
    const messages: string[] = [];
    for (let i = 0; i < 4; i++) messages.push((await send(a, '/')).body.message);
    expect(messages).toEqual([
      'Rate limit exceeded, retry in 1 second',
      'Rate limit exceeded, retry in 1 second',
      'Rate limit exceeded, retry in 2 seconds',
      'Rate limit exceeded, retry in 4 seconds',
    ]);
    clock.advance(3999);
    expect((await send(a, '/')).status).toBe(429);
    clock.advance(16_001);
    expect((await send(a, '/')).status).toBe(200);
  });
});

describe('headers', () => {
  it('enableDraftSpec names them ratelimit-limit, -remaining, -reset (retry-after unchanged)', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 1000, enableDraftSpec: true });
    a.get('/', hello);
    expect(limitHeaders(await send(a, '/'))).toEqual({ 'ratelimit-limit': '1', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' });
    expect(limitHeaders(await send(a, '/'))).toEqual({
      'ratelimit-limit': '1',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '1',
      'retry-after': '1',
    });
  });

  it('addHeadersOnExceeding and addHeaders turn single headers off, by name', async () => {
    const a = app();
    await a.register(fastifyRateLimit, {
      max: 1,
      timeWindow: 1000,
      addHeadersOnExceeding: { 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': false, 'retry-after': false },
    });
    a.get('/', hello);
    expect(limitHeaders(await send(a, '/'))).toEqual({ 'x-ratelimit-limit': '1', 'x-ratelimit-remaining': '0' });
    expect(limitHeaders(await send(a, '/'))).toEqual({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
  });
});

describe('decorators', () => {
  it('createRateLimit() checks and counts without answering; { increment: false } only reads', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false, max: 2, timeWindow: 1000 });
    const check = a.createRateLimit();
    const allowListed = a.createRateLimit({ allowList: ['127.0.0.1'] });
    a.get('/consume', async (req) => check(req));
    a.get('/peek', async (req) => check(req, { increment: false }));
    a.get('/allowed', async (req) => allowListed(req));
    const base = { isAllowed: false, key: '127.0.0.1', max: 2, timeWindow: 1000, isBanned: false };
    expect((await send(a, '/peek')).body).toEqual({ ...base, remaining: 2, ttl: 0, ttlInSeconds: 0, isExceeded: false });
    expect((await send(a, '/consume')).body).toEqual({ ...base, remaining: 1, ttl: 1000, ttlInSeconds: 1, isExceeded: false });
    expect((await send(a, '/peek')).body).toEqual({ ...base, remaining: 1, ttl: 1000, ttlInSeconds: 1, isExceeded: false });
    expect((await send(a, '/consume')).body).toMatchObject({ remaining: 0, isExceeded: false });
    expect((await send(a, '/consume')).body).toMatchObject({ remaining: 0, ttl: 1000, isExceeded: true });
    expect((await send(a, '/allowed')).body).toEqual({ isAllowed: true, key: '127.0.0.1' });
    clock.advance(1100);
    expect((await send(a, '/peek')).body).toEqual({ ...base, remaining: 2, ttl: 0, ttlInSeconds: 0, isExceeded: false });
  });

  it('createRateLimit(options) layers options over the plugin and reports bans', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false, max: 5, timeWindow: 1000 });
    const check = a.createRateLimit({ max: 1, ban: 0 });
    a.get('/', async (req) => check(req));
    expect((await send(a, '/')).body).toMatchObject({ max: 1, remaining: 0, isExceeded: false, isBanned: false });
    expect((await send(a, '/')).body).toMatchObject({ max: 1, remaining: 0, isExceeded: true, isBanned: true });
  });

  it('rateLimit(options) is a hook with its own count', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { global: false });
    a.get('/', { preHandler: a.rateLimit({ max: 1, timeWindow: '2 minutes', keyGenerator: () => 245 }) }, hello);
    await send(a, '/');
    const res = await send(a, '/');
    expect(res.status).toBe(429);
    expect(limitHeaders(res)).toMatchObject({ 'x-ratelimit-reset': '120', 'retry-after': '120' });
  });
});

describe('stores', () => {
  /** A store in @fastify/rate-limit's contract that counts per key, with a window that never ends. */
  function countingStore(log: string[]) {
    return class CountingStore implements FastifyRateLimitStore {
      readonly hits = new Map<string, number>();
      constructor(readonly options: { timeWindow?: unknown; max?: unknown }) {
        log.push(`new timeWindow=${String(options.timeWindow)} max=${String(options.max)}`);
      }
      incr(key: string, cb: StoreCallback, timeWindow: number, max: number): void {
        const current = (this.hits.get(key) ?? 0) + 1;
        this.hits.set(key, current);
        log.push(`incr ${key} ${timeWindow} ${max}`);
        cb(null, { current, ttl: timeWindow - current * 1000 });
      }
      read(key: string, cb: StoreCallback): void {
        cb(null, { current: this.hits.get(key) ?? 0, ttl: 0 });
      }
      child(routeOptions: RateLimitOptions & { routeInfo: object }): FastifyRateLimitStore {
        log.push(`child ${String((routeOptions.routeInfo as { url?: string }).url)}`);
        return new CountingStore(routeOptions);
      }
    };
  }

  it('store: constructed with the resolved options, incr(key, cb, timeWindow, max) per request, child() per route', async () => {
    const log: string[] = [];
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 10_000, store: countingStore(log) });
    a.get('/', hello);
    a.get('/route', { config: { rateLimit: { max: 3 } } }, hello);
    const r = await Promise.all([send(a, '/'), send(a, '/route')]);
    expect(r.map((x) => x.status)).toEqual([200, 200]);
    const res = [await send(a, '/'), await send(a, '/')];
    expect(limitHeaders(res[0] as Reply)).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '8' });
    expect(res[1]?.status).toBe(429);
    expect(limitHeaders(res[1] as Reply)).toMatchObject({ 'x-ratelimit-reset': '7', 'retry-after': '7' });
    expect(log).toEqual(
      expect.arrayContaining(['new timeWindow=10000 max=2', 'child /route', 'incr 127.0.0.1 10000 2', 'incr 127.0.0.1 10000 3']),
    );
  });

  it('a store error answers 500 with its message, or with skipOnError lets the request through with the full quota', async () => {
    class Failing implements FastifyRateLimitStore {
      incr(_key: string, cb: StoreCallback): void {
        cb(new Error('store is down'));
      }
      child(): FastifyRateLimitStore {
        return this;
      }
    }
    const a = app();
    await a.register(fastifyRateLimit, { max: 2, timeWindow: 1000, store: Failing });
    a.get('/', hello);
    const res = await send(a, '/');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'store is down' });
    expect((await send(a, '/')).body.message).toBe('store is down');

    const b = app();
    await b.register(fastifyRateLimit, { max: 2, timeWindow: 1000, store: Failing, skipOnError: true });
    b.get('/', hello);
    const skipped = await send(b, '/');
    expect(skipped.status).toBe(200);
    expect(limitHeaders(skipped)).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '0' });
  });

  it('{ increment: false } on a custom store without read() throws a clear error', async () => {
    class NoRead implements FastifyRateLimitStore {
      incr(_key: string, cb: StoreCallback, timeWindow: number): void {
        cb(null, { current: 1, ttl: timeWindow });
      }
      child(): FastifyRateLimitStore {
        return this;
      }
    }
    const a = app();
    await a.register(fastifyRateLimit, { global: false, store: NoRead });
    const check = a.createRateLimit();
    a.get('/', async (req) => check(req, { increment: false }));
    const res = await send(a, '/');
    expect(res.status).toBe(500);
    expect(res.body.message).toContain('`read`');
  });

  it('cache bounds the in-memory store; a bad cache fails registration', async () => {
    const a = app();
    await a.register(fastifyRateLimit, { max: 1, timeWindow: 10_000, cache: 1, keyGenerator: (req) => String(req.headers['x-key']) });
    a.get('/', hello);
    expect(await statuses(a, '/', 2, { 'x-key': 'a' })).toEqual([200, 429]);
    const b = app();
    await expect(b.register(fastifyRateLimit, { cache: -1 })).rejects.toThrow('Invalid max value');
  });
});
