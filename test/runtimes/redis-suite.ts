// RedisStore on Bun and Deno: the scenario app (./app, entries bun-redis.ts and deno-redis.ts) with
// every limiter counting in the test redis-server of the Jest global setup (RK_REDIS_PORT), through
// ioredis running on the runtime's own `node:net`. Two processes of the runtime serve the app and
// share the counts; the Jest side reads the keys back with its own ioredis client. The byte-exact
// headers are those of the memory runs (./suite.ts) and of the Node conformance suite.

import { Redis } from 'ioredis';
import { type Reply, type RuntimeServer, type Send, startRuntime } from './server';

/** {@link T0} of the app: an hour boundary. */
const T0 = 1_699_999_200_000;
const RATE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'ratelimit-policy', 'ratelimit', 'retry-after'];
const DEFAULT_BODY = 'Too many requests, please try again later.';

function rateHeaders(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of RATE_HEADERS) if (reply.headers[h] !== undefined) out[h] = reply.headers[h] as string;
  return out;
}

let prefixSeq = 0;

/** Starts two processes of `name` on Redis and runs the scenarios in both flavours. */
export function redisRuntimeSuite(name: 'bun' | 'deno'): void {
  describe(`RedisStore from @ratekeeper/web and @ratekeeper/hono on ${name}`, () => {
    const redisPort = Number(process.env.RK_REDIS_PORT);
    const redis = new Redis({ host: '127.0.0.1', port: redisPort, lazyConnect: true });
    let one: RuntimeServer | undefined;
    let two: RuntimeServer | undefined;
    /** The store prefix of the running test: fresh for each, the same in both processes. */
    let prefix = '';

    beforeAll(async () => {
      expect(redisPort).toBeGreaterThan(0);
      await redis.connect();
      [one, two] = await Promise.all([startRuntime(name, { redisPort }), startRuntime(name, { redisPort })]);
    });
    afterAll(async () => {
      await Promise.all([one?.stop(), two?.stop()]);
      await redis.quit();
    });

    const server = (which: 1 | 2): RuntimeServer => {
      const s = which === 1 ? one : two;
      if (s === undefined) throw new Error(`${name} did not start`);
      return s;
    };
    const get = (path: string, o?: Send, which: 1 | 2 = 1): Promise<Reply> => server(which).send(path, o);
    const clock = async (t: number, which: 1 | 2 = 1): Promise<void> => {
      expect((await server(which).send(`/__clock?t=${t}`, { method: 'POST' })).status).toBe(200);
    };
    async function statuses(path: string, n: number, o?: Send, which: 1 | 2 = 1): Promise<number[]> {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await get(path, o, which)).status);
      return out;
    }
    /** The keys of the running test in Redis, sorted, without the test's prefix. */
    async function keys(): Promise<string[]> {
      return (await redis.keys(`${prefix}*`)).map((k) => k.slice(prefix.length)).sort();
    }

    beforeEach(async () => {
      prefix = `rt:${name}:${process.pid}:${++prefixSeq}:`;
      for (const which of [1, 2] as const) {
        const reply = await server(which).send(`/__reset?prefix=${encodeURIComponent(prefix)}`, { method: 'POST' });
        expect([reply.status, reply.body]).toEqual([200, name]);
      }
    });
    const seen = [0, 0];
    afterEach(() => {
      // An error either process logged (an ioredis 'error' event, an unhandled rejection) fails the test.
      for (const which of [1, 2] as const) {
        const output = (which === 1 ? one : two)?.output() ?? '';
        const fresh = output.slice(seen[which - 1]);
        seen[which - 1] = output.length;
        if (/error|uncaught|panic/i.test(fresh)) throw new Error(`${name} (process ${which}) printed:\n${fresh}`);
      }
    });

    it('the Jest side reaches the same redis-server', async () => {
      expect(await redis.ping()).toBe('PONG');
    });

    describe.each(['web', 'hono'] as const)('%s', (flavour) => {
      const at = (scenario: string, path = '/ok'): string => `/${flavour}/${scenario}${path}`;

      it('allows up to the limit, then answers 429; the counter is a key in Redis with a TTL', async () => {
        expect(await statuses(at('basic'), 3)).toEqual([200, 200, 200]);
        const limited = await get(at('basic'));
        expect([limited.status, limited.body, limited.headers['content-type']]).toEqual([429, DEFAULT_BODY, 'text/plain; charset=utf-8']);
        expect(await statuses(at('basic'), 3, { ip: '127.0.0.2' })).toEqual([200, 200, 200]);
        expect(await statuses(at('basic'), 1, { ip: '127.0.0.2' })).toEqual([429]);
        const found = await keys();
        expect(found).toEqual([`${flavour}:basic:sw-3-60000:{127.0.0.1}`, `${flavour}:basic:sw-3-60000:{127.0.0.2}`]);
        for (const key of found) expect(await redis.pttl(prefix + key)).toBeGreaterThan(0);
      });

      it('sends legacy and draft-8 headers, byte-exact, and Retry-After only on 429', async () => {
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
        expect(await keys()).toEqual([`${flavour}:headers:sw-2-60000:{127.0.0.1}`]);
      });

      it('two processes share the count through Redis: same headers as one process', async () => {
        await clock(T0 + 15_000, 1);
        await clock(T0 + 20_500, 2);
        const first = await get(at('headers'), {}, 1);
        expect([first.status, first.headers['x-ratelimit-remaining']]).toEqual([200, '1']);
        // The second process sees the first one's request.
        expect(rateHeaders(await get(at('headers'), {}, 2))).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999260',
          'ratelimit-policy': '"2-in-1min";q=2;w=60',
          ratelimit: '"2-in-1min";r=0;t=40',
        });
        await clock(T0 + 20_500, 1);
        const denied = await get(at('headers'), {}, 1);
        expect(denied.status).toBe(429);
        expect(rateHeaders(denied)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': '1699999291',
          'ratelimit-policy': '"2-in-1min";q=2;w=60',
          ratelimit: '"2-in-1min";r=0;t=70',
          'retry-after': '70',
        });
        expect((await get(at('headers'), {}, 2)).status).toBe(429);
        expect(await keys()).toEqual([`${flavour}:headers:sw-2-60000:{127.0.0.1}`]);
      });

      it('refunds 5xx responses in Redis and counts 4xx', async () => {
        // Each refund is sent on the process's connection before its next request's consume, so
        // Redis runs them in order.
        expect(await statuses(at('status', '/fail'), 4)).toEqual([500, 500, 500, 500]);
        expect(await statuses(at('status', '/bad'), 3)).toEqual([400, 400, 429]);
        expect(await keys()).toEqual([`${flavour}:status:sw-2-60000:{127.0.0.1}`]);
      });

      it('takes `cost` units per request', async () => {
        const seen: Array<[number, string | undefined]> = [];
        for (const which of [1, 2, 1] as const) {
          const reply = await get(at('cost'), {}, which);
          seen.push([reply.status, reply.headers['x-ratelimit-remaining']]);
        }
        expect(seen).toEqual([
          [200, '3'],
          [200, '1'],
          [429, '1'],
        ]);
      });

      it('stacks an app-wide and a route limiter, each under its own prefix', async () => {
        const first = await get(at('stacked'));
        expect(rateHeaders(first)).toEqual({
          'x-ratelimit-limit': '2',
          'x-ratelimit-remaining': '1',
          'x-ratelimit-reset': '1699999201',
          'ratelimit-policy': '"app";q=10;w=60, "route";q=2;w=1',
          ratelimit: '"app";r=9;t=60, "route";r=1;t=1',
        });
        expect((await get(at('stacked'), {}, 2)).status).toBe(200);
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
        expect(await keys()).toEqual([`${flavour}:stacked-app:app:{127.0.0.1}`, `${flavour}:stacked-route:route:{127.0.0.1}`]);
      });
    });
  });
}
