import { crawl } from '../src/crawler';
import { type Site, startSite } from '../src/site';

// Real loopback HTTP, fake time: the crawler's waits and both sites' limiters read the same faked clock.
const T0 = 1_700_000_000_000;
const now = () => Date.now();
let sites: Site[] = [];
beforeEach(() => {
  jest.useFakeTimers({ now: T0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});
afterEach(async () => {
  jest.useRealTimers();
  await Promise.all(sites.map((s) => s.close()));
  sites = [];
});

/** Advances fake time in small steps, letting real I/O run in between, until `p` settles. */
async function drive<T>(p: Promise<T>): Promise<T> {
  let done = false;
  void p.finally(() => {
    done = true;
  });
  for (let i = 0; i < 5000 && !done; i++) {
    for (let j = 0; j < 20; j++) await new Promise<void>((r) => setImmediate(r));
    if (!done) await jest.advanceTimersByTimeAsync(10);
  }
  return p;
}

describe('client-throttle example: a per-host polite crawler', () => {
  it('crawls every page of two sites, each host at its own pace, without a single 429 when polite', async () => {
    const a = await startSite({ pages: 6, limit: { limit: 2, window: '1s', algorithm: 'fixed-window' }, now });
    const b = await startSite({ pages: 6, limit: { limit: 2, window: '1s', algorithm: 'fixed-window' }, now });
    sites = [a, b];
    const sent = new Map<string, number[]>();
    const { pages } = await drive(
      crawl([a.url, b.url], {
        perHost: { limit: 2, window: '1s', algorithm: 'fixed-window' },
        now,
        fetch: (input, init) => {
          const host = new URL(String(input)).host;
          sent.set(host, [...(sent.get(host) ?? []), Date.now() - T0]);
          return fetch(input, init);
        },
      }),
    );
    expect(pages.size).toBe(14);
    expect([...pages.values()].every((s) => s === 200)).toBe(true);
    expect([a.stats, b.stats]).toEqual([
      { served: 7, limited: 0 },
      { served: 7, limited: 0 },
    ]);
    // Per host, never more than 2 requests in one second-aligned window; the two hosts run side by side.
    for (const times of sent.values()) {
      const perWindow = new Map<number, number>();
      for (const t of times) perWindow.set(Math.floor(t / 1000), (perWindow.get(Math.floor(t / 1000)) ?? 0) + 1);
      expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(2);
      expect(times).toHaveLength(7);
      expect(Math.max(...times)).toBe(3000);
    }
  });

  it('backs off when a site answers 429 with Retry-After, and still gets every page', async () => {
    const strict = await startSite({ pages: 3, limit: { limit: 1, window: '1s', algorithm: 'fixed-window' }, now });
    sites = [strict];
    const { pages } = await drive(crawl([strict.url], { perHost: { limit: 5, window: '1s' }, retries: 5, now }));
    expect([...pages.values()]).toEqual([200, 200, 200, 200]);
    expect(strict.stats.served).toBe(4);
    // Too eager at first (5/s against 1/s), so the site said 429; the pauses brought the crawler in line.
    expect(strict.stats.limited).toBeGreaterThan(0);
  });
});
