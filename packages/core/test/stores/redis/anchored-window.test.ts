import { type Decision, MemoryStore, type RawResult, type Rule, resolveRules, type Store } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type HttpOutcome } from '@ratekeeper/core/http';
import { RedisStore } from '@ratekeeper/core/redis';
import fc from 'fast-check';
import { ClientPool, FAMILIES, type Topology } from './clients';
import { uniquePrefix } from './helpers';

// The anchored window (a fixed window per key from its first charge) on MemoryStore and RedisStore:
// random sequences that stress the anchor (windows ending and reopening at arbitrary times, refunds
// of charges from this and older windows, blockFor, rules of other algorithms beside it) give
// identical raw results; through the HTTP pipeline, the reset headers say anchor + window on both
// stores, and a refunded response (countResponse) gives its unit back without moving the anchor.

const pool = new ClientPool();
afterAll(() => pool.closeAll());
const ioredis = FAMILIES.find((f) => f.name === 'ioredis');
if (ioredis === undefined) throw new Error('no ioredis family');

const T0 = 1_700_000_000_000;

const ruleArb: fc.Arbitrary<Rule> = fc
  .record({
    limit: fc.integer({ min: 1, max: 8 }),
    window: fc.constantFrom(7, 100, 1000, 3001),
    blockFor: fc.constantFrom(0, 0, 0, 40, 2500),
    other: fc.constantFrom(undefined, undefined, undefined, 'fixed-window' as const, 'gcra' as const),
  })
  .map(
    ({ limit, window, blockFor, other }): Rule => ({
      algorithm: other ?? 'anchored-window',
      limit,
      window,
      ...(blockFor > 0 ? { blockFor } : {}),
    }),
  );

type Op =
  | { kind: 'step'; ms: number }
  | { kind: 'consume'; cost: number }
  | { kind: 'peek' }
  | { kind: 'refund'; cost: number; back: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('step' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 4000 })),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('consume' as const), cost: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 10 })) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      cost: fc.integer({ min: 1, max: 4 }),
      back: fc.integer({ min: 0, max: 4 }),
    }),
  },
);

const norm = (raw: RawResult): number[] => Array.from(raw, (x) => (x === Number.POSITIVE_INFINITY ? -1 : x));

/** A pipeline request: the key is the client. */
interface Req {
  readonly key: string;
}
const adapter: HttpAdapter<Req> = { ip: () => '192.0.2.1', route: () => undefined, trustsProxy: () => false, header: () => undefined };

describe.each<Topology>(['standalone', 'cluster'])('anchored-window on MemoryStore and RedisStore (%s)', (topology) => {
  let redis: RedisStore;
  beforeAll(async () => {
    redis = new RedisStore({ client: await pool.make(ioredis, topology), clock: 'client' });
  });

  it('random rule sets with anchored windows and request sequences give identical raw results (200 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(ruleArb, { minLength: 1, maxLength: 3 }).filter((rules) => rules.some((r) => r.algorithm === 'anchored-window')),
        fc.integer({ min: 0, max: 86_400_000 }),
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        async (ruleList, offset, ops) => {
          const rules = resolveRules(ruleList.map((r, i) => ({ ...r, name: `r${i}` })));
          const prefix = uniquePrefix('anchored-parity');
          const mem = new MemoryStore().bind(rules, prefix);
          const red = redis.bind(rules, prefix);
          let now = T0 + offset;
          const charges: number[] = [];
          for (const op of ops) {
            if (op.kind === 'step') now += op.ms;
            else if (op.kind === 'consume') {
              const a = norm(mem.consume('k', op.cost, now) as RawResult);
              expect({ op, now, result: norm(await red.consume('k', op.cost, now)) }).toEqual({ op, now, result: a });
              if (a[1] === 1) charges.push(now);
            } else if (op.kind === 'peek') {
              const a = norm(mem.peek('k', now) as RawResult);
              expect({ op, now, result: norm(await red.peek('k', now)) }).toEqual({ op, now, result: a });
            } else {
              const at = charges.length === 0 ? now : (charges[Math.max(0, charges.length - 1 - op.back)] as number);
              mem.refund('k', op.cost, now, at);
              await red.refund('k', op.cost, now, at);
            }
          }
          await red.reset('k');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('through the HTTP pipeline: reset = anchor + window in the headers, and a refunded 5xx keeps the anchor', async () => {
    const stores: [string, Store][] = [
      ['memory', new MemoryStore()],
      ['redis', redis],
    ];
    const seen: Record<string, unknown[]> = {};
    for (const [name, store] of stores) {
      let t = T0 + 123_456;
      const anchor = t;
      const http = createHttpLimiter<Req>(
        {
          limit: 3,
          window: '1m',
          algorithm: 'anchored-window',
          store,
          prefix: uniquePrefix('anchored-http'),
          now: () => t,
          key: (r) => r.key,
          headers: ['legacy', 'draft-7'],
        },
        adapter,
      );
      const log: unknown[] = [];
      const request = async (status = 200): Promise<Decision> => {
        const req = { key: 'client' };
        const out = (await http.handle(req, {})) as HttpOutcome;
        log.push({ at: t - anchor, allowed: out.decision.allowed, headers: out.headers });
        // The refund a not-counted response makes is not awaited by the pipeline: the test awaits it.
        const d = out.decision;
        const refund = d.refund;
        let refunded: Promise<void> | undefined;
        Object.assign(d, { refund: (...args: Parameters<typeof refund>) => (refunded = refund.apply(d, args)) });
        out.finish?.(status);
        await refunded;
        return d;
      };
      // The first request anchors the window: its reset is a full minute away.
      const first = await request();
      expect(first.at + first.resetMs).toBe(anchor + 60_000);
      t += 20_000;
      // Answered 503: not counted (countResponse), the window keeps its anchor.
      const failed = await request(503);
      expect(failed.at + failed.resetMs).toBe(anchor + 60_000);
      t += 1_000;
      expect((await request()).remaining).toBe(1);
      expect((await request()).remaining).toBe(0);
      const refused = await request();
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBe(anchor + 60_000 - t);
      // At anchor + window the quota is back, and the next request anchors a new window.
      t = anchor + 60_000;
      const next = await request();
      expect(next.allowed).toBe(true);
      expect(next.at + next.resetMs).toBe(t + 60_000);
      seen[name] = log;
    }
    expect(seen.redis).toEqual(seen.memory);
    expect(seen.memory?.[0]).toEqual({
      at: 0,
      allowed: true,
      headers: expect.objectContaining({
        'X-RateLimit-Remaining': '2',
        'X-RateLimit-Reset': `${Math.ceil((T0 + 123_456 + 60_000) / 1000)}`,
        RateLimit: 'limit=3, remaining=2, reset=60',
      }),
    });
    expect(seen.memory?.[4]).toEqual({
      at: 21_000,
      allowed: false,
      headers: expect.objectContaining({ 'Retry-After': '39', RateLimit: 'limit=3, remaining=0, reset=39' }),
    });
  });
});
