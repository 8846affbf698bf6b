import { createLimiter, type Decision, type Limiter, type LimiterOptions, type Store } from '@ratekeeper/core';
import { ALGORITHM_DESCRIPTORS } from '../../src/algorithms/index';
import { ALGORITHMS } from '../../src/rules';

/**
 * The store contract: behaviour every {@link Store} must show through `createLimiter`, for every
 * algorithm. Each test drives its own manual clock (integer epoch ms) and its own `prefix`, so one
 * shared store (e.g. a Redis server) is reused by every test without collisions. A store with its
 * own clock must use the limiter's `now` (e.g. `RedisStore({ clock: 'client' })`).
 */

/** The bucket algorithms among the registered ones (those taking `burst`). */
const BUCKETS = ALGORITHMS.filter((a) => ALGORITHM_DESCRIPTORS[a].takesBurst);

/** Aligned to every window used below (1 s, 10 s, 100 s), so window starts are predictable. */
const T0 = 1_700_000_000_000;

let sequence = 0;
const run = `${process.pid}-${Math.floor(Math.random() * 1e9).toString(36)}`;

/** A prefix no other test (in this or a parallel run on the same store) uses. */
function uniquePrefix(name: string): string {
  sequence++;
  return `contract:${run}:${name.replace(/[^\w-]/g, '_')}:${sequence}:`;
}

interface Harness {
  t: number;
  limiter(options: Omit<LimiterOptions, 'store' | 'now' | 'prefix'>, prefix?: string): Limiter;
}

/** Runs `count` consumes in order at the current time; returns the decisions. */
async function consumeTimes(limiter: Limiter, key: string, count: number, cost = 1): Promise<Decision[]> {
  const out: Decision[] = [];
  for (let i = 0; i < count; i++) out.push(await limiter.consume(key, { cost }));
  return out;
}

/** How many `consume` calls pass in a row at the current time (stops at the first denial). */
async function drain(limiter: Limiter, key: string, max = 1_000): Promise<number> {
  for (let i = 0; i < max; i++) if (!(await limiter.consume(key)).allowed) return i;
  return max;
}

/**
 * Registers the contract suite for one store.
 * @param makeStore called once for the suite; tests isolate themselves by prefix.
 */
export function describeStoreContract(name: string, makeStore: () => Store | Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await makeStore();
    });

    function harness(testName: string): Harness {
      const prefix = uniquePrefix(testName);
      const h: Harness = {
        t: T0,
        limiter: (options, p = prefix) =>
          createLimiter({ timeoutMs: 30_000, ...options, store, prefix: p, now: () => h.t } as LimiterOptions),
      };
      return h;
    }

    describe.each(ALGORITHMS)('%s', (algorithm) => {
      const one = (limit: number, window: number | `${number}s` = 1000, extra: { burst?: number; blockFor?: number } = {}) => ({
        limit,
        window,
        algorithm,
        ...extra,
      });

      it.each([
        [1, 0],
        [1, 1],
        [1, 2],
        [10, 9],
        [10, 10],
        [10, 11],
        [100, 99],
        [100, 100],
        [100, 101],
      ])('limit %i: %i requests at one instant allow exactly min(n, limit), remaining counts down', async (limit, n) => {
        const h = harness(`${algorithm}-table-${limit}-${n}`);
        const limiter = h.limiter(one(limit, 60_000));
        const decisions = await consumeTimes(limiter, 'k', n);
        for (const [i, d] of decisions.entries()) {
          if (i < limit) {
            expect(d).toMatchObject({ allowed: true, limit, remaining: limit - i - 1, retryAfterMs: 0 });
          } else {
            expect(d.allowed).toBe(false);
            expect(d.remaining).toBe(0);
            expect(d.retryAfterMs).toBeGreaterThan(0);
            expect(Number.isFinite(d.retryAfterMs)).toBe(true);
          }
          expect(d.at).toBe(T0);
        }
        const last = decisions.at(-1);
        if (last) expect(last.allowed).toBe(n <= limit);
      });

      it('denied requests consume nothing', async () => {
        const h = harness(`${algorithm}-denied`);
        const limiter = h.limiter(one(5));
        await consumeTimes(limiter, 'hammered', 5);
        await consumeTimes(limiter, 'control', 5);
        const first = await limiter.consume('hammered');
        expect(first.allowed).toBe(false);
        const more = await consumeTimes(limiter, 'hammered', 50);
        for (const d of more) expect(d).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: first.retryAfterMs });
        // Big denied costs too.
        expect((await limiter.consume('hammered', { cost: 3 })).allowed).toBe(false);
        // From here on the hammered key behaves exactly like one that was never denied.
        for (const step of [first.retryAfterMs, 1, 99, 250, 1000, 3000]) {
          h.t += step;
          const a = await limiter.consume('hammered');
          const b = await limiter.consume('control');
          expect({ ...a, rules: undefined, rule: a.rule.id }).toEqual({ ...b, rules: undefined, rule: b.rule.id });
        }
      });

      it.each([
        [4, 1],
        [5, 2],
        [7, 3],
      ])('retryAfterMs is exact (limit %i, cost %i): allowed at t + retryAfterMs, denied at t + retryAfterMs − 1', async (limit, cost) => {
        const h = harness(`${algorithm}-retry-${limit}-${cost}`);
        const limiter = h.limiter(one(limit));
        const steps = [0, 0, 137, 0, 300, 0, 0, 563, 10, 0, 0, 999, 1, 0, 0, 0, 250, 0, 0, 0, 0, 1700, 0, 0, 0, 0, 0, 420, 0, 0, 0];
        let denials = 0;
        for (const step of steps) {
          h.t += step;
          const d = await limiter.consume('k', { cost });
          if (d.allowed) continue;
          denials++;
          expect(d.retryAfterMs).toBeGreaterThan(0);
          expect(Number.isInteger(d.retryAfterMs)).toBe(true);
          const deniedAt = h.t;
          h.t = deniedAt + d.retryAfterMs - 1;
          const early = await limiter.consume('k', { cost });
          expect({ at: h.t - deniedAt, allowed: early.allowed }).toEqual({ at: d.retryAfterMs - 1, allowed: false });
          h.t = deniedAt + d.retryAfterMs;
          const onTime = await limiter.consume('k', { cost });
          expect({ at: h.t - deniedAt, allowed: onTime.allowed }).toEqual({ at: d.retryAfterMs, allowed: true });
        }
        expect(denials).toBeGreaterThan(2);
      });

      it('cost > 1 takes that many units at once', async () => {
        const h = harness(`${algorithm}-cost`);
        const limiter = h.limiter(one(10, 60_000));
        expect(await limiter.consume('k', { cost: 4 })).toMatchObject({ allowed: true, remaining: 6 });
        expect(await limiter.consume('k', { cost: 4 })).toMatchObject({ allowed: true, remaining: 2 });
        const denied = await limiter.consume('k', { cost: 4 });
        expect(denied).toMatchObject({ allowed: false, remaining: 2 });
        expect(Number.isFinite(denied.retryAfterMs) && denied.retryAfterMs > 0).toBe(true);
        expect(await limiter.consume('k', { cost: 2 })).toMatchObject({ allowed: true, remaining: 0 });
        expect((await limiter.consume('k')).allowed).toBe(false);
      });

      it('cost > capacity is never satisfiable: allowed false, retryAfterMs Infinity, nothing consumed', async () => {
        const h = harness(`${algorithm}-capacity`);
        const limiter = h.limiter(one(10));
        const d = await limiter.consume('k', { cost: 11 });
        expect(d).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
        expect((await limiter.peek('k')).remaining).toBe(10);
        expect(await drain(limiter, 'k')).toBe(10);
        // Still never, even on a full key.
        expect((await limiter.consume('k', { cost: 11 })).retryAfterMs).toBe(Number.POSITIVE_INFINITY);
        if (ALGORITHM_DESCRIPTORS[algorithm].takesBurst) {
          const bucket = h.limiter({ ...one(10), burst: 4 }, uniquePrefix(`${algorithm}-capacity-burst`));
          expect(await bucket.consume('k', { cost: 5 })).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
          expect(await bucket.consume('k', { cost: 4 })).toMatchObject({ allowed: true, remaining: 0 });
        }
      });

      it('peek consumes nothing and reports what consume would', async () => {
        const h = harness(`${algorithm}-peek`);
        const limiter = h.limiter(one(3));
        for (let i = 0; i < 5; i++) expect(await limiter.peek('k')).toMatchObject({ allowed: true, remaining: 3, retryAfterMs: 0 });
        await limiter.consume('k');
        expect(await limiter.peek('k')).toMatchObject({ allowed: true, remaining: 2 });
        await consumeTimes(limiter, 'k', 2);
        const peeked = await limiter.peek('k');
        const consumed = await limiter.consume('k');
        expect(peeked).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: consumed.retryAfterMs });
        expect(consumed.allowed).toBe(false);
        h.t += consumed.retryAfterMs;
        for (let i = 0; i < 3; i++) expect((await limiter.peek('k')).allowed).toBe(true);
        expect((await limiter.consume('k')).allowed).toBe(true);
      });

      it('refund gives units back, never beyond the limit', async () => {
        const h = harness(`${algorithm}-refund`);
        const limiter = h.limiter(one(10, 60_000));
        const d = await limiter.consume('k', { cost: 3 });
        expect(d.remaining).toBe(7);
        await limiter.refund('k', 2, { at: d.at });
        expect((await limiter.peek('k')).remaining).toBe(9);
        await limiter.refund('k');
        expect((await limiter.peek('k')).remaining).toBe(10);
        // Never below empty: refunding more than was taken leaves a plain full quota.
        await limiter.refund('k', 50);
        expect((await limiter.peek('k')).remaining).toBe(10);
        expect(await drain(limiter, 'k')).toBe(10);
        // A full key gets exactly the refunded unit back.
        await limiter.refund('k');
        expect(await drain(limiter, 'k')).toBe(1);
      });

      it('refund after expiry does not go below empty or resurrect state; refund on an unknown key is a no-op', async () => {
        const h = harness(`${algorithm}-refund-expired`);
        const limiter = h.limiter(one(5));
        await limiter.refund('ghost', 3);
        expect((await limiter.peek('ghost')).remaining).toBe(5);
        const ghost = await consumeTimes(limiter, 'ghost', 6);
        expect(ghost.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
        expect(ghost.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);

        const d = await limiter.consume('old', { cost: 3 });
        h.t += 5_000; // long after every algorithm forgot the charge
        await limiter.refund('old', 3, { at: d.at });
        await limiter.refund('old', 5);
        const after = await consumeTimes(limiter, 'old', 6);
        expect(after.map((x) => x.allowed)).toEqual([true, true, true, true, true, false]);
        expect(after.map((x) => x.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
      });

      it('refund with the `at` of a charge whose window has passed refunds nothing', async () => {
        const h = harness(`${algorithm}-refund-at`);
        const limiter = h.limiter(one(5));
        const old = await limiter.consume('k', { cost: 2 });
        h.t += 2_000; // two windows: the charge no longer counts anywhere
        expect(await drain(limiter, 'k')).toBe(5);
        await limiter.refund('k', 2, { at: old.at });
        expect((await limiter.consume('k')).allowed).toBe(false);
        // The current charge can still be refunded.
        const now = h.t;
        await limiter.refund('k', 1, { at: now });
        expect((await limiter.consume('k')).allowed).toBe(true);
      });

      it('reset(key) forgets one key; reset() forgets this limiter only', async () => {
        const h = harness(`${algorithm}-reset`);
        const a = h.limiter(one(3, 60_000));
        const b = h.limiter(one(3, 60_000), uniquePrefix(`${algorithm}-reset-other`));
        for (const key of ['k1', 'k2']) {
          expect(await drain(a, key)).toBe(3);
          expect(await drain(b, key)).toBe(3);
        }
        await a.reset('k1');
        expect(await drain(a, 'k1')).toBe(3);
        expect(await drain(a, 'k2')).toBe(0);
        await a.reset();
        expect(await drain(a, 'k1')).toBe(3);
        expect(await drain(a, 'k2')).toBe(3);
        // Another prefix on the same store keeps its state.
        expect(await drain(b, 'k1')).toBe(0);
        expect(await drain(b, 'k2')).toBe(0);
      });

      it('several rules are all-or-nothing; the binding rule follows DESIGN.md', async () => {
        const h = harness(`${algorithm}-rules`);
        const limiter = h.limiter({
          rules: [
            { limit: 2, window: 1000, algorithm, name: 'burst' },
            { limit: 3, window: 100_000, algorithm, name: 'long' },
          ],
        });
        const first = await limiter.consume('k');
        // Allowed: the binding rule is the one with the least remaining.
        expect(first).toMatchObject({ allowed: true, remaining: 1, limit: 2 });
        expect(first.rule.name).toBe('burst');
        expect(first.rules.map((r) => [r.rule.name, r.allowed, r.remaining])).toEqual([
          ['burst', true, 1],
          ['long', true, 2],
        ]);
        await limiter.consume('k');
        const byBurst = await limiter.consume('k');
        expect(byBurst.allowed).toBe(false);
        expect(byBurst.rule.name).toBe('burst');
        expect(byBurst.rules.map((r) => [r.rule.name, r.allowed, r.remaining])).toEqual([
          ['burst', false, 0],
          ['long', true, 1],
        ]);
        expect(byBurst.retryAfterMs).toBe(byBurst.rules[0]?.retryAfterMs);

        h.t += 2_000; // the burst rule is empty again, the long rule is not
        const third = await limiter.consume('k');
        // Had the denial consumed from `long`, this would be denied.
        expect(third.allowed).toBe(true);
        expect(third.rule.name).toBe('long');
        expect(third.remaining).toBe(0);
        expect(third.rules.map((r) => [r.rule.name, r.remaining])).toEqual([
          ['burst', 1],
          ['long', 0],
        ]);

        const byLong = await limiter.consume('k');
        expect(byLong.allowed).toBe(false);
        expect(byLong.rule.name).toBe('long');
        expect(byLong.rules.map((r) => [r.rule.name, r.allowed, r.remaining])).toEqual([
          ['burst', true, 1],
          ['long', false, 0],
        ]);
        // Both deny: the binding rule is the one with the longest wait.
        const both = await limiter.consume('k', { cost: 2 });
        expect(both.rules.map((r) => r.allowed)).toEqual([false, false]);
        const [burstWait, longWait] = both.rules.map((r) => r.retryAfterMs) as [number, number];
        expect(longWait).toBeGreaterThan(burstWait);
        expect(both).toMatchObject({ allowed: false, retryAfterMs: longWait });
        expect(both.rule.name).toBe('long');
        // The refusal by `long` left `burst` untouched too.
        expect((await limiter.peek('k')).rules[0]?.remaining).toBe(1);
      });

      it('blockFor keeps a denied key denied for that long, then it recovers', async () => {
        const h = harness(`${algorithm}-block`);
        const limiter = h.limiter(one(2, 1000, { blockFor: 5000 }));
        await consumeTimes(limiter, 'k', 2);
        const denied = await limiter.consume('k');
        expect(denied).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 5000 });
        h.t += 3000; // the rule alone would allow again by now
        const stillBlocked = await limiter.consume('k');
        expect(stillBlocked).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 2000 });
        expect(await limiter.peek('k')).toMatchObject({ allowed: false, retryAfterMs: 2000 });
        h.t += 1999;
        expect((await limiter.consume('k')).allowed).toBe(false);
        h.t += 1;
        expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 1 });
        // Other keys were never blocked.
        expect((await limiter.consume('other')).allowed).toBe(true);
      });

      it('1,000 concurrent consumes on a limit of 100 allow exactly 100', async () => {
        const h = harness(`${algorithm}-concurrent`);
        const limiter = h.limiter(one(100, 60_000));
        const decisions = await Promise.all(Array.from({ length: 1000 }, () => limiter.consume('k')));
        expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
        const remaining = decisions
          .filter((d) => d.allowed)
          .map((d) => d.remaining)
          .sort((x, y) => x - y);
        expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
      });
    });

    describe('window boundaries', () => {
      it('fixed-window: windows are aligned to the epoch', async () => {
        const h = harness('fixed-boundary');
        const limiter = h.limiter({ limit: 3, window: 1000, algorithm: 'fixed-window' });
        h.t = T0 + 990;
        const first = await limiter.consume('k');
        expect(first.resetMs).toBe(10);
        await consumeTimes(limiter, 'k', 2);
        const denied = await limiter.consume('k');
        expect(denied).toMatchObject({ allowed: false, retryAfterMs: 10, resetMs: 10 });
        h.t = T0 + 999;
        expect((await limiter.consume('k')).allowed).toBe(false);
        h.t = T0 + 1000;
        expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
        // 10 s windows start at multiples of 10 s, wherever the first request falls.
        const slow = h.limiter({ limit: 1, window: '10s', algorithm: 'fixed-window' }, uniquePrefix('fixed-boundary-10s'));
        h.t = T0 + 23_456;
        expect(await slow.consume('k')).toMatchObject({ allowed: true, resetMs: 6_544 });
        expect(await slow.consume('k')).toMatchObject({ allowed: false, retryAfterMs: 6_544 });
      });

      it('sliding-window: the previous window weighs by its remaining overlap', async () => {
        const h = harness('sliding-boundary');
        const limiter = h.limiter({ limit: 10, window: 1000, algorithm: 'sliding-window' });
        h.t = T0 + 999;
        await consumeTimes(limiter, 'k', 10);
        h.t = T0 + 1000;
        expect(await limiter.peek('k')).toMatchObject({ allowed: false, remaining: 0 });
        h.t = T0 + 1500;
        expect((await limiter.peek('k')).remaining).toBe(5);
        h.t = T0 + 1800;
        expect((await limiter.peek('k')).remaining).toBe(8);
        h.t = T0 + 2000;
        expect((await limiter.peek('k')).remaining).toBe(10);
      });

      it('sliding-log: each unit frees exactly one window after it was taken', async () => {
        const h = harness('log-boundary');
        const limiter = h.limiter({ limit: 3, window: 1000, algorithm: 'sliding-log' });
        for (const at of [0, 400, 800]) {
          h.t = T0 + at;
          expect((await limiter.consume('k')).allowed).toBe(true);
        }
        h.t = T0 + 999;
        expect(await limiter.consume('k')).toMatchObject({ allowed: false, retryAfterMs: 1 });
        h.t = T0 + 1000;
        expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
        expect(await limiter.consume('k')).toMatchObject({ allowed: false, retryAfterMs: 400 });
      });

      it.each(BUCKETS)('%s: refills continuously at limit per window', async (algorithm) => {
        const h = harness(`${algorithm}-boundary`);
        const limiter = h.limiter({ limit: 10, window: 1000, algorithm });
        expect(await drain(limiter, 'k')).toBe(10);
        const denied = await limiter.consume('k');
        expect(denied.retryAfterMs).toBe(100);
        h.t = T0 + 99;
        expect((await limiter.consume('k')).allowed).toBe(false);
        h.t = T0 + 100;
        expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
        h.t = T0 + 550;
        expect((await limiter.peek('k')).remaining).toBe(4);
        h.t = T0 + 1100;
        expect((await limiter.peek('k')).remaining).toBe(10);
        h.t = T0 + 60_000;
        expect((await limiter.peek('k')).remaining).toBe(10);
      });
    });
  });
}
