import { createLimiter, isRateLimitError, type LimiterOptions, RateLimitError } from '@ratekeeper/core';

// Fake timers drive every sleep; the limiter reads the same faked clock, so time only moves when we say.
beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const limiterOf = (o: LimiterOptions) => createLimiter({ now: () => Date.now(), ...o });

/** Records when each promise settled, relative to the start. */
function track<T>(p: Promise<T>, start: number, log: Array<{ i: number; t: number; ok: boolean }>, i: number): Promise<void> {
  return p.then(
    () => void log.push({ i, t: Date.now() - start, ok: true }),
    () => void log.push({ i, t: Date.now() - start, ok: false }),
  );
}

describe('limiter.acquire', () => {
  it('paces exactly: 10/s with burst 20 gives 20 at once, then one every 100 ms', async () => {
    for (const algorithm of ['token-bucket', 'gcra'] as const) {
      const limiter = limiterOf({ limit: 10, window: '1s', algorithm, burst: 20 });
      const start = Date.now();
      const log: Array<{ i: number; t: number; ok: boolean }> = [];
      const all = Array.from({ length: 30 }, (_, i) => track(limiter.acquire('api'), start, log, i));
      await jest.advanceTimersByTimeAsync(0);
      expect(log.length).toBe(20);
      await jest.advanceTimersByTimeAsync(1000);
      await Promise.all(all);
      expect(log.map((e) => e.i)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(log.map((e) => e.t)).toEqual([...Array<number>(20).fill(0), 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
      expect(log.every((e) => e.ok)).toBe(true);
    }
  });

  it('serves waiters first in, first out: a later small request never overtakes an earlier large one', async () => {
    const limiter = limiterOf({ limit: 10, window: '1s', algorithm: 'token-bucket' });
    await limiter.consume('k', { cost: 10 });
    const start = Date.now();
    const order: Array<{ i: number; t: number; ok: boolean }> = [];
    // Cost 8 needs 800 ms of refill; the cost-1 requests behind it would fit after 100 ms, but must not go first.
    const done = [
      track(limiter.acquire('k', { cost: 8 }), start, order, 0),
      track(limiter.acquire('k', { cost: 1 }), start, order, 1),
      track(limiter.acquire('k', { cost: 1 }), start, order, 2),
    ];
    await jest.advanceTimersByTimeAsync(799);
    expect(order).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(order).toEqual([{ i: 0, t: 800, ok: true }]);
    await jest.advanceTimersByTimeAsync(200);
    await Promise.all(done);
    expect(order).toEqual([
      { i: 0, t: 800, ok: true },
      { i: 1, t: 900, ok: true },
      { i: 2, t: 1000, ok: true },
    ]);
  });

  it('keeps separate lines per key', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'fixed-window' });
    await limiter.consume('a');
    const a = limiter.acquire('a');
    const b = limiter.acquire('b');
    await jest.advanceTimersByTimeAsync(0);
    await expect(b).resolves.toMatchObject({ allowed: true });
    let aDone = false;
    void a.then(() => {
      aDone = true;
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(aDone).toBe(false);
    await jest.advanceTimersByTimeAsync(1000);
    expect(aDone).toBe(true);
  });

  it('abort while waiting rejects with the reason, consumes nothing and lets the next waiter go', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'token-bucket' });
    await limiter.consume('k');
    const controller = new AbortController();
    const first = limiter.acquire('k', { signal: controller.signal });
    const second = limiter.acquire('k');
    await jest.advanceTimersByTimeAsync(500);
    const reason = new Error('user cancelled');
    controller.abort(reason);
    await expect(first).rejects.toBe(reason);
    // The aborted head's timer is gone: only the new head's sleep remains.
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(1);
    await jest.advanceTimersByTimeAsync(500);
    await expect(second).resolves.toMatchObject({ allowed: true });
    // The aborted request took nothing: exactly one unit was granted after the first.
    expect((await limiter.peek('k')).remaining).toBe(0);
    jest.advanceTimersByTime(1000);
    expect((await limiter.peek('k')).remaining).toBe(1);
  });

  it('an aborted waiter leaves no timer behind (nothing keeps the process alive)', async () => {
    const limiter = limiterOf({ limit: 1, window: '1h', algorithm: 'fixed-window' });
    await limiter.consume('k');
    const controller = new AbortController();
    const p = limiter.acquire('k', { signal: controller.signal });
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(1);
    controller.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await jest.advanceTimersByTimeAsync(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('an already aborted signal rejects without consuming', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s' });
    await expect(limiter.acquire('k', { signal: AbortSignal.abort('gone') })).rejects.toBe('gone');
    expect((await limiter.peek('k')).remaining).toBe(1);
  });

  it('aborting a queued (not head) waiter removes only it', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'token-bucket' });
    await limiter.consume('k');
    const controller = new AbortController();
    const head = limiter.acquire('k');
    const middle = limiter.acquire('k', { signal: controller.signal });
    const last = limiter.acquire('k');
    await jest.advanceTimersByTimeAsync(100);
    controller.abort();
    await expect(middle).rejects.toMatchObject({ name: 'AbortError' });
    await jest.advanceTimersByTimeAsync(900);
    await expect(head).resolves.toMatchObject({ allowed: true });
    const start = Date.now();
    let lastAt = -1;
    void last.then(() => {
      lastAt = Date.now() - start;
    });
    await jest.advanceTimersByTimeAsync(1000);
    expect(lastAt).toBe(1000);
  });

  it('rejects at once, without sleeping, when the wait would exceed maxWaitMs', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'token-bucket' });
    await limiter.consume('k');
    jest.advanceTimersByTime(200);
    const p = limiter.acquire('k', { maxWaitMs: 799 });
    // No timer advance at all: the rejection must come from the first answer of the store.
    const error = await p.catch((e: unknown) => e);
    expect(isRateLimitError(error)).toBe(true);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).retryAfterMs).toBe(800);
    expect((error as RateLimitError).decision.allowed).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    // Exactly the needed wait is accepted.
    const ok = limiter.acquire('k', { maxWaitMs: 800 });
    await jest.advanceTimersByTimeAsync(800);
    await expect(ok).resolves.toMatchObject({ allowed: true });
  });

  it('a queued waiter is refused as soon as the line shows it cannot start in time', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'token-bucket' });
    await limiter.consume('k');
    const start = Date.now();
    const head = limiter.acquire('k');
    // Queued before the head has its answer: refused when the head goes to sleep for 1000 ms.
    const early = limiter.acquire('k', { maxWaitMs: 500 });
    await expect(early).rejects.toMatchObject({ code: 'ERR_RK_RATE_LIMITED', retryAfterMs: 1000 });
    expect(Date.now()).toBe(start);
    // Arriving while the head sleeps: refused on the spot.
    const impatient = await limiter.acquire('k', { maxWaitMs: 999 }).catch((e: unknown) => e);
    expect((impatient as RateLimitError).retryAfterMs).toBe(1000);
    // Patient enough for the head's wait, not for its own turn after it: refused when it reaches the head.
    let settledAt = -1;
    const queued = limiter.acquire('k', { maxWaitMs: 1500 });
    queued
      .catch(() => undefined)
      .finally(() => {
        settledAt = Date.now() - start;
      });
    await jest.advanceTimersByTimeAsync(1000);
    await expect(head).resolves.toMatchObject({ allowed: true });
    await expect(queued).rejects.toMatchObject({ retryAfterMs: 1000 });
    expect(settledAt).toBe(1000);
    await expect(queued).rejects.toThrow('a wait of 2000 ms in all, longer than maxWaitMs (1500 ms)');
  });

  it('rejects at once when the cost can never pass (retryAfterMs Infinity)', async () => {
    const limiter = limiterOf({ limit: 5, window: '1s' });
    const error = await limiter.acquire('k', { cost: 6 }).catch((e: unknown) => e);
    expect((error as RateLimitError).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('reports each wait through onWait with the store-computed duration', async () => {
    const limiter = limiterOf({ limit: 2, window: '1s', algorithm: 'gcra' });
    await limiter.consume('k', { cost: 2 });
    const waits: number[] = [];
    const p = limiter.acquire('k', { cost: 2, onWait: (ms) => waits.push(ms) });
    await jest.advanceTimersByTimeAsync(1000);
    await expect(p).resolves.toMatchObject({ allowed: true });
    expect(waits).toEqual([1000]);
  });

  it('sleeps again when someone else took the quota meanwhile (as another process would)', async () => {
    const limiter = limiterOf({ limit: 1, window: '1s', algorithm: 'fixed-window' });
    jest.setSystemTime(Math.ceil(Date.now() / 1000) * 1000);
    await limiter.consume('k');
    const waits: number[] = [];
    let done = false;
    const p = limiter.acquire('k', { onWait: (ms) => waits.push(ms) }).then((d) => {
      done = true;
      return d;
    });
    await jest.advanceTimersByTimeAsync(999);
    // Outside the queue (another process sharing the store) the next window's unit is taken first.
    jest.advanceTimersByTime(1);
    expect((await limiter.consume('k')).allowed).toBe(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    await jest.advanceTimersByTimeAsync(1000);
    await expect(p).resolves.toMatchObject({ allowed: true });
    expect(waits).toEqual([1000, 1000]);
  });

  it('refund() returns the quota exactly once', async () => {
    const limiter = limiterOf({ limit: 3, window: '1s', algorithm: 'fixed-window' });
    const a = await limiter.acquire('k', { cost: 2 });
    expect(a.remaining).toBe(1);
    await a.refund();
    await a.refund();
    expect((await limiter.peek('k')).remaining).toBe(3);
  });

  it('validates its options', async () => {
    const limiter = limiterOf({ limit: 3, window: '1s' });
    await expect(limiter.acquire('k', { cost: 0 })).rejects.toMatchObject({ code: 'ERR_RK_CONFIG', option: 'cost' });
    await expect(limiter.acquire('k', { maxWaitMs: -1 })).rejects.toMatchObject({ option: 'maxWaitMs' });
    await expect(limiter.acquire('k', { signal: {} as AbortSignal })).rejects.toMatchObject({ option: 'signal' });
  });
});
