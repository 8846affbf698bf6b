import { type Algorithm, createLimiter, type Limiter, MemoryStore } from '@ratekeeper/core';

// The eviction guarantee of a full MemoryStore (docs/memory-store.md), with injected clocks:
// (a) a client cycling through fresh keys cannot make the store forget his exhausted or blocked
//     key with 3 × maxKeys of them (or fewer), for every algorithm, alone or sharing the store;
// (b) a key used at least once per maxKeys/2 insertions keeps its count.

const ALGORITHMS: readonly Algorithm[] = ['fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra'];
const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const N = 1_000;

/** One request each for `count` keys never seen before. */
async function flood(limiter: Limiter, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await limiter.consume(`${prefix}${i}`);
}

/** Uses up `key`'s 5 units; the sixth request is denied (and blocks, with `blockFor`). */
async function exhaust(limiter: Limiter, key: string): Promise<void> {
  for (let i = 0; i < 5; i++) expect((await limiter.consume(key)).allowed).toBe(true);
  expect((await limiter.consume(key)).allowed).toBe(false);
}

describe('MemoryStore eviction: (a) an exhausted or blocked key outlives 3 × maxKeys fresh keys', () => {
  it.each(ALGORITHMS)('%s: exhausted', async (algorithm) => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({ limit: 5, window: '1h', algorithm, store, now: () => T0 });
    await exhaust(limiter, 'attacker');
    // The first N − 1 fill the store; every later one makes room by dropping a key.
    await flood(limiter, 'fresh-', 3 * N);
    expect(store.size).toBe(N);
    expect((await limiter.peek('fresh-0')).remaining).toBe(5); // dropped: keys were evicted
    const d = await limiter.peek('attacker');
    expect(d.allowed).toBe(false);
    expect(d.remaining).toBe(0);
  });

  it.each(ALGORITHMS)('%s: blocked (blockFor), its window long over', async (algorithm) => {
    const store = new MemoryStore({ maxKeys: N });
    let t = T0;
    const limiter = createLimiter({ limit: 5, window: '1m', blockFor: '1h', algorithm, store, now: () => t });
    await exhaust(limiter, 'attacker');
    // Past the window, only the block holds the key: as state it is worth nothing any more.
    t = T0 + 5 * MINUTE;
    await flood(limiter, 'fresh-', 3 * N);
    expect(store.size).toBe(N);
    const d = await limiter.peek('attacker');
    expect(d.allowed).toBe(false);
    expect(d.retryAfterMs).toBe(55 * MINUTE);
  });

  it.each(ALGORITHMS)('%s: blocked (blockFor shorter than the window)', async (algorithm) => {
    const store = new MemoryStore({ maxKeys: N });
    let t = T0;
    const limiter = createLimiter({ limit: 5, window: '1h', blockFor: '5m', algorithm, store, now: () => t });
    await exhaust(limiter, 'attacker');
    t = T0 + MINUTE;
    await flood(limiter, 'fresh-', 3 * N);
    expect((await limiter.peek('attacker')).retryAfterMs).toBe(4 * MINUTE);
  });

  describe.each(['small', 'large'] as const)('two limiters sharing a full store, the fresh keys sent to the %s one', (target) => {
    it.each(ALGORITHMS)('%s: the small limiter keeps the exhausted key', async (algorithm) => {
      const store = new MemoryStore({ maxKeys: N });
      const site = createLimiter({ limit: 100, window: '1h', store, now: () => T0 });
      const login = createLimiter({ limit: 5, window: '1h', algorithm, store, prefix: 'login:', now: () => T0 });
      await flood(site, 'visitor-', N); // the site's traffic filled the store
      await exhaust(login, 'attacker');
      await flood(target === 'small' ? login : site, 'fresh-', 3 * N);
      expect(store.size).toBe(N);
      const d = await login.peek('attacker');
      expect(d.allowed).toBe(false);
      expect(d.remaining).toBe(0);
    });

    it.each(ALGORITHMS)('%s: the small limiter keeps the blocked key', async (algorithm) => {
      const store = new MemoryStore({ maxKeys: N });
      let t = T0;
      const site = createLimiter({ limit: 100, window: '1h', store, now: () => t });
      const login = createLimiter({ limit: 5, window: '1m', blockFor: '1h', algorithm, store, prefix: 'login:', now: () => t });
      await flood(site, 'visitor-', N);
      await exhaust(login, 'attacker');
      t = T0 + 5 * MINUTE;
      await flood(target === 'small' ? login : site, 'fresh-', 3 * N);
      expect(store.size).toBe(N);
      expect((await login.peek('attacker')).retryAfterMs).toBe(55 * MINUTE);
    });
  });

  it('the protection ends: an idle exhausted key is dropped within 5 × maxKeys fresh keys', async () => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({ limit: 5, window: '1h', store, now: () => T0 });
    await exhaust(limiter, 'attacker');
    await flood(limiter, 'fresh-', 5 * N);
    expect((await limiter.peek('attacker')).remaining).toBe(5);
  });
});

describe('MemoryStore eviction: (b) a key used once per maxKeys/2 insertions keeps its count', () => {
  it.each(ALGORITHMS)('%s: maxKeys 1000, used every 500 insertions', async (algorithm) => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({ limit: 100, window: '1h', algorithm, store, now: () => T0 });
    await flood(limiter, 'visitor-', N);
    for (let use = 1; use <= 20; use++) {
      expect((await limiter.consume('regular')).remaining).toBe(100 - use);
      await flood(limiter, `fresh-${use}-`, N / 2);
    }
    expect(store.size).toBe(N);
  });

  it.each(ALGORITHMS)('%s: two limiters sharing the store, the regular key in the small one', async (algorithm) => {
    const store = new MemoryStore({ maxKeys: N });
    const site = createLimiter({ limit: 100, window: '1h', store, now: () => T0 });
    const api = createLimiter({ limit: 50, window: '1h', algorithm, store, prefix: 'api:', now: () => T0 });
    await flood(site, 'visitor-', N);
    for (let use = 1; use <= 20; use++) {
      expect((await api.consume('regular')).remaining).toBe(50 - use);
      // Half the fresh keys at each limiter.
      await flood(site, `fresh-${use}-`, N / 4);
      await flood(api, `fresh-${use}-`, N / 4);
    }
  });

  it('several rules (each rule state counts as one insertion)', async () => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({
      rules: [
        { limit: 100, window: '1h', name: 'hour' },
        { limit: 1_000, window: '1d', algorithm: 'gcra', name: 'day' },
      ],
      store,
      now: () => T0,
    });
    await flood(limiter, 'visitor-', N / 2);
    for (let use = 1; use <= 20; use++) {
      const d = await limiter.consume('regular');
      expect(d.rules.map((r) => r.remaining)).toEqual([100 - use, 1_000 - use]);
      await flood(limiter, `fresh-${use}-`, N / 4); // two insertions per fresh key
    }
  });

  it('several keys at once, each used every 500 insertions, at different phases', async () => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({ limit: 1_000, window: '1h', algorithm: 'token-bucket', store, now: () => T0 });
    await flood(limiter, 'visitor-', N);
    const uses = new Array<number>(50).fill(0);
    for (let step = 0; step < 10 * N; step++) {
      // Key r is used at insertions r·10, r·10 + 500, …
      const r = (step % 500) / 10;
      if (Number.isInteger(r)) {
        uses[r] = (uses[r] as number) + 1;
        expect((await limiter.consume(`regular-${r}`)).remaining).toBe(1_000 - (uses[r] as number));
      }
      await limiter.consume(`fresh-${step}`);
    }
  });
});

describe('MemoryStore eviction: a saturated store', () => {
  it('when every key is protected, drops the least valuable state and keeps the bound', async () => {
    const store = new MemoryStore({ maxKeys: 100 });
    const limiter = createLimiter({ limit: 5, window: '1h', store, now: () => T0 });
    // 50 exhausted keys interleaved with 50 keys that used 2 units: all protected for 3 × maxKeys.
    for (let i = 0; i < 50; i++) {
      await exhaust(limiter, `exhausted-${i}`);
      await limiter.consume(`two-${i}`);
      await limiter.consume(`two-${i}`);
    }
    expect(store.size).toBe(100);
    await flood(limiter, 'fresh-', 40);
    expect(store.size).toBe(100);
    // The 40 drops took keys with 1 or 2 units used (a fresh key with one hit is the least valuable), never an exhausted one.
    let kept = 0;
    for (let i = 0; i < 50; i++) if ((await limiter.peek(`two-${i}`)).remaining === 3) kept++;
    for (let i = 0; i < 40; i++) if ((await limiter.peek(`fresh-${i}`)).remaining === 4) kept++;
    expect(kept).toBe(50);
    for (let i = 0; i < 50; i++) expect((await limiter.peek(`exhausted-${i}`)).allowed).toBe(false);
    expect((await limiter.peek('fresh-39')).remaining).toBe(4); // the newest key is tracked
  });

  it("reset() of one limiter forgets its keys and leaves the other limiter's guarantee intact", async () => {
    const store = new MemoryStore({ maxKeys: N });
    const site = createLimiter({ limit: 100, window: '1h', store, now: () => T0 });
    const login = createLimiter({ limit: 5, window: '1h', store, prefix: 'login:', now: () => T0 });
    for (let i = 0; i < N / 2; i++) {
      await site.consume(`visitor-${i}`);
      await login.consume(`user-${i}`);
    }
    await exhaust(login, 'attacker');
    expect(store.size).toBe(N);
    await site.reset();
    expect(store.size).toBe(N / 2 + 1); // the attacker's key made room by dropping visitor-0
    expect((await site.peek('visitor-0')).remaining).toBe(100);
    await flood(site, 'fresh-', 3 * N);
    expect(store.size).toBe(N);
    expect((await login.peek('attacker')).allowed).toBe(false);
  });

  it('reset keys leave the guarantee intact', async () => {
    const store = new MemoryStore({ maxKeys: N });
    const limiter = createLimiter({ limit: 5, window: '1h', store, now: () => T0 });
    for (let i = 0; i < 20 * N; i++) {
      await limiter.consume(`session-${i % 300}`);
      if (i % 3 === 0) await limiter.reset(`session-${i % 300}`);
    }
    await exhaust(limiter, 'attacker');
    await flood(limiter, 'fresh-', 3 * N);
    expect(store.size).toBe(N);
    expect((await limiter.peek('attacker')).allowed).toBe(false);
  });
});
