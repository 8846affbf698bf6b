import { createLimiter, isConfigError, MemoryStore, type Store } from '@ratekeeper/core';

describe('limiter.consumeSync', () => {
  it('decides in the same tick on the memory store, with the same numbers as consume', async () => {
    let t = 1_000_000;
    const now = () => t;
    const sync = createLimiter({ limit: 3, window: '1s', algorithm: 'fixed-window', now });
    const async = createLimiter({ limit: 3, window: '1s', algorithm: 'fixed-window', now });
    for (let i = 0; i < 5; i++) {
      const d = sync.consumeSync('k');
      expect(d).not.toBeInstanceOf(Promise);
      const e = await async.consume('k');
      expect({ ...d, rules: undefined, rule: undefined }).toEqual({ ...e, rules: undefined, rule: undefined });
    }
    t += 1000;
    expect(sync.consumeSync('k', { cost: 3 })).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('works with a MemoryStore as onStoreError, and answers by policy without a promise', () => {
    const failing: Store & { synchronous: true } = {
      synchronous: true,
      bind: () => ({
        consume: () => {
          throw new Error('down');
        },
        peek: () => {
          throw new Error('down');
        },
        refund: () => {},
        reset: () => {},
      }),
    };
    const errors: unknown[] = [];
    const limiter = createLimiter({ limit: 1, window: '1m', store: failing, onStoreError: 'deny', onError: (e) => errors.push(e) });
    expect(limiter.consumeSync('k')).toMatchObject({ allowed: false });
    expect(errors).toHaveLength(1);
    const insured = createLimiter({ limit: 1, window: '1m', store: failing, onStoreError: new MemoryStore(), onError: () => {} });
    expect(insured.consumeSync('k').allowed).toBe(true);
    expect(insured.consumeSync('k').allowed).toBe(false);
  });

  it('throws a ConfigError naming the store when the store answers asynchronously', () => {
    const asyncStore: Store = {
      bind: () => ({
        consume: () => Promise.resolve([0, 1, 0, 0, 0]),
        peek: () => Promise.resolve([0, 1, 0, 0, 0]),
        refund: () => Promise.resolve(),
        reset: () => Promise.resolve(),
      }),
    };
    const limiter = createLimiter({ limit: 1, window: '1m', store: asyncStore });
    let thrown: unknown;
    try {
      limiter.consumeSync('k');
    } catch (e) {
      thrown = e;
    }
    expect(isConfigError(thrown)).toBe(true);
    expect(String((thrown as Error).message)).toMatch(/consumeSync/);
  });

  it('validates cost and key like consume, by throwing', () => {
    const limiter = createLimiter({ limit: 1, window: '1m' });
    expect(() => limiter.consumeSync('k', { cost: 0 })).toThrow(/cost/);
    expect(() => limiter.consumeSync(1 as unknown as string)).toThrow(/key/);
  });
});
