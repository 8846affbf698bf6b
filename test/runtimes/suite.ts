// The scenarios of ./app/scenarios.ts on one runtime, in both flavours (@ratekeeper/web `wrap`,
// @ratekeeper/hono middleware), with the byte-exact headers of the Node conformance suite
// (test/conformance/suite.ts). The client address comes from the runtime: the connection's source
// address on Bun and Deno (the tests connect from 127.0.0.1, .2, .3…), `CF-Connecting-IP` on workerd.

import { type Reply, type RuntimeName, type RuntimeServer, type Send, startRuntime } from './server';

/** {@link T0} of the app: an hour boundary. */
const T0 = 1_699_999_200_000;
const RATE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'retry-after'];
const DEFAULT_BODY = 'Too many requests, please try again later.';

/** The rate-limit headers of a reply, nothing else. */
function rateHeaders(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of RATE_HEADERS) if (reply.headers[h] !== undefined) out[h] = reply.headers[h] as string;
  return out;
}

/** Starts `name` once for the file and runs every scenario in both flavours. */
export function runtimeSuite(name: RuntimeName): void {
  describe(`@ratekeeper/web and @ratekeeper/hono on ${name}`, () => {
    let server: RuntimeServer | undefined;

    beforeAll(async () => {
      server = await startRuntime(name);
    });
    afterAll(async () => {
      await server?.stop();
    });

    const running = (): RuntimeServer => {
      if (server === undefined) throw new Error(`${name} did not start`);
      return server;
    };
    const get = (path: string, o?: Send): Promise<Reply> => running().send(path, o);
    const clock = async (t: number): Promise<void> => {
      expect((await running().send(`/__clock?t=${t}`, { method: 'POST' })).status).toBe(200);
    };
    async function statuses(path: string, n: number, o?: Send): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await get(path, o)).status);
      return out;
    }

    beforeEach(async () => {
      // Fresh limiters and stores, the clock at T0.
      const reply = await running().send('/__reset', { method: 'POST' });
      expect([reply.status, reply.body]).toEqual([200, name]);
    });
    let seen = 0;
    afterEach(() => {
      // An error the runtime logged during the test (an unhandled rejection, a crash) fails it.
      const output = server?.output() ?? '';
      const fresh = output.slice(seen);
      seen = output.length;
      if (/error|uncaught|panic/i.test(fresh)) throw new Error(`${name} printed:\n${fresh}`);
    });

    describe.each(['web', 'hono'] as const)('%s', (flavour) => {
      const at = (scenario: string, path = '/ok'): string => `/${flavour}/${scenario}${path}`;

      it('allows up to the limit, then answers 429 with the default body; another client has its own bucket', async () => {
        expect(await statuses(at('basic'), 3)).toEqual([200, 200, 200]);
        const limited = await get(at('basic'));
        expect([limited.status, limited.body, limited.headers['content-type']]).toEqual([429, DEFAULT_BODY, 'text/plain; charset=utf-8']);
        expect(await statuses(at('basic'), 3, { ip: '127.0.0.2' })).toEqual([200, 200, 200]);
        expect(await statuses(at('basic'), 1, { ip: '127.0.0.2' })).toEqual([429]);
      });

      it('sends legacy and draft-8 headers by default, byte-exact, and Retry-After only on 429', async () => {
        await clock(T0 + 15_000);
        const first = await get(at('headers'));
        expect(first.status).toBe(200);
        expect(rateHeaders(first)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '1',
          'x-ratelimit-reset': '1699999260',
          'ratelimit-policy': '"2-in-1min";q=2;w=60',
          ratelimit: '"2-in-1min";r=1;t=45',
        });
        await clock(T0 + 20_500);
        expect(rateHeaders(await get(at('headers')))).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999260',
          'ratelimit-policy': '"2-in-1min";q=2;w=60',
          ratelimit: '"2-in-1min";r=0;t=40',
        });
        const third = await get(at('headers'));
        expect(third.status).toBe(429);
        expect(rateHeaders(third)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999291',
          'ratelimit-policy': '"2-in-1min";q=2;w=60',
          ratelimit: '"2-in-1min";r=0;t=70',
          'retry-after': '70',
        });
      });

      it('does not count 5xx responses and counts 4xx', async () => {
        expect(await statuses(at('status', '/fail'), 4)).toEqual([500, 500, 500, 500]);
        expect(await statuses(at('status', '/bad'), 3)).toEqual([400, 400, 429]);
      });

      it('takes `cost` units per request', async () => {
        const seen: Array<[number, string | undefined]> = [];
        for (let i = 0; i < 3; i++) {
          const reply = await get(at('cost'));
          seen.push([reply.status, reply.headers['x-ratelimit-remaining']]);
        }
        expect(seen).toEqual([
          [200, '3'],
          [200, '1'],
          [429, '1'],
        ]);
      });

      it('skips requests for which skip() is true, and allow-listed addresses', async () => {
        for (let i = 0; i < 3; i++) {
          const reply = await get(at('skip'), { headers: { 'x-internal': '1' } });
          expect(reply.status).toBe(200);
          expect(reply.headers['x-ratelimit-limit']).toBeUndefined();
        }
        expect(await statuses(at('skip'), 3, { ip: '127.0.0.3' })).toEqual([200, 200, 200]);
        expect(await statuses(at('skip'), 2)).toEqual([200, 429]);
      });

      it('dryRun counts and reports but never blocks', async () => {
        expect((await get(at('dry'))).status).toBe(200);
        const over = await get(at('dry'));
        expect(over.status).toBe(200);
        expect(over.headers['x-ratelimit-remaining']).toBe('0');
        expect(over.headers['retry-after']).toBeUndefined();
      });

      it('stacks an app-wide and a route limiter: draft-8 lists both; a 429 describes the denying limiter only', async () => {
        const first = await get(at('stacked'));
        expect(first.status).toBe(200);
        expect(rateHeaders(first)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '1',
          'x-ratelimit-reset': '1699999201',
          'ratelimit-policy': '"app";q=10;w=60, "route";q=2;w=1',
          ratelimit: '"app";r=9;t=60, "route";r=1;t=1',
        });
        expect((await get(at('stacked'))).status).toBe(200);
        const denied = await get(at('stacked'));
        expect(denied.status).toBe(429);
        expect(rateHeaders(denied)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999202',
          'ratelimit-policy': '"route";q=2;w=1',
          ratelimit: '"route";r=0;t=2',
          'retry-after': '2',
        });
        await clock(T0 + Number(denied.headers['retry-after']) * 1000);
        const later = await get(at('stacked'));
        expect(later.status).toBe(200);
        // All four requests counted app-wide, the one the route denied included.
        expect(later.headers.ratelimit).toBe('"app";r=6;t=58, "route";r=1;t=1');
      });

      it('keys by route pattern: distinct raw paths share one bucket and add no keys', async () => {
        const codes: number[] = [];
        for (let i = 1; i <= 5; i++) codes.push((await get(at('route', `/users/${i}-${'x'.repeat(i)}`), { ip: `127.0.0.${i}` })).status);
        expect(codes).toEqual([200, 200, 200, 429, 429]);
        expect((await get(`/__size?flavour=${flavour}`)).body).toBe('1');
        // Another route is another bucket.
        expect(await statuses(at('route', '/other'), 1)).toEqual([200]);
        expect((await get(`/__size?flavour=${flavour}`)).body).toBe('2');
      });

      it("answers a ConfigError, never a shared bucket, when key 'ip' finds no client address", async () => {
        for (let i = 0; i < 2; i++) {
          const reply = await get(at('noip'), { noConn: true });
          expect(reply.status).toBe(500);
          expect(reply.body).toMatch(/^error: ConfigError: ratekeeper: no client address for this request/);
        }
        expect(await statuses(at('noip'), 2)).toEqual([200, 429]);
      });
    });

    it("hono: counts under the runtime's client address (c.get('rateLimit').key)", async () => {
      const reply = await get('/hono/basic/key', { ip: '127.0.0.2' });
      expect(reply.status).toBe(200);
      expect(reply.body).toContain('127.0.0.2');
    });

    // Hono merges headers set with c.header() only into c.text()/c.json() responses: the middleware
    // writes them onto the response on the way back instead.
    it('hono: a handler returning its own Response keeps the rate-limit headers', async () => {
      const reply = await get('/hono/raw/ok');
      expect(reply.status).toBe(200);
      expect(reply.headers['x-ratelimit-remaining']).toBe('2');
    });

    it('hono: a handler returning its own Response is still counted', async () => {
      expect(await statuses('/hono/raw/ok', 4)).toEqual([200, 200, 200, 429]);
    });
  });
}
