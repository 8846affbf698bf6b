import { allOf, anyOf, type CompositeDecision, createLimiter, type Limiter, MemoryStore, type RateLimitError } from '@ratekeeper/core';

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const now = () => Date.now();
const remaining = async (l: Limiter, key = 'k') => (await l.peek(key)).remaining;

describe('allOf', () => {
  it('allows only when every member allows, and then charges all of them', async () => {
    const perSecond = createLimiter({ limit: 3, window: '1s', algorithm: 'fixed-window', now });
    const perMinute = createLimiter({ limit: 10, window: '1m', algorithm: 'fixed-window', now });
    const both = allOf(perSecond, perMinute);
    const d = await both.consume('k', { cost: 2 });
    expect(d.allowed).toBe(true);
    // The binding member is the one with the least left.
    expect(d.remaining).toBe(1);
    expect(d.rules.map((r) => r.rule.name)).toEqual(['3-in-1sec', '10-in-1min']);
    expect(await remaining(perSecond)).toBe(1);
    expect(await remaining(perMinute)).toBe(8);
  });

  it('loses no quota when one member refuses: the others are refunded', async () => {
    const a = createLimiter({ limit: 5, window: '1s', algorithm: 'token-bucket', now });
    const b = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now, store: new MemoryStore() });
    const both = allOf(a, b);
    expect((await both.consume('k')).allowed).toBe(true);
    for (let i = 0; i < 5; i++) {
      const d = await both.consume('k');
      expect(d.allowed).toBe(false);
      expect(d.retryAfterMs).toBe(1000);
      expect(d.members.map((m) => m?.allowed)).toEqual([true, false]);
    }
    // Five refusals took nothing from `a`: it holds exactly what the single success left.
    expect(await remaining(a)).toBe(4);
  });

  it('loses no quota while waiting: acquire retries allOf without draining the members', async () => {
    // `a` hardly refills, so any unit lost to a refused attempt would show.
    const a = createLimiter({ limit: 5, window: '1h', algorithm: 'token-bucket', now });
    const b = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now });
    const both = allOf(a, b);
    const attempts = jest.spyOn(b, 'consume');
    const start = Date.now();
    const times: number[] = [];
    const all = Array.from({ length: 3 }, () => both.acquire('k').then(() => times.push(Date.now() - start)));
    await jest.advanceTimersByTimeAsync(2000);
    await Promise.all(all);
    expect(times).toEqual([0, 1000, 2000]);
    // Refused attempts happened (each waiter's first try at its turn) ...
    expect(attempts.mock.calls.length).toBeGreaterThan(3);
    // ... yet `a` was charged exactly the three grants.
    expect(await remaining(a)).toBe(2);
    expect(await remaining(b)).toBe(0);
  });

  it('waits for the slowest refusing member', async () => {
    const a = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now });
    const b = createLimiter({ limit: 1, window: '3s', algorithm: 'token-bucket', now });
    const both = allOf(a, b);
    await both.consume('k');
    const d = await both.consume('k');
    expect(d.retryAfterMs).toBe(3000);
    expect(d.rule.name).toBe('1-in-3sec');
    await expect(both.acquire('k', { maxWaitMs: 2999 })).rejects.toMatchObject({ retryAfterMs: 3000 });
  });

  it('acquire().refund() gives each member its units back', async () => {
    const a = createLimiter({ limit: 5, window: '1m', algorithm: 'fixed-window', now });
    const b = createLimiter({ limit: 5, window: '1h', algorithm: 'fixed-window', now });
    const both = allOf(a, b);
    const got = await both.acquire('k', { cost: 3 });
    expect(await remaining(a)).toBe(2);
    await got.refund();
    expect(await remaining(a)).toBe(5);
    expect(await remaining(b)).toBe(5);
  });

  it('refund without a decision refunds every member', async () => {
    const a = createLimiter({ limit: 5, window: '1m', algorithm: 'fixed-window', now });
    const b = createLimiter({ limit: 5, window: '1m', algorithm: 'sliding-log', now });
    const both = allOf(a, b);
    const d = await both.consume('k', { cost: 2 });
    await both.refund('k', 2, { at: d.at });
    expect([await remaining(a), await remaining(b)]).toEqual([5, 5]);
  });

  it('peeks without consuming and can be nested', async () => {
    const a = createLimiter({ limit: 2, window: '1s', now });
    const b = createLimiter({ limit: 3, window: '1s', now });
    const c = createLimiter({ limit: 4, window: '1s', now });
    const nested = allOf(a, allOf(b, c));
    expect((await nested.peek('k')).allowed).toBe(true);
    await nested.consume('k', { cost: 2 });
    expect([await remaining(a), await remaining(b), await remaining(c)]).toEqual([0, 1, 2]);
    expect((await nested.peek('k')).allowed).toBe(false);
    expect(nested.rules).toHaveLength(3);
  });

  it('rejects when a member fails, after refunding the others', async () => {
    const a = createLimiter({ limit: 5, window: '1m', algorithm: 'fixed-window', now });
    const broken: Limiter = {
      rules: a.rules,
      now,
      consume: () => Promise.reject(new Error('boom')),
      consumeSync: (k) => a.consumeSync(k),
      peek: (k) => a.peek(k),
      refund: (k, c, o) => a.refund(k, c, o),
      reset: (k) => a.reset(k),
      acquire: (k, o) => a.acquire(k, o),
    };
    const both = allOf(a, broken);
    await expect(both.consume('k')).rejects.toThrow('boom');
    expect(await remaining(a)).toBe(5);
  });

  it('validates its members', () => {
    expect(() => allOf()).toThrow('Expected `allOf(...limiters)` to be at least one limiter');
    expect(() => allOf({} as Limiter)).toThrow('allOf(...limiters)[0]');
  });
});

describe('anyOf', () => {
  it('takes from the first member that allows, and only from it', async () => {
    const a = createLimiter({ limit: 1, window: '1m', algorithm: 'fixed-window', name: 'a', now });
    const b = createLimiter({ limit: 2, window: '1m', algorithm: 'fixed-window', name: 'b', now });
    const either = anyOf(a, b);
    const results: CompositeDecision[] = [];
    for (let i = 0; i < 4; i++) results.push(await either.consume('k'));
    expect(results.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(results.map((d) => d.rule.name)).toEqual(['a', 'b', 'b', 'a']);
    expect([await remaining(a), await remaining(b)]).toEqual([0, 0]);
  });

  it('waits for the member that frees up first', async () => {
    const a = createLimiter({ limit: 1, window: '3s', algorithm: 'token-bucket', now });
    const b = createLimiter({ limit: 1, window: '1s', algorithm: 'token-bucket', now });
    const either = anyOf(a, b);
    await either.consume('k');
    await either.consume('k');
    const start = Date.now();
    let at = -1;
    const p = either.acquire('k').then((d) => {
      at = Date.now() - start;
      return d;
    });
    await jest.advanceTimersByTimeAsync(1000);
    expect(at).toBe(1000);
    const got = await p;
    // The refund returns to the member that granted it (b), not to a.
    await got.refund();
    expect([await remaining(a), await remaining(b)]).toEqual([0, 1]);
  });

  it('refuses a refund it cannot attribute', async () => {
    const either = anyOf(createLimiter({ limit: 1, window: '1s', now }), createLimiter({ limit: 1, window: '1s', now }));
    const error = (await either.refund('k', 1).catch((e: unknown) => e)) as RateLimitError;
    expect(error.code).toBe('ERR_RK_CONFIG');
    const d = await either.consume('k');
    await expect(either.refund('k', 1, { decision: d })).resolves.toBeUndefined();
  });
});
