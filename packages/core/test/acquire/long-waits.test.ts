import { createLimiter, rateLimited, throttle } from '@ratekeeper/core';
import { countingStore, DAY_MS, MAX_TIMER_MS, timerDelays } from '../helpers/counting-store';

// Waits beyond a timer's range (2^31 − 1 ms, about 24.8 days): Node, and Jest's fake timers alike, clamp
// a longer delay to 1 ms, so a single setTimeout would wake the waiter every millisecond to ask the store.
beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

const now = () => Date.now();
const THIRTY_DAYS = 30 * DAY_MS;

describe('waits longer than a timer can hold', () => {
  it('a 30-day wait sleeps in two slices, asks the store only at the end, and is granted exactly on time', async () => {
    const { store, calls } = countingStore();
    const limiter = createLimiter({ limit: 1, window: '30d', algorithm: 'token-bucket', store, now });
    await limiter.consume('k');
    const delays = timerDelays();
    const waits: number[] = [];
    const start = Date.now();
    let grantedAt = -1;
    const p = limiter.acquire('k', { onWait: (ms) => waits.push(ms) }).then((d) => {
      grantedAt = Date.now() - start;
      return d;
    });
    await jest.advanceTimersByTimeAsync(1000);
    // One ask at the start; no spinning on a clamped timer.
    expect(calls.consume).toBe(2);
    expect(delays().every((ms) => ms <= MAX_TIMER_MS)).toBe(true);
    expect(waits).toEqual([THIRTY_DAYS]);
    // The first slice ends: the next one is armed, the store is not asked.
    await jest.advanceTimersByTimeAsync(MAX_TIMER_MS - 1000);
    expect(calls.consume).toBe(2);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(THIRTY_DAYS - MAX_TIMER_MS - 1);
    expect(grantedAt).toBe(-1);
    expect(calls.consume).toBe(2);
    await jest.advanceTimersByTimeAsync(1);
    await expect(p).resolves.toMatchObject({ allowed: true });
    expect(grantedAt).toBe(THIRTY_DAYS);
    expect(calls.consume).toBe(3);
    // Two timers in 30 days: at most two wake-ups per 24.8 days.
    expect(delays()).toEqual([MAX_TIMER_MS, THIRTY_DAYS - MAX_TIMER_MS]);
    expect(jest.getTimerCount()).toBe(0);
    expect(waits).toEqual([THIRTY_DAYS]);
  });

  it('a 40-day blockFor is waited out the same way', async () => {
    const { store, calls } = countingStore();
    const limiter = createLimiter({ limit: 1, window: '1s', algorithm: 'fixed-window', blockFor: '40d', store, now });
    await limiter.consume('k');
    const denied = await limiter.consume('k');
    expect(denied.retryAfterMs).toBe(40 * DAY_MS);
    const delays = timerDelays();
    const start = Date.now();
    let grantedAt = -1;
    const p = limiter.acquire('k').then(() => {
      grantedAt = Date.now() - start;
    });
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls.consume).toBe(3);
    await jest.advanceTimersByTimeAsync(40 * DAY_MS - 1001);
    expect(grantedAt).toBe(-1);
    await jest.advanceTimersByTimeAsync(1);
    await p;
    expect(grantedAt).toBe(40 * DAY_MS);
    expect(calls.consume).toBe(4);
    expect(delays()).toEqual([MAX_TIMER_MS, 40 * DAY_MS - MAX_TIMER_MS]);
  });

  it('aborting during a slice that is not the last leaves no timer and consumes nothing', async () => {
    const { store, calls } = countingStore();
    const limiter = createLimiter({ limit: 1, window: '30d', algorithm: 'token-bucket', store, now });
    await limiter.consume('k');
    const controller = new AbortController();
    const p = limiter.acquire('k', { signal: controller.signal });
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls.consume).toBe(2);
    await jest.advanceTimersByTimeAsync(MAX_TIMER_MS);
    expect(calls.consume).toBe(2);
    expect(jest.getTimerCount()).toBe(1);
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(THIRTY_DAYS);
    expect((await limiter.peek('k')).remaining).toBe(1);
  });

  it('maxWaitMs still answers at once: a 30-day wait against 29 days of patience rejects without a timer', async () => {
    const { store, calls } = countingStore();
    const limiter = createLimiter({ limit: 1, window: '30d', algorithm: 'token-bucket', store, now });
    await limiter.consume('k');
    await expect(limiter.acquire('k', { maxWaitMs: 29 * DAY_MS })).rejects.toMatchObject({
      code: 'ERR_RK_RATE_LIMITED',
      retryAfterMs: THIRTY_DAYS,
    });
    expect(jest.getTimerCount()).toBe(0);
    expect(calls.consume).toBe(2);
  });

  it('throttle: the second call of a 1-per-30-days function runs 30 days later, after two timers', async () => {
    const { store, calls } = countingStore();
    const start = Date.now();
    const ran: number[] = [];
    const monthly = throttle(async () => ran.push(Date.now() - start), { limit: 1, window: '30d', algorithm: 'gcra', store, now });
    const delays = timerDelays();
    const both = Promise.all([monthly(), monthly()]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(ran).toEqual([0]);
    expect(calls.consume).toBe(2);
    await jest.advanceTimersByTimeAsync(THIRTY_DAYS - 1000);
    await both;
    expect(ran).toEqual([0, THIRTY_DAYS]);
    expect(calls.consume).toBe(3);
    expect(delays()).toEqual([MAX_TIMER_MS, THIRTY_DAYS - MAX_TIMER_MS]);
  });

  it('@rateLimited: a method limited to once per 30 days waits in slices too', async () => {
    const { store, calls } = countingStore();
    const start = Date.now();
    class Report {
      @rateLimited({ limit: 1, window: '30d', algorithm: 'token-bucket', store, now })
      async send(): Promise<number> {
        return Date.now() - start;
      }
    }
    const report = new Report();
    const delays = timerDelays();
    const both = Promise.all([report.send(), report.send()]);
    await jest.advanceTimersByTimeAsync(1000);
    expect(calls.consume).toBe(2);
    await jest.advanceTimersByTimeAsync(THIRTY_DAYS - 1000);
    await expect(both).resolves.toEqual([0, THIRTY_DAYS]);
    expect(delays()).toEqual([MAX_TIMER_MS, THIRTY_DAYS - MAX_TIMER_MS]);
  });
});
