import { createLimiter, isRateLimitError, throttle } from '@ratekeeper/core';

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const now = () => Date.now();

describe('throttle', () => {
  it('calls fn only when allowed, in call order, with its arguments and this', async () => {
    const calls: Array<{ t: number; args: [number, string] }> = [];
    const start = Date.now();
    const target = {
      factor: 3,
      work(n: number, s: string) {
        calls.push({ t: Date.now() - start, args: [n, s] });
        return `${s}${n * this.factor}`;
      },
    };
    const work = throttle(target.work, { limit: 2, window: '1s', algorithm: 'token-bucket', now });
    const results = [1, 2, 3, 4].map((n) => work.call(target, n, 'x'));
    await jest.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => c.t)).toEqual([0, 0]);
    await jest.advanceTimersByTimeAsync(1000);
    await expect(Promise.all(results)).resolves.toEqual(['x3', 'x6', 'x9', 'x12']);
    expect(calls).toEqual([
      { t: 0, args: [1, 'x'] },
      { t: 0, args: [2, 'x'] },
      { t: 500, args: [3, 'x'] },
      { t: 1000, args: [4, 'x'] },
    ]);
  });

  it('keys per argument: one tenant waiting does not hold back another', async () => {
    const seen: string[] = [];
    const query = throttle(async (tenant: string, q: string) => seen.push(`${tenant}:${q}`), {
      limit: 1,
      window: '1s',
      algorithm: 'fixed-window',
      key: (tenant) => tenant,
      now,
    });
    const all = [query('a', '1'), query('a', '2'), query('b', '1')];
    await jest.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['a:1', 'b:1']);
    await jest.advanceTimersByTimeAsync(1000);
    await Promise.all(all);
    expect(seen).toEqual(['a:1', 'b:1', 'a:2']);
  });

  it('wait: false throws RateLimitError immediately and does not call fn', async () => {
    const fn = jest.fn(async () => 'ok');
    const once = throttle(fn, { limit: 1, window: '1m', wait: false, now });
    await expect(once()).resolves.toBe('ok');
    const error = await once().catch((e: unknown) => e);
    expect(isRateLimitError(error)).toBe(true);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('shares a given limiter and takes a per-call cost', async () => {
    const limiter = createLimiter({ limit: 10, window: '1m', algorithm: 'fixed-window', now });
    const batch = throttle((items: string[]) => items.length, { limiter, key: 'batches', cost: (items) => items.length });
    await expect(batch(['a', 'b', 'c'])).resolves.toBe(3);
    expect((await limiter.peek('batches')).remaining).toBe(7);
    expect(batch.limiter).toBe(limiter);
  });

  it('refundIf returns the quota of failed calls', async () => {
    const limiter = createLimiter({ limit: 3, window: '1m', algorithm: 'fixed-window', now });
    let status = 500;
    const call = throttle(async () => ({ status }), {
      limiter,
      refundIf: (o) => o.status === 'rejected' || o.value.status >= 500,
    });
    await call();
    expect((await limiter.peek('throttle')).remaining).toBe(3);
    status = 200;
    await call();
    expect((await limiter.peek('throttle')).remaining).toBe(2);
    const failing = throttle(
      async () => {
        throw new Error('network');
      },
      { limiter, refundIf: (o) => o.status === 'rejected' },
    );
    await expect(failing()).rejects.toThrow('network');
    expect((await limiter.peek('throttle')).remaining).toBe(2);
  });

  it('withHandle resolves to the value and a refund handle', async () => {
    const limiter = createLimiter({ limit: 2, window: '1m', algorithm: 'fixed-window', now });
    const get = throttle(async (n: number) => n * 2, { limiter });
    const { value, decision, refund } = await get.withHandle(21);
    expect(value).toBe(42);
    expect(decision.remaining).toBe(1);
    await refund();
    await refund();
    expect((await limiter.peek('throttle')).remaining).toBe(2);
  });

  it('an aborted signal cancels waiting calls without calling fn', async () => {
    const controller = new AbortController();
    const fn = jest.fn(async () => 'ok');
    const t = throttle(fn, { limit: 1, window: '1m', signal: controller.signal, now });
    await t();
    const waiting = t();
    await jest.advanceTimersByTimeAsync(100);
    controller.abort(new Error('shutdown'));
    await expect(waiting).rejects.toThrow('shutdown');
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('rejects bad options at creation', () => {
    const fn = async () => 1;
    expect(() => throttle(fn, { limit: 1, window: '1s', wait: false, maxWaitMs: 5 })).toThrow('`maxWaitMs`');
    expect(() => throttle(fn, { limit: 0, window: '1s' })).toThrow('Expected `limit` to be a positive integer, got 0');
    const limiter = createLimiter({ limit: 1, window: '1s' });
    expect(() => throttle(fn, { limiter, limit: 5 } as never)).toThrow('Expected `limit` to be undefined when `limiter` is given');
    expect(() => throttle(fn, { limit: 1, window: '1s', cost: 0 })).toThrow('`cost`');
  });
});
