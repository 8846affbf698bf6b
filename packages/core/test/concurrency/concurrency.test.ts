import {
  type ConcurrencySlots,
  ConfigError,
  createConcurrencyLimiter,
  isRateLimitError,
  type Lease,
  MemoryStore,
  type Store,
} from '../../src/index';

// Fake timers and Date: lease expiry and waits run on the injected clock, never the wall clock.
beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

const now = () => Date.now();

/** Settles pending promise callbacks (the memory store answers synchronously). */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** Records the order in which `acquire` calls resolve. */
function track(p: Promise<Lease>, name: string, order: string[]): Promise<Lease> {
  return p.then((lease) => {
    order.push(name);
    return lease;
  });
}

describe('createConcurrencyLimiter (memory)', () => {
  it('grants at most max leases per key; a release wakes the next waiter, first in first out', async () => {
    const limiter = createConcurrencyLimiter({ max: 2, now });
    const order: string[] = [];
    const a = await limiter.acquire('k');
    const b = await limiter.acquire('k');
    const waiting = ['c', 'd', 'e'].map((n) => track(limiter.acquire('k'), n, order));
    await flush();
    expect(order).toEqual([]);
    expect(await limiter.tryAcquire('other')).toBeDefined(); // keys are independent
    await a.release();
    await flush();
    expect(order).toEqual(['c']);
    await b.release();
    await flush();
    expect(order).toEqual(['c', 'd']);
    await (await waiting[0])?.release();
    await flush();
    expect(order).toEqual(['c', 'd', 'e']);
  });

  it('release is idempotent: a second call does not free a second slot', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now });
    const a = await limiter.acquire('k');
    const order: string[] = [];
    void track(limiter.acquire('k'), 'b', order);
    void track(limiter.acquire('k'), 'c', order);
    await a.release();
    await a.release();
    await flush();
    expect(order).toEqual(['b']);
  });

  it('tryAcquire answers at once: undefined when full or when waiters are ahead', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now });
    const a = await limiter.tryAcquire('k');
    expect(a).toBeDefined();
    expect(await limiter.tryAcquire('k')).toBeUndefined();
    const waiter = limiter.acquire('k');
    await a?.release();
    // The slot went to the waiter that was in line, not to a later tryAcquire.
    expect(await limiter.tryAcquire('k')).toBeUndefined();
    await (await waiter).release();
    expect(await limiter.tryAcquire('k')).toBeDefined();
  });

  it('maxWaitMs: rejects with RateLimitError when no slot came in time, and leaves the line', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now, maxWaitMs: 500 });
    const a = await limiter.acquire('k');
    const late = limiter.acquire('k');
    const caught = late.catch((e: unknown) => e);
    jest.advanceTimersByTime(500);
    const error = await caught;
    expect(isRateLimitError(error)).toBe(true);
    expect((error as { decision: { limit: number; allowed: boolean } }).decision).toMatchObject({ limit: 1, allowed: false });
    // Its slot is not taken by the one that gave up.
    await a.release();
    expect(await limiter.tryAcquire('k')).toBeDefined();
  });

  it('maxWaitMs 0 (per call) refuses at once when full; maxQueue refuses one waiter too many', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now, maxQueue: 1 });
    await limiter.acquire('k');
    await expect(limiter.acquire('k', { maxWaitMs: 0 })).rejects.toMatchObject({ code: 'ERR_RK_RATE_LIMITED' });
    const queued = limiter.acquire('k');
    await expect(limiter.acquire('k')).rejects.toThrow(/full/);
    expect(queued).toBeInstanceOf(Promise);
  });

  it('abort removes the waiter and rejects with the reason; the slot goes to the next one', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now });
    const a = await limiter.acquire('k');
    const controller = new AbortController();
    const order: string[] = [];
    const aborted = limiter.acquire('k', { signal: controller.signal }).catch((e: unknown) => e);
    void track(limiter.acquire('k'), 'next', order);
    controller.abort(new Error('client went away'));
    expect(((await aborted) as Error).message).toBe('client went away');
    await a.release();
    await flush();
    expect(order).toEqual(['next']);
    await expect(limiter.acquire('k', { signal: AbortSignal.abort('early') })).rejects.toBe('early');
  });

  it('a lease that is never released expires after leaseMs and its slot goes to a waiter; extend() renews', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now, leaseMs: '10s' });
    const forgotten = await limiter.acquire('k');
    const order: string[] = [];
    void track(limiter.acquire('k'), 'waiter', order);
    jest.advanceTimersByTime(9_000);
    expect(await forgotten.extend()).toBe(true); // now held until 19 s
    jest.advanceTimersByTime(9_999);
    await flush();
    expect(order).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    await flush();
    expect(order).toEqual(['waiter']);
    expect(await forgotten.extend()).toBe(false); // expired: the slot is someone else's now
  });

  it("a failing store: 'allow' grants an unbacked lease, 'deny' rejects with the store error on the decision", async () => {
    const broken: Store = {
      bind: () => {
        throw new Error('unused');
      },
      bindConcurrency: (): ConcurrencySlots => ({
        acquire: () => {
          throw new Error('connection refused');
        },
        release: () => {},
        extend: () => false,
      }),
    };
    const errors: unknown[] = [];
    const open = createConcurrencyLimiter({ max: 1, now, store: broken, onError: (e) => errors.push(e) });
    const lease = await open.acquire('k');
    await expect(lease.extend()).resolves.toBe(true);
    expect(errors).toHaveLength(1);
    const closed = createConcurrencyLimiter({ max: 1, now, store: broken, onStoreError: 'deny', onError: () => {} });
    const error = await closed.acquire('k').catch((e: unknown) => e);
    expect(isRateLimitError(error)).toBe(true);
    expect((error as { decision: { error?: { message: string } } }).decision.error?.message).toMatch(/connection refused/);
    expect(await closed.tryAcquire('k')).toBeUndefined();
  });

  it('bad options are ConfigErrors naming the option and the value', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ max: 0 }, /max/],
      [{ max: 1.5 }, /max/],
      [{ max: 1, leaseMs: 'soon' }, /leaseMs/],
      [{ max: 1, maxWaitMs: -1 }, /maxWaitMs/],
      [{ max: 1, maxQueue: 0 }, /maxQueue/],
      [{ max: 1, onStoreError: 'maybe' }, /onStoreError/],
      [{ max: 1, store: {} }, /store/],
      [{ max: 1, mx: 2 }, /mx/],
    ];
    for (const [options, name] of bad) {
      expect(() => createConcurrencyLimiter(options as never)).toThrow(ConfigError);
      expect(() => createConcurrencyLimiter(options as never)).toThrow(name);
    }
    expect(() => createConcurrencyLimiter({ max: 1, store: new MemoryStore() })).not.toThrow();
  });
});

describe('createConcurrencyLimiter: maxWaitMs 0 behind other waiters', () => {
  it('refuses at once when others already wait for the key (it would wait for them)', async () => {
    const limiter = createConcurrencyLimiter({ max: 1, now });
    const held = await limiter.acquire('k');
    const ahead = limiter.acquire('k');
    let outcome = 'pending';
    const zero = limiter.acquire('k', { maxWaitMs: 0 }).then(
      (lease) => {
        outcome = 'granted';
        return lease.release();
      },
      (e: unknown) => {
        outcome = isRateLimitError(e) ? 'refused' : String(e);
      },
    );
    await jest.advanceTimersByTimeAsync(10_000);
    expect(outcome).toBe('refused');
    await held.release();
    await (await ahead).release();
    await zero;
  });
});
