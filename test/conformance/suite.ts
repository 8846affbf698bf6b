import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { adaptiveLoad, type BoundStore, CHANNELS, type DecisionEvent, MemoryStore, type Store } from '@ratekeeper/core';
import supertest from 'supertest';
import type { AppSetup, Harness, HasHeaders, RunningApp, SuiteOptions } from './harness';
import { Thenable } from './thenable';

/** An hour boundary, so window resets are round numbers in the expectations. */
const T0 = 1_699_999_200_000;
const RATE_HEADERS = [
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'ratelimit-policy',
  'ratelimit',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'retry-after',
];

/** The rate-limit headers of a response, nothing else. */
function rateHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const h of RATE_HEADERS) if (headers[h] !== undefined) out[h] = headers[h];
  return out;
}

/** The `x-user` header of a request, for `key` and `user` functions. */
const userHeader = (req: { headers: Record<string, unknown> }): string | undefined => req.headers['x-user'] as string | undefined;
const ONE_PER_MINUTE = [{ limit: 1, window: '1m' }] as const;

/**
 * Each option that takes a function, returning a thenable that is not a native promise (as
 * Bluebird or a query builder would), in a limiter of one request per minute.
 */
const THENABLE_OPTIONS: Array<[option: string, options: (value: <T>(v: T) => PromiseLike<T>) => SuiteOptions]> = [
  ['key', (later) => ({ limit: 1, window: '1m', key: (req) => later(userHeader(req) ?? '') })],
  ['user', (later) => ({ limit: 1, window: '1m', key: 'user', user: (req) => later(userHeader(req)) })],
  ['rules', (later) => ({ rules: () => later([...ONE_PER_MINUTE]) })],
  ['skip', (later) => ({ limit: 1, window: '1m', skip: () => later(false) })],
  ['message', (later) => ({ limit: 1, window: '1m', message: () => later('slow down') })],
];

/** A store whose every call fails, to drive `onStoreError`. */
class BrokenStore implements Store {
  bind(): BoundStore {
    const fail = (): never => {
      throw new Error('connection refused');
    };
    return { consume: fail, peek: fail, refund: fail, reset: fail };
  }
}

/** Options of {@link conformance}. */
export interface ConformanceOptions {
  /** Store for every limiter that does not name one (each test gets a fresh prefix). @default a MemoryStore per limiter */
  store?: () => Store;
  /** Appended to the suite's name. */
  label?: string;
  /**
   * Whether the framework has a trust-proxy setting to warn about. The Fetch adapters do not: the
   * address comes from the connection or a resolver the user chose, so no header is ever read
   * for it and nothing is warned. @default true
   */
  proxyWarnings?: boolean;
}

let prefixSeq = 0;

/**
 * The HTTP behaviour every adapter must share, run over real HTTP. Each test builds its own app
 * (and so its own limiter and store) and drives time through an injected clock.
 */
export function conformance(harness: Harness, options: ConformanceOptions = {}): void {
  describe(`${harness.name} conformance${options.label ? ` (${options.label})` : ''}`, () => {
    let app: RunningApp | undefined;
    let t = T0;
    const now = (): number => t;

    beforeEach(() => {
      t = T0;
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    async function start(setup: AppSetup): Promise<ReturnType<typeof supertest>> {
      const makeStore = options.store;
      if (makeStore !== undefined) {
        // A fresh prefix per app: a shared store must not carry counts from one test to the next.
        const prefix = `conf:${process.pid}:${++prefixSeq}:`;
        setup = {
          ...setup,
          limiters: setup.limiters.map((o) => (o.store === undefined ? { timeoutMs: 30_000, ...o, store: makeStore(), prefix } : o)),
        };
      }
      app = await harness.start(setup);
      return supertest(app.url);
    }

    /** Requests `/ok` n times and returns the statuses. */
    async function statuses(http: ReturnType<typeof supertest>, n: number, path = '/ok', ip = '203.0.113.1'): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await http.get(path).set('X-Forwarded-For', ip)).status);
      return out;
    }

    it('allows up to the limit, then answers 429 with the default body', async () => {
      const http = await start({ limiters: [{ limit: 3, window: '1m', now }] });
      expect(await statuses(http, 3)).toEqual([200, 200, 200]);
      const res = await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
      expect(res.status).toBe(429);
      expect(res.text).toBe('Too many requests, please try again later.');
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      // Another client is unaffected.
      expect((await http.get('/ok').set('X-Forwarded-For', '203.0.113.2')).status).toBe(200);
    });

    it('sends legacy and draft-8 headers by default, byte-exact, and Retry-After only on 429', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now }] });
      t = T0 + 15_000;
      const first = await http.get('/ok');
      expect(rateHeaders(first.headers)).toEqual({
        'x-ratelimit-limit': '2',
        'x-ratelimit-remaining': '1',
        'x-ratelimit-reset': '1699999260',
        'ratelimit-policy': '"2-in-1min";q=2;w=60',
        ratelimit: '"2-in-1min";r=1;t=45',
      });
      t = T0 + 20_500;
      const second = await http.get('/ok');
      expect(rateHeaders(second.headers)).toEqual({
        'x-ratelimit-limit': '2',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '1699999260',
        'ratelimit-policy': '"2-in-1min";q=2;w=60',
        ratelimit: '"2-in-1min";r=0;t=40',
      });
      const third = await http.get('/ok');
      expect(third.status).toBe(429);
      // Sliding window: both requests sit in this window, so one more fits only once half of the
      // next window has passed and their weight dropped to one (69.5 s, rounded up).
      expect(rateHeaders(third.headers)).toEqual({
        'x-ratelimit-limit': '2',
        'x-ratelimit-remaining': '0',
        // On a denial no reset field comes before Retry-After: a client waiting for "reset" is not
        // refused again (the window's end, 1699999260, would be 30 s too early).
        'x-ratelimit-reset': '1699999291',
        'ratelimit-policy': '"2-in-1min";q=2;w=60',
        ratelimit: '"2-in-1min";r=0;t=70',
        'retry-after': '70',
      });
      expect(Number(third.headers['x-ratelimit-reset']) * 1000).toBeGreaterThanOrEqual(t + 70_000);
    });

    it('sends draft-6 headers byte-exact', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now, headers: 'draft-6' }] });
      t = T0 + 15_000;
      expect(rateHeaders((await http.get('/ok')).headers)).toEqual({
        'ratelimit-policy': '2;w=60',
        'ratelimit-limit': '2',
        'ratelimit-remaining': '1',
        'ratelimit-reset': '45',
      });
      await http.get('/ok');
      const limited = await http.get('/ok');
      expect(limited.status).toBe(429);
      expect(rateHeaders(limited.headers)).toEqual({
        'ratelimit-policy': '2;w=60',
        'ratelimit-limit': '2',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '75',
        'retry-after': '75',
      });
    });

    it('sends draft-7 headers byte-exact', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now, headers: ['draft-7'] }] });
      t = T0 + 15_000;
      expect(rateHeaders((await http.get('/ok')).headers)).toEqual({
        'ratelimit-policy': '2;w=60',
        ratelimit: 'limit=2, remaining=1, reset=45',
      });
      await http.get('/ok');
      const limited = await http.get('/ok');
      expect(limited.status).toBe(429);
      expect(rateHeaders(limited.headers)).toEqual({
        'ratelimit-policy': '2;w=60',
        ratelimit: 'limit=2, remaining=0, reset=75',
        'retry-after': '75',
      });
    });

    it('sends every rule in draft-8, and nothing with headers: false', async () => {
      const rules = [
        { limit: 2, window: '1s', name: 'burst' },
        { limit: 5, window: '1h', name: 'hourly' },
      ] as const;
      let http = await start({ limiters: [{ rules: [...rules], now, headers: 'draft-8' }] });
      expect(rateHeaders((await http.get('/ok')).headers)).toEqual({
        'ratelimit-policy': '"burst";q=2;w=1, "hourly";q=5;w=3600',
        ratelimit: '"burst";r=1;t=1, "hourly";r=4;t=3600',
      });
      await app?.close();
      http = await start({ limiters: [{ limit: 1, window: '1m', now, headers: false }] });
      expect(rateHeaders((await http.get('/ok')).headers)).toEqual({});
      const limited = await http.get('/ok');
      expect(limited.status).toBe(429);
      expect(rateHeaders(limited.headers)).toEqual({});
    });

    it('does not count 5xx responses and counts 4xx', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now }] });
      expect(await statuses(http, 4, '/fail')).toEqual([500, 500, 500, 500]);
      expect(await statuses(http, 3, '/bad')).toEqual([400, 400, 429]);
    });

    it('honours countResponse', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now, countResponse: (status) => status < 400 }] });
      expect(await statuses(http, 3, '/bad')).toEqual([400, 400, 400]);
      expect(await statuses(http, 3)).toEqual([200, 200, 429]);
    });

    it('refunds a rejected response exactly once when the client aborts', async () => {
      const http = await start({ limiters: [{ limit: 3, window: '1m', now }] });
      expect(await statuses(http, 1)).toEqual([200]);
      const running = app as RunningApp;
      const closed = running.abortClosed();
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${running.url}/abort`, { headers: { 'X-Forwarded-For': '203.0.113.1' } }, (res) => {
          expect(res.statusCode).toBe(503);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', reject);
        req.end();
      });
      await closed;
      // 1 counted, the aborted 503 refunded once: two more fit, the third does not.
      expect(await statuses(http, 3)).toEqual([200, 200, 429]);
    });

    it('skips requests for which skip() is true, and allow-listed addresses', async () => {
      const http = await start({
        limiters: [
          {
            limit: 1,
            window: '1m',
            now,
            skip: (req) => req.headers['x-internal'] === '1',
            allowList: ['198.51.100.7', '2001:db8:ff::/48'],
          },
        ],
      });
      for (let i = 0; i < 3; i++) {
        const res = await http.get('/ok').set('X-Forwarded-For', '203.0.113.1').set('x-internal', '1');
        expect(res.status).toBe(200);
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
      }
      expect(await statuses(http, 3, '/ok', '198.51.100.7')).toEqual([200, 200, 200]);
      expect(await statuses(http, 3, '/ok', '::ffff:198.51.100.7')).toEqual([200, 200, 200]);
      expect(await statuses(http, 3, '/ok', '2001:db8:ff:1::9')).toEqual([200, 200, 200]);
      expect(await statuses(http, 2, '/ok', '203.0.113.1')).toEqual([200, 429]);
    });

    it('keys by user, falling back to the address for anonymous requests', async () => {
      const http = await start({
        limiters: [{ limit: 1, window: '1m', now, key: 'user', user: (req) => req.headers['x-user'] as string | undefined }],
      });
      const as = (user: string | undefined, ip: string) => {
        const r = http.get('/ok').set('X-Forwarded-For', ip);
        return (user === undefined ? r : r.set('x-user', user)).then((res) => res.status);
      };
      expect(await as('alice', '203.0.113.1')).toBe(200);
      expect(await as('alice', '203.0.113.2')).toBe(429);
      expect(await as('bob', '203.0.113.1')).toBe(200);
      expect(await as(undefined, '203.0.113.1')).toBe(200);
      expect(await as(undefined, '203.0.113.1')).toBe(429);
      expect(await as(undefined, '203.0.113.3')).toBe(200);
    });

    /** Requests `/ok` as `user` (the `x-user` header) from `ip`; the status and body. */
    async function visit(http: ReturnType<typeof supertest>, user: string, ip: string): Promise<[number, string]> {
      const res = await http.get('/ok').set('X-Forwarded-For', ip).set('x-user', user);
      return [res.status, res.text];
    }

    it.each(THENABLE_OPTIONS)('counts requests when %s returns a thenable that is not a Promise', async (option, options) => {
      const http = await start({ limiters: [{ ...options(Thenable.resolve), now }] });
      const limited = option === 'message' ? 'slow down' : 'Too many requests, please try again later.';
      // alice and bob come from different addresses: a different bucket whether the key is the user or the address.
      expect(await visit(http, 'alice', '203.0.113.1')).toEqual([200, 'ok']);
      expect(await visit(http, 'alice', '203.0.113.1')).toEqual([429, limited]);
      expect(await visit(http, 'alice', '203.0.113.1')).toEqual([429, limited]);
      expect(await visit(http, 'bob', '203.0.113.2')).toEqual([200, 'ok']);
    });

    it.each(THENABLE_OPTIONS)('takes the error path when the thenable %s returns rejects', async (option, options) => {
      const http = await start({ limiters: [{ ...options(() => Thenable.reject(new Error('lookup failed'))), now }] });
      // `message` only runs for a limited request: the first one passes.
      if (option === 'message') expect(await visit(http, 'alice', '203.0.113.1')).toEqual([200, 'ok']);
      expect(await visit(http, 'alice', '203.0.113.1')).toEqual([500, 'error: lookup failed']);
      expect(await visit(http, 'alice', '203.0.113.1')).toEqual([500, 'error: lookup failed']);
    });

    // Only a non-empty string is a user id: `u:null` or `u:42` would put unrelated clients in one bucket.
    it.each<[string, () => unknown]>([
      ['null', () => null],
      ['an object', () => ({})],
      ['a number', () => 42],
      ["''", () => ''],
      ['undefined', () => undefined],
      ['a thenable of null', () => Thenable.resolve(null)],
    ])('keys by address when user() returns %s', async (_label, user) => {
      // A wrong type on purpose: JavaScript callers and loosely typed user objects can return anything.
      const http = await start({ limiters: [{ limit: 1, window: '1m', now, key: 'user', user: user as never }] });
      expect(await statuses(http, 2, '/ok', '203.0.113.1')).toEqual([200, 429]);
      expect(await statuses(http, 2, '/ok', '203.0.113.2')).toEqual([200, 429]);
    });

    it('keys by route pattern: distinct raw paths share one bucket and add no keys', async () => {
      const store = new MemoryStore();
      const http = await start({ mode: 'route', limiters: [{ limit: 3, window: '1m', now, key: 'route', store }] });
      const codes: number[] = [];
      for (let i = 0; i < 5; i++)
        codes.push((await http.get(`/users/${i}-${'x'.repeat(i)}`).set('X-Forwarded-For', `203.0.113.${i}`)).status);
      expect(codes).toEqual([200, 200, 200, 429, 429]);
      expect(store.size).toBe(1);
      // Another route is another bucket.
      expect(await statuses(http, 1)).toEqual([200]);
      expect(store.size).toBe(2);
    });

    it('combines key parts: per address per route', async () => {
      const http = await start({ mode: 'route', limiters: [{ limit: 1, window: '1m', now, key: ['ip', 'route'] }] });
      expect(await statuses(http, 2, '/users/1')).toEqual([200, 429]);
      expect(await statuses(http, 1, '/users/2', '203.0.113.9')).toEqual([200]);
      expect(await statuses(http, 1, '/ok')).toEqual([200]);
    });

    it('chooses rules per request: tiered plans from the authenticated plan', async () => {
      const free = [{ limit: 5, window: '1m', name: 'free' }] as const;
      const pro = [{ limit: 50, window: '1m', name: 'pro' }] as const;
      const plans = { free: [...free], pro: [...pro] };
      const http = await start({
        limiters: [{ now, rules: (req) => (req.headers['x-plan'] === 'pro' ? plans.pro : plans.free) }],
      });
      const run = async (token: string | undefined, ip: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) {
          const r = http.get('/ok').set('X-Forwarded-For', ip);
          out.push((await (token ? r.set('Authorization', `Bearer ${token}`) : r)).status);
        }
        return out;
      };
      expect(await run(undefined, '203.0.113.1', 6)).toEqual([200, 200, 200, 200, 200, 429]);
      const proCodes = await run('pro', '203.0.113.2', 51);
      expect(proCodes.filter((c) => c === 200)).toHaveLength(50);
      expect(proCodes[50]).toBe(429);
      const res = await http.get('/ok').set('X-Forwarded-For', '203.0.113.3').set('Authorization', 'Bearer pro');
      expect(res.headers['ratelimit-policy']).toBe('"pro";q=50;w=60');
    });

    it('applies two rules all-or-nothing', async () => {
      const http = await start({
        limiters: [
          {
            now,
            rules: [
              { limit: 2, window: '1s', name: 'burst', algorithm: 'fixed-window' },
              { limit: 3, window: '1m', name: 'minute', algorithm: 'fixed-window' },
            ],
          },
        ],
      });
      expect(await statuses(http, 3)).toEqual([200, 200, 429]);
      t += 1000;
      // The burst rule has room again, the minute rule has one left; the denied request above took nothing.
      const res = await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
      expect(res.status).toBe(200);
      expect(res.headers.ratelimit).toBe('"burst";r=1;t=1, "minute";r=0;t=59');
      const limited = await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
      expect(limited.status).toBe(429);
      expect(limited.headers['retry-after']).toBe('59');
    });

    it('dryRun counts and reports but never blocks', async () => {
      const limited: number[] = [];
      const http = await start({
        limiters: [{ limit: 1, window: '1m', now, dryRun: true, onLimited: (_req, d) => limited.push(d.remaining) }],
      });
      const res = await http.get('/ok');
      expect(res.status).toBe(200);
      const over = await http.get('/ok');
      expect(over.status).toBe(200);
      expect(over.headers['x-ratelimit-remaining']).toBe('0');
      expect(over.headers['retry-after']).toBeUndefined();
      expect(limited).toEqual([0]);
    });

    it('sends a custom message and status', async () => {
      let http = await start({ limiters: [{ limit: 1, window: '1m', now, statusCode: 503, message: { error: 'slow down' } }] });
      await http.get('/ok');
      let res = await http.get('/ok');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.body).toEqual({ error: 'slow down' });
      expect(res.headers['retry-after']).toBe('120');
      await app?.close();
      http = await start({
        limiters: [{ limit: 1, window: '1m', now, message: async (_req, d) => `wait ${Math.ceil(d.retryAfterMs / 1000)}s` }],
      });
      await http.get('/ok');
      res = await http.get('/ok');
      expect(res.status).toBe(429);
      expect(res.text).toBe('wait 120s');
    });

    it('limits IPv6 clients per /56 and unmaps IPv4-mapped addresses', async () => {
      const http = await start({ limiters: [{ limit: 2, window: '1m', now }] });
      expect(await statuses(http, 1, '/ok', '2001:db8:0:100::1')).toEqual([200]);
      expect(await statuses(http, 2, '/ok', '2001:db8:0:1ff:ffff::9')).toEqual([200, 429]);
      expect(await statuses(http, 1, '/ok', '2001:db8:0:200::1')).toEqual([200]);
      expect(await statuses(http, 1, '/ok', '198.51.100.1')).toEqual([200]);
      expect(await statuses(http, 2, '/ok', '::ffff:198.51.100.1')).toEqual([200, 429]);
    });

    it('limits per IPv6 address with ipv6Subnet: false', async () => {
      const http = await start({ limiters: [{ limit: 1, window: '1m', now, ipv6Subnet: false }] });
      expect(await statuses(http, 1, '/ok', '2001:db8::1')).toEqual([200]);
      expect(await statuses(http, 1, '/ok', '2001:db8::2')).toEqual([200]);
      expect(await statuses(http, 1, '/ok', '2001:0db8:0:0::1')).toEqual([429]);
    });

    it('lists every limiter in one RateLimit-Policy / RateLimit header', async () => {
      const store = new MemoryStore();
      const http = await start({
        limiters: [
          { limit: 10, window: '1m', name: 'api', now, store, headers: 'draft-8' },
          { limit: 100, window: '1h', name: 'hourly', now, store, headers: 'draft-8' },
        ],
      });
      const res = await http.get('/ok');
      expect(res.headers['ratelimit-policy']).toBe('"api";q=10;w=60, "hourly";q=100;w=3600');
      expect(res.headers.ratelimit).toBe('"api";r=9;t=60, "hourly";r=99;t=3600');
    });

    if (options.proxyWarnings !== false) {
      it('warns once per limiter when X-Forwarded-For arrives but proxies are not trusted', async () => {
        const warnings: string[] = [];
        const logger = { warn: (m: string) => warnings.push(m) };
        const http = await start({ trustProxy: false, limiters: [{ limit: 10, window: '1m', now, logger }] });
        await http.get('/ok');
        expect(warnings).toHaveLength(0);
        await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
        await http.get('/ok').set('X-Forwarded-For', '203.0.113.2');
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/X-Forwarded-For/);
        // Without trust, the proxy header does not pick the bucket: all three shared 127.0.0.1.
        expect((await http.get('/ok')).headers['x-ratelimit-remaining']).toBe('6');
      });
    } else {
      it('never warns about proxy headers, and the address comes from the connection', async () => {
        const warnings: string[] = [];
        const http = await start({
          trustProxy: false,
          limiters: [{ limit: 10, window: '1m', now, logger: { warn: (m) => warnings.push(m) } }],
        });
        await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
        await http.get('/ok').set('Forwarded', 'for=203.0.113.2');
        expect(warnings).toEqual([]);
        // Both shared the connection's address (127.0.0.1): the headers did not pick the bucket.
        expect((await http.get('/ok')).headers['x-ratelimit-remaining']).toBe('7');
      });
    }

    it('does not warn when proxies are trusted', async () => {
      const warnings: string[] = [];
      const http = await start({ limiters: [{ limit: 10, window: '1m', now, logger: { warn: (m) => warnings.push(m) } }] });
      await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
      expect(warnings).toEqual([]);
    });

    it('applies onStoreError when the store fails: allow passes, deny refuses', async () => {
      const errors: unknown[] = [];
      let http = await start({
        limiters: [{ limit: 1, window: '1m', now, store: new BrokenStore(), onError: (e) => errors.push(e) }],
      });
      expect(await statuses(http, 3)).toEqual([200, 200, 200]);
      expect(errors.length).toBeGreaterThan(0);
      await app?.close();
      http = await start({
        limiters: [{ limit: 1, window: '1m', now, store: new BrokenStore(), onStoreError: 'deny', onError: () => {} }],
      });
      const res = await http.get('/ok');
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
    });

    it('`name` labels the limiter of every decision on ratekeeper:decision, beside fixed rules or a rules function', async () => {
      const events: DecisionEvent[] = [];
      const listener = (m: unknown) => events.push(m as DecisionEvent);
      subscribe(CHANNELS.decision, listener);
      try {
        const http = await start({
          limiters: [
            { now, name: 'fixed', rules: [{ limit: 1, window: '1m', name: 'per-minute' }] },
            { now, name: 'by-plan', rules: () => [{ limit: 5, window: '1h', name: 'hourly' }] },
          ],
        });
        expect(await statuses(http, 2)).toEqual([200, 429]);
      } finally {
        unsubscribe(CHANNELS.decision, listener);
      }
      const seen = events.map((e) => [e.limiter, e.rule, e.outcome]);
      expect(seen).toContainEqual(['fixed', 'per-minute', 'allowed']);
      expect(seen).toContainEqual(['fixed', 'per-minute', 'limited']);
      expect(seen).toContainEqual(['by-plan', 'hourly', 'allowed']);
    });

    it('without onError, a store outage is warned once through the `logger` option, not as a process warning', async () => {
      const warnings: string[] = [];
      const processWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
      try {
        const http = await start({
          limiters: [{ limit: 1, window: '1m', now, store: new BrokenStore(), logger: { warn: (m) => warnings.push(m) } }],
        });
        expect(await statuses(http, 3)).toEqual([200, 200, 200]);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/connection refused.*onStoreError/);
        expect(processWarning).not.toHaveBeenCalled();
      } finally {
        processWarning.mockRestore();
      }
    });

    /** One GET of `path` from 203.0.113.1 with extra request headers. */
    function getWith(http: ReturnType<typeof supertest>, path: string, headers: Record<string, string> = {}) {
      return http.get(path).set('X-Forwarded-For', '203.0.113.1').set(headers);
    }

    describe('stacked limiters (app-wide + route)', () => {
      it('counts in every limiter: allowed responses show the tightest, draft-8 lists both; a 429 describes its limiter only', async () => {
        const http = await start({
          mode: 'app+route',
          limiters: [
            { limit: 10, window: '1m', name: 'app', now },
            { limit: 2, window: '1s', name: 'route', now },
          ],
        });
        const first = await getWith(http, '/ok');
        expect(first.status).toBe(200);
        expect(rateHeaders(first.headers)).toEqual({
          // The single-valued legacy family shows the most restrictive limiter: the route's.
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '1',
          'x-ratelimit-reset': '1699999201',
          'ratelimit-policy': '"app";q=10;w=60, "route";q=2;w=1',
          ratelimit: '"app";r=9;t=60, "route";r=1;t=1',
        });
        expect((await getWith(http, '/ok')).status).toBe(200);
        const denied = await getWith(http, '/ok');
        expect(denied.status).toBe(429);
        // Only the route limiter, which denied: nothing of the app-wide limiter's headers remains.
        expect(rateHeaders(denied.headers)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999202',
          'ratelimit-policy': '"route";q=2;w=1',
          ratelimit: '"route";r=0;t=2',
          'retry-after': '2',
        });
        expect(denied.headers.ratelimit).not.toMatch(/"app"/);
        // Waiting as told lets the next request through (the route's sliding window needs 1.5 s, not 1 s).
        t += Number(denied.headers['retry-after']) * 1000;
        const later = await getWith(http, '/ok');
        expect(later.status).toBe(200);
        // All four requests counted app-wide, the one the route denied included.
        expect(later.headers.ratelimit).toBe('"app";r=6;t=58, "route";r=1;t=1');
        expect(later.headers['x-ratelimit-limit']).toBe('2');
      });

      it("keeps the app's draft-8 list next to a route's draft-7 form; the route's 429 carries its draft-7 headers only", async () => {
        const http = await start({
          mode: 'app+route',
          limiters: [
            { limit: 10, window: '1m', name: 'app', now },
            { limit: 2, window: '1s', name: 'route', now, headers: 'draft-7' },
          ],
        });
        const first = await getWith(http, '/ok');
        expect(first.status).toBe(200);
        // Draft-7 would overwrite `RateLimit` and `RateLimit-Policy`: the app's draft-8 lists stay.
        expect(rateHeaders(first.headers)).toEqual({
          'x-ratelimit-limit': '10',
          'x-ratelimit-remaining': '9',
          'x-ratelimit-reset': '1699999260',
          'ratelimit-policy': '"app";q=10;w=60',
          ratelimit: '"app";r=9;t=60',
        });
        expect((await getWith(http, '/ok')).status).toBe(200);
        const denied = await getWith(http, '/ok');
        expect(denied.status).toBe(429);
        expect(rateHeaders(denied.headers)).toEqual({
          'ratelimit-policy': '2;w=1',
          ratelimit: 'limit=2, remaining=0, reset=2',
          'retry-after': '2',
        });
      });
    });

    describe('cost', () => {
      it.each(['app', 'route'] as const)('takes `cost` units per request (%s)', async (mode) => {
        // In route mode Fastify takes it as `config.rateLimit.cost`.
        const http = await start({ mode, limiters: [{ limit: 5, window: '1m', now, cost: 2 }] });
        const seen: Array<[number, unknown]> = [];
        for (let i = 0; i < 3; i++) {
          const res = await getWith(http, '/ok');
          seen.push([res.status, res.headers['x-ratelimit-remaining']]);
        }
        expect(seen.slice(0, 2)).toEqual([
          [200, '3'],
          [200, '1'],
        ]);
        // One unit is left, the request takes two.
        expect(seen[2]?.[0]).toBe(429);
        expect(seen[2]?.[1]).toBe('1');
      });

      it('gives back all the units of a request whose response does not count', async () => {
        const http = await start({ limiters: [{ limit: 4, window: '1m', now, cost: 2 }] });
        // Each 500 took 2 units and got both back when its response closed.
        expect(await statuses(http, 3, '/fail')).toEqual([500, 500, 500]);
        expect(await statuses(http, 3)).toEqual([200, 200, 429]);
      });

      const byHeader = (req: HasHeaders): number => Number(req.headers['x-cost']);
      it.each<[string, (req: HasHeaders) => number | PromiseLike<number>]>([
        ['a function of the request', byHeader],
        ['an async function of the request', async (req) => byHeader(req)],
        ['a thenable that a function of the request returns', (req) => Thenable.resolve(byHeader(req))],
      ])('takes the cost from %s', async (_label, cost) => {
        const http = await start({ limiters: [{ limit: 5, window: '1m', now, cost }] });
        const send = async (units: number): Promise<[number, unknown]> => {
          const res = await getWith(http, '/ok', { 'x-cost': String(units) });
          return [res.status, res.headers['x-ratelimit-remaining']];
        };
        expect(await send(3)).toEqual([200, '2']);
        expect(await send(3)).toEqual([429, '2']);
        expect(await send(2)).toEqual([200, '0']);
        expect((await send(1))[0]).toBe(429);
      });

      it('answers a cost above capacity 429 without Retry-After (it can never pass) and takes nothing', async () => {
        const http = await start({ limiters: [{ limit: 5, window: '1m', now, cost: byHeader }] });
        for (let i = 0; i < 2; i++) {
          const res = await getWith(http, '/ok', { 'x-cost': '6' });
          expect(res.status).toBe(429);
          expect(res.headers['retry-after']).toBeUndefined();
          // No `t` either: there is no honest number of seconds to wait.
          expect(res.headers.ratelimit).toBe('"5-in-1min";r=5');
        }
        const fits = await getWith(http, '/ok', { 'x-cost': '5' });
        expect(fits.status).toBe(200);
        expect(fits.headers['x-ratelimit-remaining']).toBe('0');
      });

      it.each<[string, (req: HasHeaders) => unknown]>([
        ['0', () => 0],
        ['-1', () => -1],
        ["'x'", () => 'x'],
        ['1.5', () => 1.5],
        ['a promise of 0', async () => 0],
        ["a thenable of 'x'", () => Thenable.resolve('x')],
      ])('takes the error path when the cost function returns %s, never an uncounted pass', async (_label, cost) => {
        // A wrong type on purpose: JavaScript callers can return anything.
        const http = await start({ limiters: [{ limit: 5, window: '1m', now, cost: cost as never }] });
        for (let i = 0; i < 2; i++) {
          const res = await getWith(http, '/ok');
          expect(res.status).toBe(500);
          expect(res.text).toMatch(/^error: .*`cost/);
        }
      });
    });

    it('passes the request to countResponse as its second argument', async () => {
      // A store answering asynchronously (Redis) refunds a round trip after the response closed,
      // possibly after the client's next request: there, uncounted requests only need room for
      // the refunds still on their way.
      const limit = options.store === undefined ? 1 : 4;
      const http = await start({
        limiters: [{ limit, window: '1m', now, countResponse: (_status, req) => req.headers['x-count'] === 'yes' }],
      });
      // Not counted: refunded when each response closes.
      expect(await statuses(http, 3)).toEqual([200, 200, 200]);
      if (options.store === undefined) {
        expect((await getWith(http, '/ok', { 'x-count': 'yes' })).status).toBe(200);
        expect((await getWith(http, '/ok', { 'x-count': 'yes' })).status).toBe(429);
      }
    });

    describe("the request's decision: key, cost, refund(), reset()", () => {
      it.each(['app', 'route'] as const)('a login handler refunds successful attempts; failed ones count (%s)', async (mode) => {
        const http = await start({ mode, limiters: [{ limit: 2, window: '1m', now }] });
        for (let i = 0; i < 3; i++) {
          const ok = await getWith(http, '/login', { 'x-ok': 'yes' });
          expect([ok.status, ok.text, ok.headers['x-cost-taken']]).toEqual([200, '203.0.113.1', '1']);
        }
        expect((await getWith(http, '/login')).status).toBe(401);
        expect((await getWith(http, '/login')).status).toBe(401);
        expect((await getWith(http, '/login', { 'x-ok': 'yes' })).status).toBe(429);
      });

      it.each(['app', 'route'] as const)('reset() forgets the key (%s)', async (mode) => {
        // One prefix: Fastify counts each configured route on its own unless the routes name one.
        const http = await start({ mode, limiters: [{ limit: 2, window: '1m', now, prefix: 'login:' }] });
        expect((await getWith(http, '/login')).status).toBe(401);
        // Counted (the second unit of two), then the key is forgotten.
        const reset = await getWith(http, '/reset');
        expect([reset.status, reset.text]).toEqual([200, '203.0.113.1']);
        expect((await getWith(http, '/login')).status).toBe(401);
        expect((await getWith(http, '/login')).status).toBe(401);
        expect((await getWith(http, '/login')).status).toBe(429);
      });

      it('refund(n) gives back n units of what the request took', async () => {
        const http = await start({ limiters: [{ limit: 4, window: '1m', now, cost: 2 }] });
        // Each attempt takes 2 and gives 1 back: 1, 2, 3 units used; then 2 more do not fit.
        for (let i = 0; i < 3; i++) {
          const ok = await getWith(http, '/login', { 'x-ok': 'yes', 'x-refund': '1' });
          expect([ok.status, ok.headers['x-cost-taken']]).toEqual([200, '2']);
        }
        expect((await getWith(http, '/login', { 'x-ok': 'yes', 'x-refund': '1' })).status).toBe(429);
      });
    });

    if (options.proxyWarnings !== false)
      it('warns once when an RFC 7239 Forwarded header arrives but proxies are not trusted', async () => {
        const warnings: string[] = [];
        const logger = { warn: (m: string) => warnings.push(m) };
        const http = await start({ trustProxy: false, limiters: [{ limit: 10, window: '1m', now, logger }] });
        await http.get('/ok');
        expect(warnings).toHaveLength(0);
        await http.get('/ok').set('Forwarded', 'for=203.0.113.1');
        await http.get('/ok').set('Forwarded', 'for=203.0.113.2');
        expect(warnings).toHaveLength(1);
        // Names the header that arrived (not only X-Forwarded-For).
        expect(warnings[0]).toMatch(/(^|[^-])Forwarded\b/);
        await http.get('/ok').set('X-Forwarded-For', '203.0.113.3');
        expect(warnings).toHaveLength(1);
        // Without trust, the header does not pick the bucket: all four shared 127.0.0.1.
        expect((await http.get('/ok')).headers['x-ratelimit-remaining']).toBe('5');
      });

    it('adaptive: the headers report the limit reduced by the load factor', async () => {
      // Sampled when the limiter is created: 90 % load halves every limit from the first request.
      const adaptive = adaptiveLoad({ signal: () => 0.9 });
      try {
        const http = await start({ limiters: [{ limit: 10, window: '1m', now, adaptive }] });
        const res = await http.get('/ok').set('X-Forwarded-For', '203.0.113.1');
        expect([
          res.headers['x-ratelimit-limit'],
          res.headers['x-ratelimit-remaining'],
          res.headers.ratelimit,
          res.headers['ratelimit-policy'],
        ]).toEqual(['5', '4', '"10-in-1min";r=4;t=60', '"10-in-1min";q=5;w=60']);
        expect(await statuses(http, 5)).toEqual([200, 200, 200, 200, 429]);
      } finally {
        adaptive.close();
      }
    });
  });
}
