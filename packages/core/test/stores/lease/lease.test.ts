// Lease mode's local bookkeeping with a manual clock and a fake Redis side (no server): which units
// a lease may spend when, how 'auto' sizes leases, refills coalescing, give-backs on ttl, eviction
// and close. The Lua side is tested on Redis (test/stores/redis/lease/).
import { resolveRules } from '../../../src/rules';
import { StoreHealth } from '../../../src/stores/health';
import { autoSize, expiredUnits, type Lease, refundInto, spend, usableUnits } from '../../../src/stores/redis/lease/lease';
import type { LeaseRemote } from '../../../src/stores/redis/lease/lease-remote';
import type { LeaseReply } from '../../../src/stores/redis/lease/lease-script';
import { LeasedStore } from '../../../src/stores/redis/lease/leased-store';
import { resolveLease } from '../../../src/stores/redis/lease/options';
import type { BoundStore, RawResult } from '../../../src/stores/types';

const slotLease = (n: number, b0: number, limit = 10, windowMs = 10_000): Lease => ({
  n,
  spent: 0,
  t0: 1000,
  l0: 1000,
  end: Number.POSITIVE_INFINITY,
  rules: [{ slot: true, limit, windowMs, b0, reserved: 0, state: '0 0', remaining: 0, resetMs: 0 }],
});

describe('lease bookkeeping', () => {
  test('bucket units expire one by one at the end of their slot: t0 + (b0 + j·W) / L', () => {
    // 10 per 10 s: one unit per 1000 ms; backlog before the grant 2.5 units (b0 = 2.5 × W).
    const lease = slotLease(5, 25_000);
    expect(expiredUnits(lease, 1000)).toBe(0);
    expect(expiredUnits(lease, 1000 + 3499)).toBe(0); // unit 1 ends at 1000 + 3500
    expect(expiredUnits(lease, 1000 + 3500)).toBe(1);
    expect(expiredUnits(lease, 1000 + 6500)).toBe(4);
    expect(expiredUnits(lease, 1000 + 1e6)).toBe(5);
    expect(usableUnits(lease, 1000 + 4600)).toBe(3); // units 1 and 2 ended at +3500 and +4500
    // Spending skips expired units for good, then takes the next ones.
    expect(spend(lease, 2, 1000 + 4600)).toBe(true);
    expect(lease.spent).toBe(4);
    expect(spend(lease, 2, 1000 + 4600)).toBe(false);
    expect(spend(lease, 1, 1000 + 4600)).toBe(true);
    expect(usableUnits(lease, 1000 + 4600)).toBe(0);
  });

  test('a fixed-window lease is whole until its window ends, then gone', () => {
    const lease: Lease = { ...slotLease(4, 0), end: 60_000, rules: [] };
    expect(usableUnits(lease, 59_999)).toBe(4);
    expect(usableUnits(lease, 60_000)).toBe(0);
    expect(spend(lease, 1, 60_000)).toBe(false);
  });

  test('refunds go back into the lease only as far as spent units are still valid', () => {
    const lease = slotLease(5, 0);
    spend(lease, 3, 1000);
    expect(refundInto(lease, 2, 1000)).toBe(2);
    expect(lease.spent).toBe(1);
    spend(lease, 2, 1000);
    // At 1000 + 2000 units 1 and 2 have expired: of 3 spent, only unit 3 can take a refund.
    expect(refundInto(lease, 3, 3000)).toBe(1);
  });

  test("'auto' size: about 100 ms of the key's rate, 1 for cold keys, capped", () => {
    expect(autoSize(0, 100, 1000)).toBe(1);
    expect(autoSize(0.001, 100, 1000)).toBe(1);
    expect(autoSize(0.5, 100, 1000)).toBe(50);
    expect(autoSize(500, 100, 1000)).toBe(1000);
  });

  test('options are validated with the option and the value', () => {
    expect(resolveLease(undefined)).toBeUndefined();
    expect(resolveLease({ size: 'auto' })).toEqual({ size: 'auto', ttlMs: 1000, maxKeys: 10_000 });
    expect(resolveLease({ size: 5, ttl: '2s', maxKeys: 3 })).toEqual({ size: 5, ttlMs: 2000, maxKeys: 3 });
    expect(() => resolveLease({ size: 1.5 })).toThrow("Expected `lease.size` to be a positive integer or 'auto', got 1.5");
    expect(() => resolveLease({ size: 2, ttl: 'soon' })).toThrow(/`lease.ttl`/);
    expect(() => resolveLease(7)).toThrow(/`lease`/);
  });
});

/** A fixed window of `limit` per `windowMs` kept in this process, answering as the lease script does. */
class FakeRedis implements LeaseRemote {
  readonly counts = new Map<string, { start: number; count: number }>();
  readonly calls: { key: string; want: number; cost: number; gave: number }[] = [];
  hold: Promise<void> | undefined;
  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  #window(key: string, now: number): { start: number; count: number } {
    const start = Math.floor(now / this.windowMs) * this.windowMs;
    let w = this.counts.get(key);
    if (w === undefined || w.start !== start) {
      w = { start, count: 0 };
      this.counts.set(key, w);
    }
    return w;
  }

  #give(key: string, now: number, lease: Lease | undefined): number {
    if (lease === undefined) return 0;
    const w = this.#window(key, now);
    if (w.start !== Math.floor(lease.t0 / this.windowMs) * this.windowMs) return 0;
    const u = Math.min(w.count, lease.n - lease.spent);
    w.count -= u;
    return u;
  }

  async lease(key: string, now: number, want: number, cost: number, give: Lease | undefined): Promise<LeaseReply | undefined> {
    const gave = this.#give(key, now, give);
    this.calls.push({ key, want, cost, gave });
    await this.hold;
    const w = this.#window(key, now);
    const left = this.limit - w.count;
    const g = Math.min(want, left);
    const reset = w.start + this.windowMs - now;
    if (g < cost) {
      return {
        at: now,
        granted: 0,
        repaired: 0,
        rules: [{ allowed: 0, remaining: left, resetMs: reset, retryAfterMs: reset, b0: 0, state: '0 0', reserved: 0 }],
      };
    }
    w.count += g;
    return {
      at: now,
      granted: g,
      repaired: 0,
      rules: [{ allowed: 1, remaining: left - g, resetMs: reset, retryAfterMs: 0, b0: 0, state: '0 0', reserved: 0 }],
    };
  }

  async give(key: string, now: number, lease: Lease): Promise<number> {
    this.calls.push({ key, want: 0, cost: 0, gave: this.#give(key, now, lease) });
    return 0;
  }
}

function setup(size: number | 'auto', options: { limit?: number; ttl?: number; maxKeys?: number } = {}) {
  const limit = options.limit ?? 100;
  const redis = new FakeRedis(limit, 60_000);
  const plainCalls: string[] = [];
  // Plain mode: a lease of exactly the cost, spent at once (what the plain consume script does).
  const plain: BoundStore = {
    consume: async (key, cost, now): Promise<RawResult> => {
      plainCalls.push(key);
      const r = (await redis.lease(key, now, cost, cost, undefined)) as LeaseReply;
      const x = r.rules[0] as LeaseReply['rules'][number];
      return [r.at, r.granted > 0 ? 1 : 0, x.remaining, x.resetMs, x.retryAfterMs];
    },
    peek: () => [0, 1, 0, 0, 0],
    refund: () => undefined,
    reset: () => undefined,
  };
  const rules = resolveRules([{ limit, window: 60_000, algorithm: 'fixed-window' }]);
  const lease = resolveLease({ size, ttl: options.ttl ?? 1000, maxKeys: options.maxKeys ?? 100 });
  if (lease === undefined) throw new Error('no lease');
  const health = new StoreHealth();
  const store = new LeasedStore(plain, redis, { rules, lease, clientClock: true, timeoutMs: 1000, report: undefined, health });
  return { store, redis, plainCalls, health };
}

const allowed = async (r: RawResult | Promise<RawResult>): Promise<boolean> => (await r)[1] === 1;

describe('LeasedStore (fake Redis, manual clock)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('one round trip per lease; the other decisions are answered synchronously', async () => {
    const { store, redis } = setup(10);
    const first = store.consume('k', 1, 1000);
    expect(first).toBeInstanceOf(Promise);
    expect(await allowed(first)).toBe(true);
    for (let i = 0; i < 9; i++) {
      const r = store.consume('k', 1, 1000);
      expect(Array.isArray(r)).toBe(true);
      expect((r as RawResult)[1]).toBe(1);
    }
    expect(redis.calls).toHaveLength(1);
    await store.consume('k', 1, 1000);
    expect(redis.calls).toHaveLength(2);
    expect(store.held('k', 1000)).toBe(9);
  });

  test('requests arriving during a refill wait for it: one refill for all of them; a denial is shared', async () => {
    const { store, redis } = setup(10, { limit: 12 });
    let release = () => {};
    redis.hold = new Promise((r) => (release = r));
    const pending = Array.from({ length: 8 }, () => store.consume('k', 1, 1000));
    release();
    expect((await Promise.all(pending.map(allowed))).every(Boolean)).toBe(true);
    expect(redis.calls).toHaveLength(1);
    // 2 held + 2 in Redis: 4 more, then one denied refill answers every waiter of it.
    redis.hold = new Promise((r) => (release = r));
    const more = Array.from({ length: 10 }, () => store.consume('k', 1, 1000));
    release();
    const answers = await Promise.all(more.map(allowed));
    expect(answers.filter(Boolean)).toHaveLength(4);
    expect(redis.calls.length).toBeLessThanOrEqual(3);
    expect(redis.counts.get('k')?.count).toBe(12);
  });

  test("'auto': a cold key stays plain, a hot key takes growing leases, capped at a tenth of the capacity", async () => {
    const { store, redis, plainCalls } = setup('auto', { limit: 1_000_000 });
    let t = 1000;
    for (let i = 0; i < 5; i++) {
      await store.consume('cold', 1, t);
      t += 1000;
    }
    expect(plainCalls.filter((k) => k === 'cold')).toHaveLength(5);
    // 10 requests per ms.
    for (let ms = 0; ms < 50; ms++, t++) for (let i = 0; i < 10; i++) await store.consume('hot', 1, t);
    const leases = redis.calls.filter((c) => c.key === 'hot' && c.want > 1);
    expect(leases.length).toBeGreaterThan(0);
    expect(Math.max(...leases.map((c) => c.want))).toBe(1000); // 10/ms × 100 ms = 1000 ≤ 100,000
    // Of 500 decisions: plain ones while the first 5 ms measure the rate (50), then a few leases.
    expect(redis.calls.filter((c) => c.key === 'hot').length).toBeLessThan(60);
  });

  test('a lease idle for ttl is given back, by the next request or by the (unref’d) timer', async () => {
    jest.useFakeTimers();
    const { store, redis } = setup(10, { ttl: 1000 });
    await store.consume('a', 1, 1000);
    await store.consume('b', 1, 1800);
    expect(redis.counts.get('a')?.count).toBe(10);
    await store.consume('b', 1, 2500); // a idle 1500 ms: given back
    await Promise.resolve();
    expect(redis.counts.get('a')?.count).toBe(1);
    expect(redis.counts.get('b')?.count).toBe(10);
    jest.advanceTimersByTime(1000); // the sweep timer: the store's latest time is 2500, b used at 2500
    expect(redis.counts.get('b')?.count).toBe(10);
    await store.consume('c', 1, 3600); // b idle 1100 ms
    await Promise.resolve();
    expect(redis.counts.get('b')?.count).toBe(2);
  });

  test('more keys than maxKeys: the least recently refilled gives its lease back', async () => {
    const { store, redis } = setup(10, { maxKeys: 2 });
    await store.consume('a', 1, 1000);
    await store.consume('b', 1, 1000);
    await store.consume('c', 1, 1000);
    await Promise.resolve();
    expect(store.trackedKeys).toBe(2);
    expect(redis.counts.get('a')?.count).toBe(1);
  });

  test('a window turn kills the lease: the next request refills in the new window', async () => {
    const { store, redis } = setup(10);
    await store.consume('k', 1, 59_000);
    expect(store.held('k', 59_999)).toBe(9);
    expect(store.held('k', 60_000)).toBe(0);
    await store.consume('k', 1, 60_000);
    expect(redis.calls.map((c) => c.gave)).toEqual([0, 0]); // nothing to give to a dead window
    expect(redis.counts.get('k')).toEqual({ start: 60_000, count: 10 });
  });

  test("while the connection is down, the limiter's probe reaches Redis instead of the lease", async () => {
    const { store, redis, health } = setup(10);
    await store.consume('k', 1, 1000);
    expect(redis.calls).toHaveLength(1);
    health.failed(new Error('down'), 1000, 1000, false);
    expect(health.down).toBe(true);
    // A probe: a refill, which also gives the 9 held units back.
    await store.consume('k', 1, 1000);
    expect(redis.calls).toHaveLength(2);
    expect(redis.calls[1]?.gave).toBe(9);
  });

  test('refunds go to the lease; close() gives everything back and later calls are plain', async () => {
    const { store, redis, plainCalls } = setup(10);
    await store.consume('k', 3, 1000); // spent 3 of 10
    await store.refund('k', 2, 1000, 1000);
    expect(store.held('k', 1000)).toBe(9);
    await store.close();
    expect(redis.counts.get('k')?.count).toBe(1);
    await store.consume('k', 1, 1000);
    expect(plainCalls).toEqual(['k']);
  });
});
