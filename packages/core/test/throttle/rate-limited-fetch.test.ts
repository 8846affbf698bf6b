import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRateLimitError, type RateLimitError, rateLimitedFetch } from '@ratekeeper/core';

// Real HTTP on 127.0.0.1; time is faked (Date and timers), I/O callbacks are not, so sockets still work.
const T0 = 1_700_000_000_000;
beforeEach(() => {
  jest.useFakeTimers({ now: T0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});
afterEach(() => {
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

  it('validates options', () => {
    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, retries: -1 })).toThrow('`retries`');
    expect(() => rateLimitedFetch({ perHost: { limit: 0, window: '1s' } })).toThrow('rules[0].limit');
    expect(() => rateLimitedFetch({ perHost: { limit: 1, window: '1s' }, retry: 1 } as never)).toThrow('Unknown option `retry`');
  });
});
