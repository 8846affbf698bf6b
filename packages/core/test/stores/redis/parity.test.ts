import { MemoryStore, type RawResult, type Rule, resolveRules } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import fc from 'fast-check';
import { ALGORITHM_DESCRIPTORS } from '../../../src/algorithms/index';
import { ALGORITHMS } from '../../../src/rules';
import { ClientPool, FAMILY_TOPOLOGIES } from './clients';
import { uniquePrefix } from './helpers';

// Parity: the Lua twins must compute exactly what the TypeScript algorithms compute. Random rule
// sets (1-3 rules, every registered algorithm, odd windows so T = W/L is fractional, bursts, blockFor) and random
// sequences of clock steps, consumes, peeks and refunds run on a MemoryStore and on a RedisStore
// with the client clock; every raw result must be identical. It runs for every client family on
// standalone and Cluster (replies are decoded by each client: the same numbers must come back);
// ioredis standalone runs the most cases, the others enough to catch a decoding difference.

const pool = new ClientPool();
afterAll(() => pool.closeAll());

const ruleArb: fc.Arbitrary<Rule> = fc
  .record({
    algorithm: fc.constantFrom(...ALGORITHMS),
    limit: fc.integer({ min: 1, max: 12 }),
    window: fc.constantFrom(7, 100, 1000, 3000, 7001),
    burstExtra: fc.integer({ min: -3, max: 6 }),
    blockFor: fc.constantFrom(0, 0, 50, 2500),
  })
  .map(({ algorithm, limit, window, burstExtra, blockFor }) => {
    const rule: Rule = { algorithm, limit, window };
    if (ALGORITHM_DESCRIPTORS[algorithm].takesBurst && burstExtra !== 0) rule.burst = Math.max(1, limit + burstExtra);
    if (blockFor > 0) rule.blockFor = blockFor;
    return rule;
  });

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
      ms: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 9000 })),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constant('consume' as const), cost: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 15 })) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      cost: fc.integer({ min: 1, max: 5 }),
      back: fc.integer({ min: 0, max: 5 }),
    }),
  },
);

function norm(raw: RawResult): number[] {
  return Array.from(raw, (x) => (x === Number.POSITIVE_INFINITY ? -1 : x));
}

describe.each(FAMILY_TOPOLOGIES)('Lua twins compute exactly what the TypeScript algorithms compute (%s, %s)', (name, topology, family) => {
  const numRuns = name === 'ioredis' && topology === 'standalone' ? 400 : 150;
  it(`random rule sets and request sequences give identical raw results on MemoryStore and RedisStore (${numRuns} runs)`, async () => {
    const redisStore = new RedisStore({ client: await pool.make(family, topology), clock: 'client' });
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(ruleArb, { minLength: 1, maxLength: 3, selector: (r) => JSON.stringify(r) }),
        fc.integer({ min: 0, max: 86_400_000 }),
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        async (ruleList, offset, ops) => {
          const rules = resolveRules(ruleList.map((r, i) => ({ ...r, name: `r${i}` })));
          const prefix = uniquePrefix('parity');
          const mem = new MemoryStore().bind(rules, prefix);
          const red = redisStore.bind(rules, prefix);
          let now = 1_700_000_000_000 + offset;
          const charges: number[] = [];
          for (const op of ops) {
            if (op.kind === 'step') {
              now += op.ms;
            } else if (op.kind === 'consume') {
              const a = norm(mem.consume('k', op.cost, now) as RawResult);
              const b = norm(await red.consume('k', op.cost, now));
              expect({ op, now, result: b }).toEqual({ op, now, result: a });
              if (a[1] === 1) charges.push(now);
            } else if (op.kind === 'peek') {
              const a = norm(mem.peek('k', now) as RawResult);
              const b = norm(await red.peek('k', now));
              expect({ op, now, result: b }).toEqual({ op, now, result: a });
            } else {
              const at = charges.length === 0 ? now : (charges[Math.max(0, charges.length - 1 - op.back)] as number);
              mem.refund('k', op.cost, now, at);
              await red.refund('k', op.cost, now, at);
            }
          }
          await red.reset('k');
        },
      ),
      { numRuns },
    );
  });
});
