import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRateLimitError, type RateLimitError, rateLimitedFetch } from '@ratekeeper/core';
import { pausedHosts } from '../../src/throttle/rate-limited-fetch';
import { DAY_MS, MAX_TIMER_MS, timerDelays } from '../helpers/counting-store';

// Real HTTP on 127.0.0.1; time is faked (Date and timers), I/O callbacks are not, so sockets still work.
const T0 = 1_700_000_000_000;
beforeEach(() => {
  jest.useFakeTimers({ now: T0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});
afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
async function serve(handler: Handler): Promise<string> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** Lets real I/O happen (time stays frozen) until `cond` holds. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
  if (!cond()) throw new Error('condition not reached');
}

/** A 429-then-200 server; `hits` records the fake time of each request. */
async function limitedServer(retryAfter: () => string) {
  const hits: number[] = [];
  const url = await serve((_req, res) => {
    hits.push(Date.now() - T0);
    if (hits.length === 1) res.writeHead(429, { 'retry-after': retryAfter(), 'content-type': 'text/plain' }).end('slow down');
    else res.writeHead(200).end('ok');
  });
  return { url, hits };
}

describe('rateLimitedFetch', () => {
  it('paces requests per host: 2/s bucket sends 2 at once, then one every 500 ms', async () => {
    const url = await serve((_req, res) => res.end('ok'));
    const sent: number[] = [];
    const f = rateLimitedFetch({
      perHost: { limit: 2, window: '1s', algorithm: 'token-bucket' },
      now: () => Date.now(),
      fetch: (input, init) => {
        sent.push(Date.now() - T0);
        return fetch(input, init);
      },
    });
    const all = [1, 2, 3, 4].map((i) => f(`${url}/${i}`).then((r) => r.text()));
    await jest.advanceTimersByTimeAsync(1000);
    await expect(Promise.all(all)).resolves.toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(sent).toEqual([0, 0, 500, 1000]);
  });

  it('honours Retry-After (delay-seconds) of a 429 by pausing the host, then retries', async () => {
    const { url, hits } = await limitedServer(() => '2');
    const waits: Array<[number, string]> = [];
    const f = rateLimitedFetch({
      perHost: { limit: 10, window: '1s' },
      retries: 1,
      now: () => Date.now(),
      onWait: (ms, host) => waits.push([ms, host]),
    });
    const p = f(`${url}/data`);
    await until(() => waits.length === 1);
    expect(waits).toEqual([[2000, new URL(url).host]]);
    await jest.advanceTimersByTimeAsync(1999);
    expect(hits).toEqual([0]);
    await jest.advanceTimersByTimeAsync(1);
    const res = await p;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
    expect(hits).toEqual([0, 2000]);
  });

  it('honours an HTTP-date Retry-After', async () => {
    const { url, hits } = await limitedServer(() => new Date(Date.now() + 3000).toUTCString());
    let waited = -1;
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, retries: 1, now: () => Date.now(), onWait: (ms) => (waited = ms) });
    const p = f(url);
    await until(() => waited >= 0);
    expect(waited).toBe(3000);
    await jest.advanceTimersByTimeAsync(3000);
    expect((await p).status).toBe(200);
    expect(hits).toEqual([0, 3000]);
  });

  it('honours the IETF RateLimit header t when there is no Retry-After', async () => {
    let first = true;
    const hits: number[] = [];
    const url = await serve((_req, res) => {
      hits.push(Date.now() - T0);
      if (first) {
        first = false;
        res.writeHead(429, { ratelimit: '"per-minute";r=0;t=4', 'ratelimit-policy': '"per-minute";q=60;w=60' }).end();
      } else res.end('ok');
    });
    let waited = -1;
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, retries: 2, now: () => Date.now(), onWait: (ms) => (waited = ms) });
    const p = f(url);
    await until(() => waited >= 0);
    expect(waited).toBe(4000);
    await jest.advanceTimersByTimeAsync(4000);
    expect((await p).status).toBe(200);
    expect(hits).toEqual([0, 4000]);
  });

  it('without retries returns the 429 and pauses the host for later calls; other hosts carry on', async () => {
    const { url, hits } = await limitedServer(() => '60');
    const other = await serve((_req, res) => res.end('other'));
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, now: () => Date.now() });
    const first = await f(url);
    expect(first.status).toBe(429);
    expect(await first.text()).toBe('slow down');
    // Another host is not paused.
    expect(await (await f(other)).text()).toBe('other');
    // The host stays paused for the minute the server asked for.
    let sentAgain = false;
    const next = f(url).then((r) => {
      sentAgain = true;
      return r;
    });
    await jest.advanceTimersByTimeAsync(59_999);
    expect(sentAgain).toBe(false);
    expect(hits).toEqual([0]);
    await jest.advanceTimersByTimeAsync(1);
    expect((await next).status).toBe(200);
    expect(hits).toEqual([0, 60_000]);
  });

  it('a caller who will not wait out a pause is refused at once, without a request', async () => {
    const hits: number[] = [];
    const url = await serve((_req, res) => {
      hits.push(Date.now());
      res.end();
    });
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, now: () => Date.now(), maxWaitMs: 1000 });
    f.pause(new URL(url).host, 60_000);
    const refused = (await f(url).catch((e: unknown) => e)) as RateLimitError;
    expect(isRateLimitError(refused)).toBe(true);
    expect(refused.retryAfterMs).toBe(60_000);
    expect(hits).toEqual([]);
  });

  it('returns the last 429 when the retry would wait longer than maxWaitMs', async () => {
    const { url, hits } = await limitedServer(() => '30');
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, retries: 3, maxWaitMs: 5000, now: () => Date.now() });
    const res = await f(url);
    expect(res.status).toBe(429);
    expect(await res.text()).toBe('slow down');
    expect(hits).toEqual([0]);
  });

  it('abort while paused rejects and sends nothing', async () => {
    const { url, hits } = await limitedServer(() => '10');
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, now: () => Date.now() });
    await (await f(url)).text();
    const controller = new AbortController();
    const p = f(url, { signal: controller.signal });
    await jest.advanceTimersByTimeAsync(5000);
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(hits).toEqual([0]);
  });

  it('caps a server-supplied pause at maxRetryAfterMs (default one day)', async () => {
    const { url, hits } = await limitedServer(() => '2592000');
    const waits: number[] = [];
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, retries: 1, now: () => Date.now(), onWait: (ms) => waits.push(ms) });
    const p = f(url);
    await until(() => waits.length === 1);
    expect(waits).toEqual([DAY_MS]);
    await jest.advanceTimersByTimeAsync(DAY_MS - 1);
    expect(hits).toEqual([0]);
    await jest.advanceTimersByTimeAsync(1);
    expect((await p).status).toBe(200);
    expect(hits).toEqual([0, DAY_MS]);
  });

  it('honours a 30-day Retry-After when maxRetryAfterMs allows it, sleeping in two slices', async () => {
    const { url, hits } = await limitedServer(() => '2592000');
    const waits: number[] = [];
    const f = rateLimitedFetch({
      perHost: { limit: 10, window: '1s' },
      retries: 1,
      maxRetryAfterMs: 40 * DAY_MS,
      now: () => Date.now(),
      onWait: (ms) => waits.push(ms),
    });
    const delays = timerDelays();
    const p = f(url);
    await until(() => waits.length === 1);
    expect(waits).toEqual([30 * DAY_MS]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(delays().every((ms) => ms <= MAX_TIMER_MS)).toBe(true);
    await jest.advanceTimersByTimeAsync(30 * DAY_MS - 1001);
    expect(hits).toEqual([0]);
    await jest.advanceTimersByTimeAsync(1);
    expect((await p).status).toBe(200);
    expect(hits).toEqual([0, 30 * DAY_MS]);
    expect(delays()).toEqual([MAX_TIMER_MS, 30 * DAY_MS - MAX_TIMER_MS]);
  });

  it('maxWaitMs answers at once against a month-long pause: the 429 comes back, the next call is refused', async () => {
    const { url, hits } = await limitedServer(() => '2592000');
    const f = rateLimitedFetch({
      perHost: { limit: 10, window: '1s' },
      retries: 3,
      maxWaitMs: 60_000,
      maxRetryAfterMs: 40 * DAY_MS,
      now: () => Date.now(),
    });
    expect((await f(url)).status).toBe(429);
    const refused = (await f(url).catch((e: unknown) => e)) as RateLimitError;
    expect(isRateLimitError(refused)).toBe(true);
    expect(refused.retryAfterMs).toBe(30 * DAY_MS);
    expect(jest.getTimerCount()).toBe(0);
    expect(hits).toEqual([0]);
  });

  it('maxQueue bounds the line of each host: a request that finds it full is refused at once, other hosts carry on', async () => {
    const sent: string[] = [];
    const f = rateLimitedFetch({
      perHost: { limit: 10, window: '1s' },
      maxQueue: 2,
      now: () => Date.now(),
      fetch: async (input) => {
        sent.push(String(input));
        return new Response('ok');
      },
    });
    f.pause('a.test', 5000);
    const queued = [f('http://a.test/1'), f('http://a.test/2')];
    const refused = (await f('http://a.test/3').catch((e: unknown) => e)) as RateLimitError;
    expect(isRateLimitError(refused)).toBe(true);
    expect((await f('http://b.test/1')).status).toBe(200);
    await jest.advanceTimersByTimeAsync(5000);
    await Promise.all(queued);
    expect(sent).toEqual(['http://b.test/1', 'http://a.test/1', 'http://a.test/2']);
  });

  it('ended pauses are dropped at the next request, whatever its host', async () => {
    const f = rateLimitedFetch({ perHost: { limit: 10, window: '1s' }, now: () => Date.now(), fetch: async () => new Response('ok') });
    f.pause('a.test', 1000);
    f.pause('b.test', 5000);
    f.pause('c.test', 60_000);
    expect(pausedHosts(f)).toBe(3);
    await jest.advanceTimersByTimeAsync(5000);
    await f('http://other.test/');
    expect(pausedHosts(f)).toBe(1);
    await jest.advanceTimersByTimeAsync(55_000);
    await f('http://other.test/');
    expect(pausedHosts(f)).toBe(0);
  });

  it('validates options', () => {
    for (const bad of [-1, Number.POSITIVE_INFINITY, Number.NaN, '60000']) {
      expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, maxRetryAfterMs: bad as number })).toThrow(
        expect.objectContaining({ code: 'ERR_RK_CONFIG', option: 'maxRetryAfterMs' }),
      );
    }
    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, maxRetryAfterMs: -1 })).toThrow(
      'Expected `maxRetryAfterMs` to be a non-negative, finite number of milliseconds, got -1',
    );
    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, maxQueue: 1.5 })).toThrow(
      'Expected `maxQueue` to be a non-negative integer (or Infinity), got 1.5',
    );

    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, retries: -1 })).toThrow('`retries`');
    expect(() => rateLimitedFetch({ perHost: { limit: 0, window: '1s' } })).toThrow('rules[0].limit');
    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, retry: 1 } as never)).toThrow('Unknown option `retry`');
  });
});
