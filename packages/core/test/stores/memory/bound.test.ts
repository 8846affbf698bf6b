import { createLimiter, MemoryStore } from '@ratekeeper/core';

const T0 = 1_700_000_000_000;

describe('MemoryStore memory bound', () => {
  it('1,000,000 distinct keys with maxKeys 100,000 never track more than 100,000', () => {
    const store = new MemoryStore({ maxKeys: 100_000 });
    const limiter = createLimiter({ limit: 10, window: '1m', store, now: () => T0 });
    let peak = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // Memory store decisions are synchronous: no need to await each one to bound the store.
      void limiter.consume(`key-${i}`);
      if (store.size > peak) peak = store.size;
    }
    expect(peak).toBe(100_000);
    expect(store.size).toBe(100_000);
    // A million decisions: generous for a loaded 2-core CI machine (nothing here is timed).
  }, 180_000);

  it('stays bounded across rules, limiters and passing time', async () => {
    const store = new MemoryStore({ maxKeys: 1_000 });
    let t = T0;
    const a = createLimiter({
      rules: [
        { limit: 5, window: '1s', name: 'second' },
        { limit: 100, window: '1h', name: 'hour' },
      ],
      store,
      now: () => t,
    });
    const b = createLimiter({ limit: 3, window: 100, algorithm: 'gcra', store, prefix: 'other:', now: () => t });
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      t += i % 7;
      void a.consume(`a-${i}`);
      void b.consume(`b-${i % 3_000}`);
      peak = Math.max(peak, store.size);
    }
    expect(peak).toBeLessThanOrEqual(1_000);
    // The store still decides correctly for a key it tracks.
    await a.consume('fresh');
    expect((await a.peek('fresh')).remaining).toBe(4);
  });

  it('a full store drops expired state before live state', async () => {
    const store = new MemoryStore({ maxKeys: 100 });
    let t = T0;
    // Token bucket, 10 per second: one unit refills in 100 ms, a drained bucket in 1 s.
    const limiter = createLimiter({ limit: 10, window: '1s', algorithm: 'token-bucket', store, now: () => t });
    // Inserted first, so oldest: a plain FIFO/insertion-order eviction would drop it first.
    expect((await limiter.consume('live', { cost: 10 })).remaining).toBe(0);
    for (let i = 0; i < 99; i++) await limiter.consume(`old-${i}`); // refilled (expired) by T0 + 100
    expect(store.size).toBe(100);

    t = T0 + 200;
    for (let i = 0; i < 99; i++) await limiter.consume(`new-${i}`);
    expect(store.size).toBeLessThanOrEqual(100);
    // The live counter kept its state: 2 units refilled since it was drained, not a fresh 10.
    const live = await limiter.peek('live');
    expect(live.remaining).toBe(2);
    // The new keys are all tracked too (each has used one unit).
    for (let i = 0; i < 99; i++) expect((await limiter.peek(`new-${i}`)).remaining).toBe(9);
  });
});
