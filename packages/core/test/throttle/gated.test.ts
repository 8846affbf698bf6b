import {
  allOf,
  ConfigError,
  createConcurrencyLimiter,
  createLimiter,
  type GatedLimiter,
  type Limiter,
  RateLimitError,
  throttle,
} from '@ratekeeper/core';

beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const now = () => Date.now();
const remaining = async (l: Limiter, key = 'k') => (await l.peek(key)).remaining;

/** A job whose end the test decides; records when each started (ms since the test began). */
function jobs() {
  const t0 = Date.now();
  const started: [string, number][] = [];
  const running = new Set<string>();
  const ends = new Map<string, () => void>();
  let peak = 0;
  const job = (name: string) => () =>
    new Promise<string>((resolve) => {
      started.push([name, Date.now() - t0]);
      running.add(name);
      peak = Math.max(peak, running.size);
      ends.set(name, () => {
        running.delete(name);
        resolve(name);
      });
    });
  return { job, started, running, end: (name: string) => ends.get(name)?.(), peak: () => peak };
}

describe('allOf(rateLimiter, concurrencyLimiter)', () => {
  it('bounds calls in flight and paces their starts: maxConcurrent + minTime in one object', async () => {
    // 2 starts per second (token bucket, no burst beyond 1), at most 2 running at once.
    const gateway: GatedLimiter = allOf(
      createLimiter({ limit: 2, window: '1s', algorithm: 'token-bucket', burst: 1, now }),
      createConcurrencyLimiter({ max: 2, now }),
    );
    const { job, started, running, end, peak } = jobs();
    const all = ['a', 'b', 'c', 'd'].map((n) => gateway.run('tenant', job(n)));
    await jest.advanceTimersByTimeAsync(0);
    expect(started).toEqual([['a', 0]]);
    await jest.advanceTimersByTimeAsync(500);
    expect(started).toEqual([
      ['a', 0],
      ['b', 500],
    ]);
    // Both slots are held: c has its turn of the rate only after a slot frees, so no quota is spent waiting.
    await jest.advanceTimersByTimeAsync(2000);
    expect(started.map(([n]) => n)).toEqual(['a', 'b']);
    expect(running.size).toBe(2);
    end('a');
    await jest.advanceTimersByTimeAsync(0);
    expect(started.map(([n]) => n)).toEqual(['a', 'b', 'c']);
    end('b');
    await jest.advanceTimersByTimeAsync(0);
    // d got the slot at once but waits for the rate: c took the only token 0 ms ago.
    expect(started.map(([n]) => n)).toEqual(['a', 'b', 'c']);
    await jest.advanceTimersByTimeAsync(500);
    expect(started.map(([n]) => n)).toEqual(['a', 'b', 'c', 'd']);
    end('c');
    end('d');
    expect(await Promise.all(all)).toEqual(['a', 'b', 'c', 'd']);
    expect(peak()).toBe(2);
  });

  it('acquire holds the slot until release (idempotent); refund gives back the rate units only', async () => {
    const rate = createLimiter({ limit: 10, window: '1m', algorithm: 'fixed-window', now });
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(rate, slots);
    const first = await gateway.acquire('k');
    expect(first.allowed).toBe(true);
    expect(await remaining(rate)).toBe(9);
    expect(await slots.tryAcquire('k')).toBeUndefined();
    await first.refund();
    expect(await remaining(rate)).toBe(10);
    expect(await slots.tryAcquire('k')).toBeUndefined(); // refund does not free the slot
    await first.release();
    await first.release();
    const again = await slots.tryAcquire('k');
    expect(again).toBeDefined();
    await again?.release();
    expect(await first.extend()).toBe(false); // a released lease cannot be renewed
  });

  it('frees the slots when the rate step fails: maxWaitMs covers the whole wait', async () => {
    const rate = createLimiter({ limit: 1, window: '1m', algorithm: 'fixed-window', now });
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(rate, slots);
    const a = await gateway.acquire('k');
    await a.release();
    // The rate is spent for a minute: a call that may wait 1 s is refused at once, and leaves no slot held.
    const refused = gateway.acquire('k', { maxWaitMs: 1000 });
    await expect(refused).rejects.toBeInstanceOf(RateLimitError);
    const lease = await slots.tryAcquire('k');
    expect(lease).toBeDefined();
    // The slot wait uses up the budget too: 200 ms for the slot, then 200 ms for the rate's next token
    // (one per 200 ms, taken at the moment the slot frees) is 400 ms in all, more than 300.
    const rate2 = createLimiter({ limit: 5, window: '1s', algorithm: 'token-bucket', burst: 1, now });
    const gated2 = allOf(rate2, slots);
    const outcome = gated2.acquire('k', { maxWaitMs: 300 }).then(
      () => 'granted',
      (e: unknown) => (e instanceof RateLimitError ? 'refused' : String(e)),
    );
    await jest.advanceTimersByTimeAsync(200);
    expect((await rate2.consume('k')).allowed).toBe(true);
    await lease?.release();
    await jest.advanceTimersByTimeAsync(400);
    expect(await outcome).toBe('refused');
    expect(await slots.tryAcquire('k')).toBeDefined(); // and the slot it took is free again
  });

  it('an abort while waiting for the slot rejects and consumes nothing', async () => {
    const rate = createLimiter({ limit: 10, window: '1m', now });
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(rate, slots);
    const held = await gateway.acquire('k');
    const controller = new AbortController();
    const waiting = gateway.acquire('k', { signal: controller.signal });
    controller.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(await remaining(rate)).toBe(9);
    await held.release();
  });

  it('run releases the slots when fn throws', async () => {
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(createLimiter({ limit: 10, window: '1m', now }), slots);
    await expect(
      gateway.run('k', () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    await expect(gateway.run('k', () => 'ok')).resolves.toBe('ok');
  });

  it('several rate members bind like allOf; several concurrency members all hold a slot', async () => {
    const perSecond = createLimiter({ limit: 3, window: '1s', algorithm: 'fixed-window', now });
    const perMinute = createLimiter({ limit: 10, window: '1m', algorithm: 'fixed-window', now });
    const perKey = createConcurrencyLimiter({ max: 2, now });
    const global = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(perSecond, perKey, perMinute, global);
    expect(gateway.concurrency).toEqual([perKey, global]);
    const a = await gateway.acquire('k', { cost: 2 });
    expect(a.remaining).toBe(1);
    expect(await remaining(perMinute)).toBe(8);
    expect(await global.tryAcquire('k')).toBeUndefined();
    await a.release();
    const b = await perKey.tryAcquire('k');
    const c = await perKey.tryAcquire('k');
    expect(b && c).toBeDefined();
    await Promise.all([b?.release(), c?.release()]);
  });

  it('throttle({ limiter: allOf(rate, concurrency) }) uses both parts', async () => {
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(createLimiter({ limit: 100, window: '1m', now }), slots);
    const { job, started, end } = jobs();
    const call = throttle((n: string) => job(n)(), { limiter: gateway });
    const all = [call('a'), call('b')];
    await jest.advanceTimersByTimeAsync(0);
    expect(started.map(([n]) => n)).toEqual(['a']);
    end('a');
    await jest.advanceTimersByTimeAsync(0);
    expect(started.map(([n]) => n)).toEqual(['a', 'b']);
    end('b');
    await Promise.all(all);
    expect(call.limiter).toBe(gateway.limiter);
    expect(() => throttle((n: string) => n, { limiter: gateway, concurrency: 2 })).toThrow(ConfigError);
  });

  it('rejects bad members and a composite with no rate member with a ConfigError', () => {
    const slots = createConcurrencyLimiter({ max: 1 });
    expect(() => allOf(slots)).toThrow(/at least one rate limiter/);
    expect(() => allOf(slots, {} as never)).toThrow(/allOf\(\.\.\.limiters\)\[1\]/);
  });
});

describe('allOf(rate, concurrency): review cases', () => {
  it('throttle({ limiter: gated, maxWaitMs }) counts the slot wait in the budget, as gateway.acquire does', async () => {
    // Same timeline as acquire's budget test: 200 ms for the slot, then 200 ms for the next token.
    const slots = createConcurrencyLimiter({ max: 1, now });
    const rate = createLimiter({ limit: 5, window: '1s', algorithm: 'token-bucket', burst: 1, now });
    const gateway = allOf(rate, slots);
    const lease = await slots.acquire('throttle');
    const call = throttle(async () => 'ran', { limiter: gateway, maxWaitMs: 300 });
    const outcome = call().then(
      () => 'granted',
      (e: unknown) => (e instanceof RateLimitError ? 'refused' : String(e)),
    );
    await jest.advanceTimersByTimeAsync(200);
    expect((await rate.consume('throttle')).allowed).toBe(true);
    await lease.release();
    await jest.advanceTimersByTimeAsync(400);
    expect(await outcome).toBe('refused');
    expect(await slots.tryAcquire('throttle')).toBeDefined();
  });

  it('throttle(fn, { concurrency, maxWaitMs }) shares one budget between the slot and the rate too', async () => {
    const rate = createLimiter({ limit: 5, window: '1s', algorithm: 'token-bucket', burst: 1, now });
    const slots = createConcurrencyLimiter({ max: 1, now });
    const lease = await slots.acquire('throttle');
    const call = throttle(async () => 'ran', { limiter: rate, concurrency: slots, maxWaitMs: 300 });
    const outcome = call().then(
      () => 'granted',
      (e: unknown) => (e instanceof RateLimitError ? 'refused' : String(e)),
    );
    await jest.advanceTimersByTimeAsync(200);
    expect((await rate.consume('throttle')).allowed).toBe(true);
    await lease.release();
    await jest.advanceTimersByTimeAsync(400);
    expect(await outcome).toBe('refused');
  });

  it('a spent budget refuses at once at the next concurrency member, even with waiters ahead there', async () => {
    const first = createConcurrencyLimiter({ max: 1, now });
    const second = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(createLimiter({ limit: 100, window: '1m', now }), first, second);
    const a = await first.acquire('k');
    const b = await second.acquire('k');
    const ahead = second.acquire('k'); // another caller waits for the second slot, unbounded
    const outcome = gateway.acquire('k', { maxWaitMs: 100 }).then(
      () => 'granted',
      (e: unknown) => (e instanceof RateLimitError ? 'refused' : String(e)),
    );
    await jest.advanceTimersByTimeAsync(99);
    jest.setSystemTime(Date.now() + 1); // the clock reaches the budget's end before the timer fires
    await a.release(); // the first slot frees just as the budget runs out
    await jest.advanceTimersByTimeAsync(1000);
    // The budget is spent: it must not wait behind `ahead` for as long as `b` is held.
    let settled = false;
    void outcome.then(() => {
      settled = true;
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(await outcome).toBe('refused');
    expect(await first.tryAcquire('k')).toBeDefined(); // and the first slot was given back
    await b.release();
    await (await ahead).release();
  });
});

describe('maxQueue with slots first', () => {
  it('throttle(fn, { concurrency, maxQueue }) refuses a call at once when maxQueue calls already wait (for a slot or the rate)', async () => {
    const { job, started, end } = jobs();
    const call = throttle((n: string) => job(n)(), { limit: 100, window: '1m', now, concurrency: 1, maxQueue: 2 });
    const outcomes: string[] = [];
    const start = (n: string) =>
      call(n).then(
        () => outcomes.push(`${n} ran`),
        (e: unknown) => outcomes.push(e instanceof RateLimitError ? `${n} refused` : String(e)),
      );
    const all = [start('a')];
    await jest.advanceTimersByTimeAsync(0); // a is granted (while being decided, it counts too, as in acquire's line)
    all.push(...['b', 'c', 'd'].map(start));
    await jest.advanceTimersByTimeAsync(0);
    // a runs; b and c wait for the slot: the line holds 2, so d is refused at once (Bottleneck's highWater).
    expect(started.map(([n]) => n)).toEqual(['a']);
    expect(outcomes).toEqual(['d refused']);
    end('a');
    await jest.advanceTimersByTimeAsync(0);
    end('b');
    await jest.advanceTimersByTimeAsync(0);
    end('c');
    await Promise.all(all);
    expect(outcomes).toEqual(['d refused', 'a ran', 'b ran', 'c ran']);
    // The count is given back: the line is empty again.
    const e = call('e');
    await jest.advanceTimersByTimeAsync(0);
    end('e');
    await expect(e).resolves.toBe('e');
  });

  it('gateway.acquire(key, { maxQueue }) bounds the calls waiting for its slots too; options are checked before a slot is taken', async () => {
    const slots = createConcurrencyLimiter({ max: 1, now });
    const gateway = allOf(createLimiter({ limit: 100, window: '1m', now }), slots);
    const held = await gateway.acquire('k');
    const waiting = gateway.acquire('k', { maxQueue: 1 });
    await expect(gateway.acquire('k', { maxQueue: 1 })).rejects.toBeInstanceOf(RateLimitError);
    await held.release();
    const second = await waiting;
    await second.release();
    // A bad option is a ConfigError at once, not after waiting for a slot.
    const blocker = await gateway.acquire('k');
    let settled = '';
    gateway.acquire('k', { cost: 0 }).catch((e: unknown) => {
      settled = e instanceof ConfigError ? 'config' : String(e);
    });
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe('config');
    await blocker.release();
  });
});

describe('slots held through a long rate wait', () => {
  it("a slot taken first does not expire (leaseMs) while its call waits for the rate's turn", async () => {
    const rate = createLimiter({ limit: 1, window: '2m', algorithm: 'gcra', now });
    const slots = createConcurrencyLimiter({ max: 1, leaseMs: '1m', now });
    const gateway = allOf(rate, slots);
    const first = await gateway.acquire('k');
    await first.release();
    const second = gateway.acquire('k'); // its slot now, the rate's turn in 2 minutes
    await jest.advanceTimersByTimeAsync(90_000);
    // Past leaseMs: the slot is still second's, so nobody else may run beside it.
    expect(await slots.tryAcquire('k')).toBeUndefined();
    await jest.advanceTimersByTimeAsync(30_000);
    const call = await second;
    expect(await slots.tryAcquire('k')).toBeUndefined();
    expect(await call.extend()).toBe(true);
    await call.release();
  });

  it('the same through throttle(fn, { concurrency })', async () => {
    const slots = createConcurrencyLimiter({ max: 1, leaseMs: '1m', now });
    const rate = createLimiter({ limit: 1, window: '2m', algorithm: 'gcra', now });
    await rate.consume('throttle');
    const call = throttle(async () => 'ran', { limiter: rate, concurrency: slots });
    const pending = call();
    await jest.advanceTimersByTimeAsync(90_000);
    expect(await slots.tryAcquire('throttle')).toBeUndefined();
    await jest.advanceTimersByTimeAsync(30_000);
    await expect(pending).resolves.toBe('ran');
  });
});

describe('slots held while waiting for a later slot', () => {
  it("the first member's slot does not expire while the call waits for the second's", async () => {
    const first = createConcurrencyLimiter({ max: 1, leaseMs: '1m', now });
    const second = createConcurrencyLimiter({ max: 1, leaseMs: '5m', now });
    const gateway = allOf(createLimiter({ limit: 100, window: '1m', now }), first, second);
    const busy = await second.acquire('k');
    const call = gateway.acquire('k'); // takes first's slot, then waits for second's
    await jest.advanceTimersByTimeAsync(90_000);
    expect(await first.tryAcquire('k')).toBeUndefined();
    await busy.release();
    const granted = await call;
    await granted.release();
    expect(await first.tryAcquire('k')).toBeDefined();
  });
});
