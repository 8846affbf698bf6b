import { deepStrictEqual, ok, strictEqual } from 'node:assert';
import { ALGORITHM_DESCRIPTORS } from '../algorithms/index';
import type { Decision } from '../decision';
import { createLimiter, type Limiter, type LimiterOptions } from '../limiter';
import { ALGORITHMS } from '../rules';
import type { Store } from '../stores/types';

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
const run = `${Date.now().toString(36)}-${Math.floor(Math.random() * 1e9).toString(36)}`;

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
 * The two functions of a test runner the suite needs: Jest's and Vitest's globals, or
 * `import { describe, it } from 'node:test'`.
 */
export interface TestApi {
  describe(name: string, fn: () => void): unknown;
  it(name: string, fn: () => Promise<void>): unknown;
}

/** Asserts that `actual` has every property of `expected` with a deeply equal value. */
function matchObject(actual: object, expected: Record<string, unknown>): void {
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(expected)) picked[key] = (actual as Record<string, unknown>)[key];
  deepStrictEqual(picked, expected);
}

/**
 * Registers the store contract suite for one store: what every {@link Store} must show through
 * `createLimiter`, for every algorithm (limits, exact `retryAfterMs`, denied requests consume
 * nothing, cost, peek, refund, reset, several rules all-or-nothing, blockFor, 1,000 concurrent
 * consumes on a limit of 100, window boundaries). Assertions use `node:assert`, so it runs under
 * Jest, Vitest and `node:test` alike.
 * @param api the runner's `describe` and `it`.
 * @param makeStore called once, by the first test; tests isolate themselves by key prefix, so one
 *   shared store (a Redis server) serves them all. A store with its own clock must use the limiter's
 *   `now` (e.g. `new RedisStore({ client, clock: 'client' })`).
 * @example
 * import { describe, it } from 'node:test';
 * describeStoreContract({ describe, it }, 'my store', () => new MyStore());
 */
export function describeStoreContract(api: TestApi, name: string, makeStore: () => Store | Promise<Store>): void {
  const { describe, it } = api;
  describe(`store contract: ${name}`, () => {
    // Built by the first test that needs it (node:test, Jest and Vitest name their hooks apart).
    let store: Promise<Store> | undefined;
    const storeOnce = (): Promise<Store> => {
      store ??= Promise.resolve(makeStore());
      return store;
    };

    async function harness(testName: string): Promise<Harness> {
      const prefix = uniquePrefix(testName);
      const store = await storeOnce();
      const h: Harness = {
        t: T0,
        limiter: (options, p = prefix) =>
          createLimiter({ timeoutMs: 30_000, ...options, store, prefix: p, now: () => h.t } as LimiterOptions),
      };
      return h;
    }

    for (const algorithm of ALGORITHMS)
      describe(algorithm, () => {
        const one = (limit: number, window: number | `${number}s` = 1000, extra: { burst?: number; blockFor?: number } = {}) => ({
          limit,
          window,
          algorithm,
          ...extra,
        });

        for (const [limit, n] of [
          [1, 0],
          [1, 1],
          [1, 2],
          [10, 9],
          [10, 10],
          [10, 11],
          [100, 99],
          [100, 100],
          [100, 101],
        ] as const)
          it(`limit ${limit}: ${n} requests at one instant allow exactly min(n, limit), remaining counts down`, async () => {
            const h = await harness(`${algorithm}-table-${limit}-${n}`);
            const limiter = h.limiter(one(limit, 60_000));
            const decisions = await consumeTimes(limiter, 'k', n);
            for (const [i, d] of decisions.entries()) {
              if (i < limit) {
                matchObject(d, { allowed: true, limit, remaining: limit - i - 1, retryAfterMs: 0 });
              } else {
                strictEqual(d.allowed, false);
                strictEqual(d.remaining, 0);
                ok(d.retryAfterMs > 0);
                strictEqual(Number.isFinite(d.retryAfterMs), true);
              }
              strictEqual(d.at, T0);
            }
            const last = decisions.at(-1);
            if (last) strictEqual(last.allowed, n <= limit);
          });

        it('denied requests consume nothing', async () => {
          const h = await harness(`${algorithm}-denied`);
          const limiter = h.limiter(one(5));
          await consumeTimes(limiter, 'hammered', 5);
          await consumeTimes(limiter, 'control', 5);
          const first = await limiter.consume('hammered');
          strictEqual(first.allowed, false);
          const more = await consumeTimes(limiter, 'hammered', 50);
          for (const d of more) matchObject(d, { allowed: false, remaining: 0, retryAfterMs: first.retryAfterMs });
          // Big denied costs too.
          strictEqual((await limiter.consume('hammered', { cost: 3 })).allowed, false);
          // From here on the hammered key behaves exactly like one that was never denied.
          for (const step of [first.retryAfterMs, 1, 99, 250, 1000, 3000]) {
            h.t += step;
            const a = await limiter.consume('hammered');
            const b = await limiter.consume('control');
            deepStrictEqual({ ...a, rules: undefined, rule: a.rule.id }, { ...b, rules: undefined, rule: b.rule.id });
          }
        });

        for (const [limit, cost] of [
          [4, 1],
          [5, 2],
          [7, 3],
        ] as const)
          it(`retryAfterMs is exact (limit ${limit}, cost ${cost}): allowed at t + retryAfterMs, denied at t + retryAfterMs − 1`, async () => {
            const h = await harness(`${algorithm}-retry-${limit}-${cost}`);
            const limiter = h.limiter(one(limit));
            const steps = [0, 0, 137, 0, 300, 0, 0, 563, 10, 0, 0, 999, 1, 0, 0, 0, 250, 0, 0, 0, 0, 1700, 0, 0, 0, 0, 0, 420, 0, 0, 0];
            let denials = 0;
            for (const step of steps) {
              h.t += step;
              const d = await limiter.consume('k', { cost });
              if (d.allowed) continue;
              denials++;
              ok(d.retryAfterMs > 0);
              strictEqual(Number.isInteger(d.retryAfterMs), true);
              const deniedAt = h.t;
              h.t = deniedAt + d.retryAfterMs - 1;
              const early = await limiter.consume('k', { cost });
              deepStrictEqual({ at: h.t - deniedAt, allowed: early.allowed }, { at: d.retryAfterMs - 1, allowed: false });
              h.t = deniedAt + d.retryAfterMs;
              const onTime = await limiter.consume('k', { cost });
              deepStrictEqual({ at: h.t - deniedAt, allowed: onTime.allowed }, { at: d.retryAfterMs, allowed: true });
            }
            ok(denials > 2);
          });

        it('cost > 1 takes that many units at once', async () => {
          const h = await harness(`${algorithm}-cost`);
          const limiter = h.limiter(one(10, 60_000));
          matchObject(await limiter.consume('k', { cost: 4 }), { allowed: true, remaining: 6 });
          matchObject(await limiter.consume('k', { cost: 4 }), { allowed: true, remaining: 2 });
          const denied = await limiter.consume('k', { cost: 4 });
          matchObject(denied, { allowed: false, remaining: 2 });
          strictEqual(Number.isFinite(denied.retryAfterMs) && denied.retryAfterMs > 0, true);
          matchObject(await limiter.consume('k', { cost: 2 }), { allowed: true, remaining: 0 });
          strictEqual((await limiter.consume('k')).allowed, false);
        });

        it('cost > capacity is never satisfiable: allowed false, retryAfterMs Infinity, nothing consumed', async () => {
          const h = await harness(`${algorithm}-capacity`);
          const limiter = h.limiter(one(10));
          const d = await limiter.consume('k', { cost: 11 });
          matchObject(d, { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
          strictEqual((await limiter.peek('k')).remaining, 10);
          strictEqual(await drain(limiter, 'k'), 10);
          // Still never, even on a full key.
          strictEqual((await limiter.consume('k', { cost: 11 })).retryAfterMs, Number.POSITIVE_INFINITY);
          if (ALGORITHM_DESCRIPTORS[algorithm].takesBurst) {
            const bucket = h.limiter({ ...one(10), burst: 4 }, uniquePrefix(`${algorithm}-capacity-burst`));
            matchObject(await bucket.consume('k', { cost: 5 }), { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
            matchObject(await bucket.consume('k', { cost: 4 }), { allowed: true, remaining: 0 });
          }
        });

        it('peek consumes nothing and reports what consume would', async () => {
          const h = await harness(`${algorithm}-peek`);
          const limiter = h.limiter(one(3));
          for (let i = 0; i < 5; i++) matchObject(await limiter.peek('k'), { allowed: true, remaining: 3, retryAfterMs: 0 });
          await limiter.consume('k');
          matchObject(await limiter.peek('k'), { allowed: true, remaining: 2 });
          await consumeTimes(limiter, 'k', 2);
          const peeked = await limiter.peek('k');
          const consumed = await limiter.consume('k');
          matchObject(peeked, { allowed: false, remaining: 0, retryAfterMs: consumed.retryAfterMs });
          strictEqual(consumed.allowed, false);
          h.t += consumed.retryAfterMs;
          for (let i = 0; i < 3; i++) strictEqual((await limiter.peek('k')).allowed, true);
          strictEqual((await limiter.consume('k')).allowed, true);
        });

        it('refund gives units back, never beyond the limit', async () => {
          const h = await harness(`${algorithm}-refund`);
          const limiter = h.limiter(one(10, 60_000));
          const d = await limiter.consume('k', { cost: 3 });
          strictEqual(d.remaining, 7);
          await limiter.refund('k', 2, { at: d.at });
          strictEqual((await limiter.peek('k')).remaining, 9);
          await limiter.refund('k');
          strictEqual((await limiter.peek('k')).remaining, 10);
          // Never below empty: refunding more than was taken leaves a plain full quota.
          await limiter.refund('k', 50);
          strictEqual((await limiter.peek('k')).remaining, 10);
          strictEqual(await drain(limiter, 'k'), 10);
          // A full key gets exactly the refunded unit back.
          await limiter.refund('k');
          strictEqual(await drain(limiter, 'k'), 1);
        });

        it('refund after expiry does not go below empty or resurrect state; refund on an unknown key is a no-op', async () => {
          const h = await harness(`${algorithm}-refund-expired`);
          const limiter = h.limiter(one(5));
          await limiter.refund('ghost', 3);
          strictEqual((await limiter.peek('ghost')).remaining, 5);
          const ghost = await consumeTimes(limiter, 'ghost', 6);
          deepStrictEqual(
            ghost.map((d) => d.allowed),
            [true, true, true, true, true, false],
          );
          deepStrictEqual(
            ghost.map((d) => d.remaining),
            [4, 3, 2, 1, 0, 0],
          );

          const d = await limiter.consume('old', { cost: 3 });
          h.t += 5_000; // long after every algorithm forgot the charge
          await limiter.refund('old', 3, { at: d.at });
          await limiter.refund('old', 5);
          const after = await consumeTimes(limiter, 'old', 6);
          deepStrictEqual(
            after.map((x) => x.allowed),
            [true, true, true, true, true, false],
          );
          deepStrictEqual(
            after.map((x) => x.remaining),
            [4, 3, 2, 1, 0, 0],
          );
        });

        it('refund with the `at` of a charge whose window has passed refunds nothing', async () => {
          const h = await harness(`${algorithm}-refund-at`);
          const limiter = h.limiter(one(5));
          const old = await limiter.consume('k', { cost: 2 });
          h.t += 2_000; // two windows: the charge no longer counts anywhere
          strictEqual(await drain(limiter, 'k'), 5);
          await limiter.refund('k', 2, { at: old.at });
          strictEqual((await limiter.consume('k')).allowed, false);
          // The current charge can still be refunded.
          const now = h.t;
          await limiter.refund('k', 1, { at: now });
          strictEqual((await limiter.consume('k')).allowed, true);
        });

        it('reset(key) forgets one key; reset() forgets this limiter only', async () => {
          const h = await harness(`${algorithm}-reset`);
          const a = h.limiter(one(3, 60_000));
          const b = h.limiter(one(3, 60_000), uniquePrefix(`${algorithm}-reset-other`));
          for (const key of ['k1', 'k2']) {
            strictEqual(await drain(a, key), 3);
            strictEqual(await drain(b, key), 3);
          }
          await a.reset('k1');
          strictEqual(await drain(a, 'k1'), 3);
          strictEqual(await drain(a, 'k2'), 0);
          await a.reset();
          strictEqual(await drain(a, 'k1'), 3);
          strictEqual(await drain(a, 'k2'), 3);
          // Another prefix on the same store keeps its state.
          strictEqual(await drain(b, 'k1'), 0);
          strictEqual(await drain(b, 'k2'), 0);
        });

        it('several rules are all-or-nothing; the binding rule follows DESIGN.md', async () => {
          const h = await harness(`${algorithm}-rules`);
          const limiter = h.limiter({
            rules: [
              { limit: 2, window: 1000, algorithm, name: 'burst' },
              { limit: 3, window: 100_000, algorithm, name: 'long' },
            ],
          });
          const first = await limiter.consume('k');
          // Allowed: the binding rule is the one with the least remaining.
          matchObject(first, { allowed: true, remaining: 1, limit: 2 });
          strictEqual(first.rule.name, 'burst');
          deepStrictEqual(
            first.rules.map((r) => [r.rule.name, r.allowed, r.remaining]),
            [
              ['burst', true, 1],
              ['long', true, 2],
            ],
          );
          await limiter.consume('k');
          const byBurst = await limiter.consume('k');
          strictEqual(byBurst.allowed, false);
          strictEqual(byBurst.rule.name, 'burst');
          deepStrictEqual(
            byBurst.rules.map((r) => [r.rule.name, r.allowed, r.remaining]),
            [
              ['burst', false, 0],
              ['long', true, 1],
            ],
          );
          strictEqual(byBurst.retryAfterMs, byBurst.rules[0]?.retryAfterMs);

          h.t += 2_000; // the burst rule is empty again, the long rule is not
          const third = await limiter.consume('k');
          // Had the denial consumed from `long`, this would be denied.
          strictEqual(third.allowed, true);
          strictEqual(third.rule.name, 'long');
          strictEqual(third.remaining, 0);
          deepStrictEqual(
            third.rules.map((r) => [r.rule.name, r.remaining]),
            [
              ['burst', 1],
              ['long', 0],
            ],
          );

          const byLong = await limiter.consume('k');
          strictEqual(byLong.allowed, false);
          strictEqual(byLong.rule.name, 'long');
          deepStrictEqual(
            byLong.rules.map((r) => [r.rule.name, r.allowed, r.remaining]),
            [
              ['burst', true, 1],
              ['long', false, 0],
            ],
          );
          // Both deny: the binding rule is the one with the longest wait.
          const both = await limiter.consume('k', { cost: 2 });
          deepStrictEqual(
            both.rules.map((r) => r.allowed),
            [false, false],
          );
          const [burstWait, longWait] = both.rules.map((r) => r.retryAfterMs) as [number, number];
          ok(longWait > burstWait);
          matchObject(both, { allowed: false, retryAfterMs: longWait });
          strictEqual(both.rule.name, 'long');
          // The refusal by `long` left `burst` untouched too.
          strictEqual((await limiter.peek('k')).rules[0]?.remaining, 1);
        });

        it('blockFor keeps a denied key denied for that long, then it recovers', async () => {
          const h = await harness(`${algorithm}-block`);
          const limiter = h.limiter(one(2, 1000, { blockFor: 5000 }));
          await consumeTimes(limiter, 'k', 2);
          const denied = await limiter.consume('k');
          matchObject(denied, { allowed: false, remaining: 0, retryAfterMs: 5000 });
          h.t += 3000; // the rule alone would allow again by now
          const stillBlocked = await limiter.consume('k');
          matchObject(stillBlocked, { allowed: false, remaining: 0, retryAfterMs: 2000 });
          matchObject(await limiter.peek('k'), { allowed: false, retryAfterMs: 2000 });
          h.t += 1999;
          strictEqual((await limiter.consume('k')).allowed, false);
          h.t += 1;
          matchObject(await limiter.consume('k'), { allowed: true, remaining: 1 });
          // Other keys were never blocked.
          strictEqual((await limiter.consume('other')).allowed, true);
        });

        it('1,000 concurrent consumes on a limit of 100 allow exactly 100', async () => {
          const h = await harness(`${algorithm}-concurrent`);
          const limiter = h.limiter(one(100, 60_000));
          const decisions = await Promise.all(Array.from({ length: 1000 }, () => limiter.consume('k')));
          strictEqual(decisions.filter((d) => d.allowed).length, 100);
          const remaining = decisions
            .filter((d) => d.allowed)
            .map((d) => d.remaining)
            .sort((x, y) => x - y);
          deepStrictEqual(
            remaining,
            Array.from({ length: 100 }, (_, i) => i),
          );
        });
      });

    describe('window boundaries', () => {
      it('fixed-window: windows are aligned to the epoch', async () => {
        const h = await harness('fixed-boundary');
        const limiter = h.limiter({ limit: 3, window: 1000, algorithm: 'fixed-window' });
        h.t = T0 + 990;
        const first = await limiter.consume('k');
        strictEqual(first.resetMs, 10);
        await consumeTimes(limiter, 'k', 2);
        const denied = await limiter.consume('k');
        matchObject(denied, { allowed: false, retryAfterMs: 10, resetMs: 10 });
        h.t = T0 + 999;
        strictEqual((await limiter.consume('k')).allowed, false);
        h.t = T0 + 1000;
        matchObject(await limiter.consume('k'), { allowed: true, remaining: 2, resetMs: 1000 });
        // 10 s windows start at multiples of 10 s, wherever the first request falls.
        const slow = h.limiter({ limit: 1, window: '10s', algorithm: 'fixed-window' }, uniquePrefix('fixed-boundary-10s'));
        h.t = T0 + 23_456;
        matchObject(await slow.consume('k'), { allowed: true, resetMs: 6_544 });
        matchObject(await slow.consume('k'), { allowed: false, retryAfterMs: 6_544 });
      });

      it('sliding-window: the previous window weighs by its remaining overlap', async () => {
        const h = await harness('sliding-boundary');
        const limiter = h.limiter({ limit: 10, window: 1000, algorithm: 'sliding-window' });
        h.t = T0 + 999;
        await consumeTimes(limiter, 'k', 10);
        h.t = T0 + 1000;
        matchObject(await limiter.peek('k'), { allowed: false, remaining: 0 });
        h.t = T0 + 1500;
        strictEqual((await limiter.peek('k')).remaining, 5);
        h.t = T0 + 1800;
        strictEqual((await limiter.peek('k')).remaining, 8);
        h.t = T0 + 2000;
        strictEqual((await limiter.peek('k')).remaining, 10);
      });

      it('sliding-log: each unit frees exactly one window after it was taken', async () => {
        const h = await harness('log-boundary');
        const limiter = h.limiter({ limit: 3, window: 1000, algorithm: 'sliding-log' });
        for (const at of [0, 400, 800]) {
          h.t = T0 + at;
          strictEqual((await limiter.consume('k')).allowed, true);
        }
        h.t = T0 + 999;
        matchObject(await limiter.consume('k'), { allowed: false, retryAfterMs: 1 });
        h.t = T0 + 1000;
        matchObject(await limiter.consume('k'), { allowed: true, remaining: 0 });
        matchObject(await limiter.consume('k'), { allowed: false, retryAfterMs: 400 });
      });

      for (const algorithm of BUCKETS)
        it(`${algorithm}: refills continuously at limit per window`, async () => {
          const h = await harness(`${algorithm}-boundary`);
          const limiter = h.limiter({ limit: 10, window: 1000, algorithm });
          strictEqual(await drain(limiter, 'k'), 10);
          const denied = await limiter.consume('k');
          strictEqual(denied.retryAfterMs, 100);
          h.t = T0 + 99;
          strictEqual((await limiter.consume('k')).allowed, false);
          h.t = T0 + 100;
          matchObject(await limiter.consume('k'), { allowed: true, remaining: 0 });
          h.t = T0 + 550;
          strictEqual((await limiter.peek('k')).remaining, 4);
          h.t = T0 + 1100;
          strictEqual((await limiter.peek('k')).remaining, 10);
          h.t = T0 + 60_000;
          strictEqual((await limiter.peek('k')).remaining, 10);
        });
    });
  });
}
