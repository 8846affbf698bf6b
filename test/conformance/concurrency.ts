import { request as httpRequest } from 'node:http';
import type { Decision, Store } from '@ratekeeper/core';
import supertest from 'supertest';
import { type AppSetup, gate, type Harness, type HoldEnd, type RunningApp } from './harness';

/** An hour boundary, as in the main suite. */
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

function rateHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const h of RATE_HEADERS) if (headers[h] !== undefined) out[h] = headers[h];
  return out;
}

/** Options of {@link concurrencyConformance}. */
export interface ConcurrencyConformanceOptions {
  /** Store for every limiter (each test gets a fresh prefix). @default a MemoryStore per limiter */
  store?: () => Store;
  /** Appended to the suite's name. */
  label?: string;
}

let prefixSeq = 0;
let holdSeq = 0;

/**
 * The `concurrency` option over real HTTP, the same on every adapter: a request holds a slot from
 * the limiters to the end of its response. Held requests wait on `/hold` until the test opens
 * their gate, so no test waits on the wall clock.
 */
export function concurrencyConformance(harness: Harness, options: ConcurrencyConformanceOptions = {}): void {
  describe(`${harness.name} concurrency${options.label ? ` (${options.label})` : ''}`, () => {
    let app: RunningApp | undefined;
    let t = T0;
    const now = (): number => t;
    /** Requests still held when a test failed: opened so the app can close. */
    let open: string[] = [];

    beforeEach(() => {
      t = T0;
    });
    afterEach(async () => {
      for (const id of open) gate.open(id);
      open = [];
      await app?.close();
      app = undefined;
    });

    async function start(setup: AppSetup): Promise<ReturnType<typeof supertest>> {
      const makeStore = options.store;
      if (makeStore !== undefined) {
        const prefix = `conf:${process.pid}:c${++prefixSeq}:`;
        setup = { ...setup, limiters: setup.limiters.map((o) => ({ timeoutMs: 30_000, ...o, store: makeStore(), prefix })) };
      }
      app = await harness.start(setup);
      return supertest(app.url);
    }

    const get = (http: ReturnType<typeof supertest>, path: string, ip = '203.0.113.1', headers: Record<string, string> = {}) =>
      http.get(path).set('X-Forwarded-For', ip).set(headers);

    /** Sends `/hold` and resolves once its handler runs (it holds a slot): the response comes after `gate.open`. */
    async function held(http: ReturnType<typeof supertest>, ip = '203.0.113.1', headers: Record<string, string> = {}) {
      const id = `h${++holdSeq}`;
      open.push(id);
      // `then` sends it; the response is awaited later.
      const response = get(http, '/hold', ip, { ...headers, 'x-hold': id }).then((r) => r);
      const early = await Promise.race([gate.arrived(id).then(() => undefined), response]);
      if (early !== undefined) throw new Error(`/hold from ${ip} was answered ${early.status} instead of reaching its handler`);
      return {
        end: (how: HoldEnd = 'ok') => {
          gate.open(id, how);
          return response;
        },
      };
    }

    async function statuses(http: ReturnType<typeof supertest>, n: number, path = '/ok', ip = '203.0.113.1'): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await get(http, path, ip)).status);
      return out;
    }

    it.each(['app', 'route'] as const)(
      'alone: refuses a second request while the first is served (429, Retry-After, no RateLimit headers); the slot comes back when the response ends (%s)',
      async (mode) => {
        const http = await start({ mode, limiters: [{ concurrency: { max: 1 }, now }] });
        const first = await held(http);
        // The same route: Fastify counts each configured route in its own slots.
        const never = `h${++holdSeq}`;
        open.push(never);
        const answer = get(http, '/hold', '203.0.113.1', { 'x-hold': never }).then((r) => r);
        const refused = await Promise.race([answer, gate.arrived(never).then(() => undefined)]);
        if (refused === undefined) throw new Error('a second /hold reached its handler');
        expect([refused.status, refused.text]).toEqual([429, 'Too many requests, please try again later.']);
        expect(rateHeaders(refused.headers)).toEqual({ 'retry-after': '1' });
        // Another client has slots of its own.
        const other = await held(http, '203.0.113.2');
        const done = await first.end();
        expect([done.status, done.text]).toEqual([200, 'held']);
        expect(rateHeaders(done.headers)).toEqual({});
        const next = await held(http);
        expect((await next.end()).status).toBe(200);
        expect((await other.end()).status).toBe(200);
      },
    );

    it('max 2: two at once, a third refused; statusCode 503 and the message, onLimited gets the concurrency decision', async () => {
      const limited: Decision[] = [];
      const http = await start({
        limiters: [{ concurrency: { max: 2, statusCode: 503 }, message: { error: 'busy' }, onLimited: (_req, d) => limited.push(d), now }],
      });
      const a = await held(http);
      const b = await held(http);
      const refused = await get(http, '/ok');
      expect([refused.status, refused.body, refused.headers['retry-after']]).toEqual([503, { error: 'busy' }, '1']);
      expect(limited.map((d) => [d.allowed, d.rule.name, d.limit, d.remaining])).toEqual([[false, 'concurrency', 2, 0]]);
      await a.end();
      expect(await statuses(http, 1)).toEqual([200]);
      await b.end();
    });

    it.each<[string, HoldEnd, number]>([
      ['answers 5xx', 'fail', 500],
      ['throws', 'throw', 500],
    ])('frees the slot when the handler %s', async (_label, how, status) => {
      const http = await start({ limiters: [{ concurrency: { max: 1 }, now }] });
      const first = await held(http);
      expect(await statuses(http, 1)).toEqual([429]);
      expect((await first.end(how)).status).toBe(status);
      expect(await statuses(http, 2)).toEqual([200, 200]);
    });

    it('frees the slot when the client aborts', async () => {
      const http = await start({ limiters: [{ concurrency: { max: 1 }, now }] });
      const running = app as RunningApp;
      const closed = running.abortClosed();
      let whileOpen: number | undefined;
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${running.url}/abort`, { headers: { 'X-Forwarded-For': '203.0.113.1' } }, (res) => {
          res.once('data', () => {
            // Node adapters hold the slot until the response closes; the Fetch adapters until the
            // handler returned its (streamed) response, which it has by now.
            void statuses(http, 1).then(([s]) => {
              whileOpen = s;
              req.destroy();
              resolve();
            }, reject);
          });
        });
        req.on('error', reject);
        req.end();
      });
      await closed;
      expect(whileOpen).toBe(harness.endsWithHandler === true ? 200 : 429);
      expect(await statuses(http, 2)).toEqual([200, 200]);
    });

    it('with rate rules: a refused request keeps the rate headers, takes the concurrency Retry-After, and gets its rate charge back', async () => {
      const http = await start({ limiters: [{ limit: 5, window: '1m', now, concurrency: { max: 1 } }] });
      const first = await held(http);
      const refused = await get(http, '/ok');
      expect(refused.status).toBe(429);
      // The rate headers of its rate decision (the charge is given back right after).
      expect(rateHeaders(refused.headers)).toEqual({
        'x-ratelimit-limit': '5',
        'x-ratelimit-remaining': '3',
        'x-ratelimit-reset': '1699999260',
        'ratelimit-policy': '"5-in-1min";q=5;w=60',
        ratelimit: '"5-in-1min";r=3;t=60',
        'retry-after': '1',
      });
      const done = await first.end();
      expect(done.headers['x-ratelimit-remaining']).toBe('4');
      // The held request and this one count; the refused one does not.
      expect((await get(http, '/ok')).headers['x-ratelimit-remaining']).toBe('3');
    });

    it('with rate rules: a request over the rate limit takes no slot', async () => {
      // Leases far longer than the test: a slot taken and never freed would still be held below.
      const http = await start({ limiters: [{ limit: 1, window: '1m', now, concurrency: { max: 1, leaseMs: '1h' } }] });
      expect(await statuses(http, 1)).toEqual([200]);
      const denied = await get(http, '/ok');
      // The rate rule's refusal (its Retry-After), not the concurrency limit's.
      expect([denied.status, denied.headers['retry-after']]).toEqual([429, '120']);
      t += 120_000;
      const next = await held(http);
      expect(await statuses(http, 1, '/ok')).toEqual([429]);
      expect((await next.end()).status).toBe(200);
    });

    it('dryRun: over the cap is reported, never refused', async () => {
      const limited: string[] = [];
      const http = await start({
        limiters: [{ concurrency: { max: 1 }, dryRun: true, onLimited: (_req, d) => limited.push(d.rule.name), now }],
      });
      const first = await held(http);
      const over = await get(http, '/ok');
      expect([over.status, over.text]).toEqual([200, 'ok']);
      expect(rateHeaders(over.headers)).toEqual({});
      expect(limited).toEqual(['concurrency']);
      await first.end();
    });

    it('skip and allowList take no slot', async () => {
      const http = await start({
        limiters: [
          {
            concurrency: { max: 1 },
            now,
            // One key for every client: any slot taken would refuse everyone else.
            key: () => 'everyone',
            skip: (req) => req.headers['x-internal'] === '1',
            allowList: ['198.51.100.7'],
          },
        ],
      });
      const skipped = await held(http, '203.0.113.1', { 'x-internal': '1' });
      const allowed = await held(http, '198.51.100.7');
      const counted = await held(http, '203.0.113.9');
      expect(await statuses(http, 1, '/ok', '203.0.113.10')).toEqual([429]);
      await Promise.all([skipped.end(), allowed.end(), counted.end()]);
      expect(await statuses(http, 1, '/ok', '203.0.113.10')).toEqual([200]);
    });
  });
}
