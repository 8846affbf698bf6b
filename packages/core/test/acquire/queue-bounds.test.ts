import { getEventListeners } from 'node:events';
import { createLimiter, isRateLimitError, RateLimitError, throttle } from '@ratekeeper/core';
import { lineSize } from '../../src/acquire/acquire';
import { countingStore } from '../helpers/counting-store';

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const now = () => Date.now();
const N = 20_000;

describe('aborting many waiters', () => {
  it('20,000 waiters on one signal share one abort listener; aborting rejects them in order and leaves nothing', async () => {
    const limiter = createLimiter({ limit: 1, window: '1h', algorithm: 'fixed-window', now });
    await limiter.consume('k');
    const controller = new AbortController();
    const rejected: number[] = [];
    const all = Array.from({ length: N }, (_, i) => limiter.acquire('k', { signal: controller.signal }).catch(() => rejected.push(i)));
    await jest.advanceTimersByTimeAsync(0);
    // An EventTarget looks through its listeners to add or remove one: 20,000 of them would be 20,000² steps.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    expect(lineSize(limiter, 'k')).toEqual({ waiters: N, deadlines: 0 });
    controller.abort();
    await Promise.all(all);
    expect(rejected).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(lineSize(limiter, 'k')).toEqual({ waiters: 0, deadlines: 0 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('aborting 20,000 waiters one by one from the back of the line keeps the order of those left', async () => {
    const { store, calls } = countingStore();
    const limiter = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', store, now });
    await limiter.consume('k');
    const controllers = Array.from({ length: N }, () => new AbortController());
    const keep = new Set([0, N / 2, N - 1]);
    const granted: number[] = [];
    const all = controllers.map((c, i) =>
      limiter.acquire('k', { signal: c.signal, maxWaitMs: 3_600_000 }).then(
        () => granted.push(i),
        () => undefined,
      ),
    );
    await jest.advanceTimersByTimeAsync(0);
    const asked = calls.consume;
    for (let i = N - 1; i >= 0; i--) if (!keep.has(i)) controllers[i]?.abort();
    await jest.advanceTimersByTimeAsync(0);
    // Aborts remove waiters without asking the store, and the settled ones leave the deadline heap.
    expect(calls.consume).toBe(asked);
    expect(lineSize(limiter, 'k').waiters).toBe(3);
    expect(lineSize(limiter, 'k').deadlines).toBeLessThanOrEqual(2 * 3 + 16);
    await jest.advanceTimersByTimeAsync(3000);
    await Promise.all(all);
    expect(granted).toEqual([0, N / 2, N - 1]);
    expect(lineSize(limiter, 'k')).toEqual({ waiters: 0, deadlines: 0 });
  });

  it('refuses the queued waiters who cannot wait for the sleeping head, wherever they stand in line', async () => {
    const limiter = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now });
    await limiter.consume('k');
    const patience = [undefined, 5000, 500, undefined, 300, 2000, 999];
    const outcome: Array<string | undefined> = patience.map(() => undefined);
    const all = patience.map((maxWaitMs, i) =>
      limiter.acquire('k', maxWaitMs === undefined ? {} : { maxWaitMs }).then(
        () => {
          outcome[i] = `granted@${Date.now() - 1_700_000_000_000}`;
        },
        (e: RateLimitError) => {
          outcome[i] = `refused@${Date.now() - 1_700_000_000_000}:${e.retryAfterMs}`;
        },
      ),
    );
    // The head sleeps 1000 ms: 500, 300 and 999 of patience are refused at once; the rest keep their places.
    await jest.advanceTimersByTimeAsync(0);
    expect(outcome).toEqual([undefined, undefined, 'refused@0:1000', undefined, 'refused@0:1000', undefined, 'refused@0:1000']);
    await jest.advanceTimersByTimeAsync(4000);
    await Promise.all(all);
    // 2000 ms of patience cannot cover its turn at 3000 ms: refused when the one before it starts sleeping.
    expect(outcome).toEqual([
      'granted@1000',
      'granted@2000',
      'refused@0:1000',
      'granted@3000',
      'refused@0:1000',
      'refused@2000:1000',
      'refused@0:1000',
    ]);
  });
});

describe('maxQueue', () => {
  it('refuses at once with RateLimitError when that many requests already wait on the key', async () => {
    const limiter = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now });
    await limiter.consume('k');
    const queued = [1, 2, 3].map(() => limiter.acquire('k', { maxQueue: 3 }));
    await jest.advanceTimersByTimeAsync(200);
    let error: unknown;
    limiter.acquire('k', { maxQueue: 3 }).catch((e: unknown) => {
      error = e;
    });
    // No time passes: the refusal must not wait for the line to move.
    await jest.advanceTimersByTimeAsync(0);
    expect(isRateLimitError(error)).toBe(true);
    expect(error).toBeInstanceOf(RateLimitError);
    // The line moves when the sleeping head wakes, 800 ms from now.
    expect((error as RateLimitError).retryAfterMs).toBe(800);
    expect((error as RateLimitError).message).toContain('3 requests already wait for this key, the most maxQueue (3) allows');
    expect(jest.getTimerCount()).toBe(1);
    // Without maxQueue (or with a larger one) the line still grows: each request applies its own bound.
    const patient = limiter.acquire('k');
    const roomy = limiter.acquire('k', { maxQueue: 5 });
    await expect(limiter.acquire('k', { maxQueue: 5 })).rejects.toMatchObject({ code: 'ERR_RK_RATE_LIMITED', retryAfterMs: 800 });
    // Once the head is served there is room again.
    await jest.advanceTimersByTimeAsync(800);
    await expect(queued[0]).resolves.toMatchObject({ allowed: true });
    const later = limiter.acquire('k', { maxQueue: 5 });
    await jest.advanceTimersByTimeAsync(5000);
    await expect(Promise.all([...queued, patient, roomy, later])).resolves.toHaveLength(6);
  });

  it('counts requests the store has not answered yet; the refusal then says 0 ms', async () => {
    const limiter = createLimiter({ limit: 5, window: '1s', name: 'api', now });
    const first = limiter.acquire('k', { maxQueue: 1 });
    const error = (await limiter.acquire('k', { maxQueue: 1 }).catch((e: unknown) => e)) as RateLimitError;
    expect(error.retryAfterMs).toBe(0);
    expect(error.decision).toMatchObject({ allowed: false, rule: { name: 'api' } });
    await expect(first).resolves.toMatchObject({ allowed: true });
    // maxQueue 0: go only when nobody is in line.
    await expect(limiter.acquire('k', { maxQueue: 0 })).resolves.toMatchObject({ allowed: true });
  });

  it('throttle: a call that finds the line full throws and fn does not run', async () => {
    const fn = jest.fn(async (n: number) => n);
    const t = throttle(fn, { limit: 1, window: '1s', algorithm: 'token-bucket', maxQueue: 2, now });
    const results = [t(1), t(2)];
    const refused = await t(3).catch((e: unknown) => e);
    expect(isRateLimitError(refused)).toBe(true);
    await jest.advanceTimersByTimeAsync(1000);
    await expect(Promise.all(results)).resolves.toEqual([1, 2]);
    expect(fn.mock.calls).toEqual([[1], [2]]);
  });

  it('is validated', async () => {
    const limiter = createLimiter({ limit: 1, window: '1s', now });
    for (const bad of [-1, 1.5, Number.NaN, '2']) {
      await expect(limiter.acquire('k', { maxQueue: bad as number })).rejects.toMatchObject({ code: 'ERR_RK_CONFIG', option: 'maxQueue' });
    }
    await expect(limiter.acquire('k', { maxQueue: -1 })).rejects.toThrow(
      'Expected `maxQueue` to be a non-negative integer (or Infinity), got -1',
    );
    await expect(limiter.acquire('k', { maxQueue: Number.POSITIVE_INFINITY })).resolves.toMatchObject({ allowed: true });
    expect(() => throttle(async () => 1, { limit: 1, window: '1s', maxQueue: 0.5 })).toThrow('`maxQueue`');
  });
});
