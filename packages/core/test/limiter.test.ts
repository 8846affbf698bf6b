import {
  type BoundStore,
  ConfigError,
  createLimiter,
  type Decision,
  isConfigError,
  isStoreError,
  type LimiterOptions,
  type LimiterStoreOptions,
  MemoryStore,
  type RawResult,
  type Store,
  StoreError,
} from '@ratekeeper/core';

const T0 = 1_700_000_000_000;

/** Asserts `fn` throws a ConfigError whose message names `option` and shows `shown` (the value). */
function expectConfigError(fn: () => unknown, option: string, shown: string): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  expect(isConfigError(caught)).toBe(true);
  const error = caught as ConfigError;
  expect(error.option).toBe(option);
  expect(error.message).toContain(`\`${option}\``);
  expect(error.message).toContain(shown);
  expect(error.code).toBe('ERR_RK_CONFIG');
  return error;
}

const make = (options: Record<string, unknown>) => () => createLimiter(options as unknown as LimiterOptions);

describe('createLimiter option validation', () => {
  it.each([
    [0, '0'],
    [-1, '-1'],
    [1.5, '1.5'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    ['10', '"10"'],
  ])('limit %p is rejected', (limit, shown) => {
    const error = expectConfigError(make({ limit, window: 1000 }), 'limit', `got ${shown}`);
    expect(error.message).toContain('positive integer');
    expectConfigError(
      make({
        rules: [
          { limit: 5, window: 1000 },
          { limit, window: 1000 },
        ],
      }),
      'rules[1].limit',
      `got ${shown}`,
    );
  });

  it.each([
    [0, '0'],
    ['abc', '"abc"'],
    [-5, '-5'],
    [1.5, '1.5'],
    ['0.5ms', '"0.5ms"'],
    ['10 minutes', '"10 minutes"'],
    [null, 'null'],
    ['2y', '"2y"'],
    ['400d', '"400d"'],
  ])('window %p is rejected', (window, shown) => {
    expectConfigError(make({ limit: 1, window }), 'window', `got ${shown}`);
  });

  it('a missing window is rejected', () => {
    expectConfigError(make({ limit: 1 }), 'window', 'got undefined');
  });

  it('an unknown algorithm is rejected, listing the known ones', () => {
    const error = expectConfigError(make({ limit: 1, window: 1000, algorithm: 'leaky-bucket' }), 'algorithm', 'got "leaky-bucket"');
    expect(error.message).toContain("'sliding-window'");
  });

  it.each([
    [0, '0'],
    [-2, '-2'],
    [2.5, '2.5'],
  ])('burst %p is rejected', (burst, shown) => {
    expectConfigError(make({ limit: 5, window: 1000, algorithm: 'token-bucket', burst }), 'burst', `got ${shown}`);
    expectConfigError(make({ limit: 5, window: 1000, algorithm: 'gcra', burst }), 'burst', `got ${shown}`);
  });

  it.each(['fixed-window', 'sliding-window', 'sliding-log', undefined])('burst with a window algorithm (%p) is rejected', (algorithm) => {
    expectConfigError(make({ limit: 5, window: 1000, algorithm, burst: 10 }), 'burst', 'got 10');
  });

  it('unknown option names are rejected at the top level and inside rules', () => {
    // Incumbents' names get a hint toward ratekeeper's instead of the list of options.
    expectConfigError(make({ limit: 5, window: 1000, windowMs: 1000 }), 'windowMs', 'ratekeeper calls it `window`');
    expectConfigError(make({ limit: 5, window: 1000, max: 5 }), 'max', 'ratekeeper calls it `limit`');
    expectConfigError(
      make({
        rules: [
          { limit: 5, window: 1000 },
          { limit: 5, window: 2000, lmit: 3 },
        ],
      }),
      'rules[1].lmit',
      'unknown option',
    );
  });

  it('rules together with rule fields are rejected', () => {
    expectConfigError(make({ rules: [{ limit: 5, window: 1000 }], limit: 10 }), 'limit', 'got 10');
    expectConfigError(make({ rules: [{ limit: 5, window: 1000 }], window: '1m' }), 'window', 'got "1m"');
  });

  it('empty or missing rules are rejected', () => {
    expectConfigError(make({ rules: [] }), 'rules', 'an array of length 0');
    expectConfigError(make({}), 'rules', 'got undefined');
  });

  it('duplicate rule names are rejected', () => {
    expectConfigError(
      make({
        rules: [
          { limit: 5, window: 1000, name: 'api' },
          { limit: 50, window: 60_000, name: 'api' },
        ],
      }),
      'rules[1].name',
      'got "api"',
    );
    // Two unnamed rules with the same algorithm, limit and window would share state too.
    expectConfigError(
      make({
        rules: [
          { limit: 5, window: 1000 },
          { limit: 5, window: '1s' },
        ],
      }),
      'rules[1].name',
      'got "sw-5-1000"',
    );
  });

  it('sliding-log rejects limits above its documented cap', () => {
    expect(() => createLimiter({ limit: 10_000, window: '1h', algorithm: 'sliding-log' })).not.toThrow();
    const error = expectConfigError(make({ limit: 10_001, window: '1h', algorithm: 'sliding-log' }), 'limit', 'got 10001');
    expect(error.message).toContain('10000');
  });

  it.each([
    ['store', {}, 'a object'],
    ['prefix', 5, 'got 5'],
    ['onStoreError', 'ignore', 'got "ignore"'],
    ['timeoutMs', 0, 'got 0'],
    ['timeoutMs', Number.NaN, 'got NaN'],
    ['retryStoreAfterMs', -1, 'got -1'],
    ['now', 123, 'got 123'],
    ['onError', 'log', 'got "log"'],
    ['onRecover', true, 'got true'],
    ['blockFor', 'soon', 'got "soon"'],
    ['name', 'has space', 'got "has space"'],
  ])('%s = %p is rejected', (option, value, shown) => {
    const path = option;
    expectConfigError(make({ limit: 5, window: 1000, [option]: value }), path, shown);
  });

  it('a non-object is rejected', () => {
    expectConfigError(make(null as unknown as Record<string, unknown>), 'options', 'got null');
  });
});

describe('durations and rules', () => {
  it.each([
    ['15m', 900_000],
    ['1h', 3_600_000],
    [500, 500],
    ['500ms', 500],
    ['1s', 1000],
    ['1.5s', 1500],
    ['1d', 86_400_000],
  ])('window %p is %i ms', (window, ms) => {
    const limiter = createLimiter({ limit: 10, window: window as NonNullable<LimiterOptions['window']> });
    expect(limiter.rules[0]?.windowMs).toBe(ms);
  });

  it('resolves defaults: sliding-window, burst = limit, derived id and name', () => {
    const [rule] = createLimiter({ limit: 100, window: '15m' }).rules;
    expect(rule).toEqual({
      id: 'sw-100-900000',
      name: '100-in-15min',
      limit: 100,
      windowMs: 900_000,
      algorithm: 'sliding-window',
      burst: 100,
      blockForMs: 0,
    });
    const [bucket] = createLimiter({ limit: 10, window: '1s', algorithm: 'gcra', burst: 20, blockFor: '1m' }).rules;
    expect(bucket).toMatchObject({ id: 'gcra-10-1000-b20', burst: 20, blockForMs: 60_000 });
  });
});

describe('consume/peek/refund arguments', () => {
  const limiter = createLimiter({ limit: 5, window: 1000, now: () => T0 });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('cost %p is rejected', async (cost) => {
    await expect(limiter.consume('k', { cost })).rejects.toMatchObject({ code: 'ERR_RK_CONFIG', option: 'cost' });
    await expect(limiter.refund('k', cost)).rejects.toMatchObject({ code: 'ERR_RK_CONFIG', option: 'cost' });
    expect((await limiter.peek('k')).remaining).toBe(5);
  });

  it('a non-string key is rejected', async () => {
    await expect(limiter.consume(5 as unknown as string)).rejects.toMatchObject({ option: 'key' });
    await expect(limiter.peek(undefined as unknown as string)).rejects.toMatchObject({ option: 'key' });
  });
});

describe('Decision', () => {
  it('carries the binding rule’s numbers, every rule’s view and the decision time', async () => {
    let t = T0 + 250;
    const limiter = createLimiter({ limit: 2, window: '1s', algorithm: 'fixed-window', now: () => t });
    const d = await limiter.consume('k');
    expect(d).toMatchObject({ allowed: true, limit: 2, remaining: 1, resetMs: 750, retryAfterMs: 0, at: T0 + 250 });
    expect(d.error).toBeUndefined();
    expect(d.rule).toBe(limiter.rules[0]);
    expect(d.rules).toHaveLength(1);
    expect(d.rules[0]).toMatchObject({ rule: limiter.rules[0], allowed: true, limit: 2, remaining: 1, resetMs: 750, retryAfterMs: 0 });
    // Serialisable: the one rule's view is a plain object of its own, not the decision.
    const json = JSON.parse(JSON.stringify(d)) as Record<string, unknown>;
    expect(json).toMatchObject({ allowed: true, limit: 2, remaining: 1, resetMs: 750, retryAfterMs: 0, at: T0 + 250 });
    expect(json.rules).toEqual([{ rule: { ...limiter.rules[0] }, allowed: true, limit: 2, remaining: 1, resetMs: 750, retryAfterMs: 0 }]);
    await limiter.consume('k');
    t += 100;
    const denied = await limiter.consume('k');
    expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 650, resetMs: 650, at: T0 + 350 });
  });

  it('reports a fractional clock as whole milliseconds', async () => {
    const limiter = createLimiter({ limit: 2, window: '1s', now: () => T0 + 0.75 });
    expect((await limiter.consume('k')).at).toBe(T0);
  });
});

/** A store whose every call fails, hangs or delegates to a MemoryStore, switchable at run time. */
class FlakyStore implements Store {
  mode: 'reject' | 'throw' | 'hang' | 'late-reject' | 'ok' = 'reject';
  calls = 0;
  readonly #inner = new MemoryStore();

  bind(rules: Parameters<Store['bind']>[0], prefix: string): BoundStore {
    const inner = this.#inner.bind(rules, prefix);
    const run = <T>(ok: () => T): T | Promise<T> => {
      this.calls++;
      switch (this.mode) {
        case 'ok':
          return Promise.resolve(ok());
        case 'reject':
          return Promise.reject(new Error('connection refused'));
        case 'throw':
          throw new Error('client closed');
        case 'hang':
          return new Promise<T>(() => {});
        case 'late-reject':
          return new Promise<T>((_, reject) => setTimeout(() => reject(new Error('too late')), 1_000));
      }
    };
    return {
      consume: (key: string, cost: number, now: number) => run(() => Array.from(inner.consume(key, cost, now) as RawResult)),
      peek: (key: string, now: number) => run(() => Array.from(inner.peek(key, now) as RawResult)),
      refund: (key: string, cost: number, now: number, at: number) => run(() => void inner.refund(key, cost, now, at)),
      reset: (key: string | undefined) => run(() => void inner.reset(key)),
    };
  }
}

describe('onStoreError', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.off('unhandledRejection', onUnhandled));
  afterEach(async () => {
    // Give any stray rejection a turn of the event loop to surface.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    jest.useRealTimers();
  });

  function setup(extra: Partial<LimiterStoreOptions> = {}) {
    const store = new FlakyStore();
    const errors: StoreError[] = [];
    let recovered = 0;
    const clock = { t: T0 };
    const limiter = createLimiter({
      limit: 2,
      window: '1m',
      store,
      now: () => clock.t,
      onError: (e) => errors.push(e),
      onRecover: () => recovered++,
      ...extra,
    });
    return { store, errors, clock, limiter, recovered: () => recovered };
  }

  it.each(['reject', 'throw'] as const)("'allow' (the default) fails open with `error` set (store %s)", async (mode) => {
    const { store, errors, limiter } = setup();
    store.mode = mode;
    const d = await limiter.consume('k');
    expect(d.allowed).toBe(true);
    expect(isStoreError(d.error)).toBe(true);
    expect(d.error).toBeInstanceOf(StoreError);
    expect(d.error?.operation).toBe('consume');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(d.error);
    expect((errors[0]?.cause as Error | undefined)?.message).toBe(mode === 'reject' ? 'connection refused' : 'client closed');
    const p = await limiter.peek('k');
    expect(p.allowed).toBe(true);
    expect(p.error).toBeDefined();
  });

  it("'deny' fails closed with `error` set", async () => {
    const { store, errors, limiter } = setup({ onStoreError: 'deny' });
    store.mode = 'reject';
    const d = await limiter.consume('k');
    expect(d).toMatchObject({ allowed: false, remaining: 0 });
    expect(d.retryAfterMs).toBeGreaterThan(0);
    expect(isStoreError(d.error)).toBe(true);
    expect(errors).toHaveLength(1);
    expect((await limiter.peek('k')).allowed).toBe(false);
  });

  it('a fallback store decides until the primary answers again (retryStoreAfterMs), then onRecover fires once', async () => {
    const fallback = new MemoryStore();
    const { store, errors, clock, limiter, recovered } = setup({ onStoreError: fallback, retryStoreAfterMs: 1000 });
    store.mode = 'reject';
    const first = await limiter.consume('k');
    expect(first).toMatchObject({ allowed: true, remaining: 1 });
    expect(first.error).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(store.calls).toBe(1);
    // While the primary is presumed down it is not asked at all: the fallback keeps counting.
    store.mode = 'ok';
    expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
    clock.t = T0 + 999;
    expect((await limiter.consume('k')).allowed).toBe(false);
    await limiter.refund('k');
    expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.calls).toBe(1);
    expect(recovered()).toBe(0);
    // Retry time: the primary (which saw none of that traffic) answers and takes over again.
    clock.t = T0 + 1000;
    expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 1 });
    expect(store.calls).toBe(2);
    expect(recovered()).toBe(1);
    expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
    expect(recovered()).toBe(1);
    expect(errors).toHaveLength(1);
  });

  it("after retryStoreAfterMs a still-failing store is asked again and reported again ('allow')", async () => {
    const { store, errors, clock, limiter, recovered } = setup({ retryStoreAfterMs: 500 });
    store.mode = 'reject';
    await limiter.consume('k');
    clock.t = T0 + 499;
    const waiting = await limiter.consume('k');
    expect(waiting.allowed).toBe(true);
    expect(isStoreError(waiting.error)).toBe(true);
    expect(store.calls).toBe(1);
    clock.t = T0 + 500;
    await limiter.consume('k');
    expect(store.calls).toBe(2);
    expect(errors).toHaveLength(2);
    store.mode = 'ok';
    clock.t = T0 + 1000;
    const back = await limiter.consume('k');
    expect(back).toMatchObject({ allowed: true, remaining: 1 });
    expect(back.error).toBeUndefined();
    expect(recovered()).toBe(1);
  });

  it('a store call that exceeds timeoutMs counts as a failure', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { store, errors, limiter } = setup({ timeoutMs: 100, onStoreError: 'deny' });
    store.mode = 'hang';
    let settled: Decision | undefined;
    const pending = limiter.consume('k').then((d) => {
      settled = d;
      return d;
    });
    await jest.advanceTimersByTimeAsync(99);
    expect(settled).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    const d = await pending;
    expect(d.allowed).toBe(false);
    expect(d.error?.timedOut).toBe(true);
    expect(d.error?.message).toContain('100 ms');
    expect(errors).toHaveLength(1);
  });

  it('a store that rejects after the timeout causes no unhandled rejection', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    const { store, errors, limiter } = setup({ timeoutMs: 100 });
    store.mode = 'late-reject';
    const pending = limiter.consume('k');
    await jest.advanceTimersByTimeAsync(100);
    const d = await pending;
    expect(d.allowed).toBe(true);
    expect(d.error?.timedOut).toBe(true);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(errors).toHaveLength(1);
  });

  it('a failed refund is reported, not thrown', async () => {
    const { store, errors, limiter } = setup();
    store.mode = 'reject';
    await expect(limiter.refund('k')).resolves.toBeUndefined();
    expect(errors.map((e) => e.operation)).toEqual(['refund']);
  });

  it('without onError, a process warning is emitted once per outage', async () => {
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const store = new FlakyStore();
      store.mode = 'reject';
      const clock = { t: T0 };
      const limiter = createLimiter({ limit: 2, window: '1m', store, now: () => clock.t, retryStoreAfterMs: 0 });
      await limiter.consume('k');
      await limiter.consume('k');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toContain('connection refused');
      store.mode = 'ok';
      await limiter.consume('k');
      store.mode = 'reject';
      await limiter.consume('k');
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });
});
