import { type AdaptiveLoad, adaptiveLoad, createLimiter, type Decision, type Limiter, MemoryStore, type Store } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { manualClock } from '@ratekeeper/core/testing';
import { newRedis, uniquePrefix } from '../stores/redis/helpers';

// Adaptive limits on Redis: each level binds its own script (rule numbers are inlined), over the
// same keys. Only the sampler's setInterval is faked: the Redis client keeps its real timers.

const client = newRedis();
afterAll(() => client.quit());

const T0 = 1_699_999_200_000;
const ALGORITHMS = ['fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra'] as const;

describe('adaptive limits on RedisStore', () => {
  const loads: AdaptiveLoad[] = [];
  beforeEach(() =>
    jest.useFakeTimers({
      doNotFake: [
        'Date',
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setTimeout',
        'clearTimeout',
      ],
    }),
  );
  afterEach(() => {
    for (const load of loads.splice(0)) load.close();
    jest.useRealTimers();
  });

  function loadOf(initial: number): { load: AdaptiveLoad; set(load: number): void } {
    let value = initial;
    const load = adaptiveLoad({ signal: () => value });
    loads.push(load);
    return {
      load,
      set(l) {
        value = l;
        // One sample per second; three in a row for a step up.
        jest.advanceTimersByTime(3000);
      },
    };
  }

  it.each(ALGORITHMS)('%s: the factor applies to the key state the other levels wrote, as on the memory store', async (algorithm) => {
    const run = async (store: Store): Promise<[boolean, number, number, number][]> => {
      const clock = manualClock(T0);
      const signal = loadOf(0);
      const limiter = createLimiter({
        limit: 10,
        window: '1m',
        algorithm,
        store,
        prefix: uniquePrefix(`adaptive-${algorithm}`),
        now: clock.now,
        timeoutMs: 30_000,
        adaptive: signal.load,
      });
      const out: Decision[] = [];
      const take = async (n: number) => {
        for (let i = 0; i < n; i++) {
          out.push(await limiter.consume('k'));
          clock.advance(500);
        }
      };
      await take(4);
      signal.set(0.9);
      await take(3);
      signal.set(0.7);
      await take(2);
      signal.set(0);
      await take(3);
      return out.map((d) => [d.allowed, d.limit, d.remaining, d.retryAfterMs]);
    };
    const memory = await run(new MemoryStore());
    const redis = await run(new RedisStore({ client, clock: 'client' }));
    expect(redis).toEqual(memory);
    // The levels were all visited: 10, then 5, then 7 (0.75), then 10 again.
    expect(redis.map((d) => d[1])).toEqual([10, 10, 10, 10, 5, 5, 5, 7, 7, 10, 10, 10]);
    // Over the reduced limit: denied, never a negative remaining.
    expect(redis.some((d) => !d[0])).toBe(true);
    expect(redis.every((d) => d[2] >= 0)).toBe(true);
  });

  it('reset() forgets a key at every level, the blocked cache of each level included', async () => {
    const signal = loadOf(0.9);
    const limiter = createLimiter({
      limit: 4,
      window: '1h',
      store: new RedisStore({ client, blockedCache: true }),
      prefix: uniquePrefix('adaptive-reset'),
      timeoutMs: 30_000,
      adaptive: signal.load,
    });
    const allowed = async () => (await limiter.consume('k')).allowed;
    // Limit 2: the third is denied, and the denial cached by this level's store.
    expect([await allowed(), await allowed(), await allowed()]).toEqual([true, true, false]);
    signal.set(0);
    expect(await allowed()).toBe(true);
    await limiter.reset('k');
    signal.set(0.9);
    expect([await allowed(), await allowed(), await allowed()]).toEqual([true, true, false]);
  });

  it('two processes on one key: each applies its own factor to the shared count', async () => {
    const prefix = uniquePrefix('adaptive-shared');
    const make = (load: AdaptiveLoad): Limiter =>
      createLimiter({ limit: 10, window: '1h', store: new RedisStore({ client }), prefix, timeoutMs: 30_000, adaptive: load });
    const loaded = make(loadOf(0.9).load);
    const idle = make(loadOf(0).load);
    for (let i = 0; i < 4; i++) expect((await idle.consume('k')).allowed).toBe(true);
    const a = await loaded.consume('k');
    expect([a.allowed, a.limit, a.remaining]).toEqual([true, 5, 0]);
    const b = await loaded.consume('k');
    expect([b.allowed, b.limit, b.remaining]).toEqual([false, 5, 0]);
    // The idle process still sees its full limit over the same 5 used units.
    const c = await idle.consume('k');
    expect([c.allowed, c.limit, c.remaining]).toEqual([true, 10, 4]);
  });
});
