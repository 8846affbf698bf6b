import fc from 'fast-check';
import type { Algorithm } from '../../src/rules';
import { compare, ruleArb, type Step, stepsArb } from './model';

/** Epoch ms around 1.7e12, as real clocks give; the offset varies where windows start. */
const startArb = fc.integer({ min: 0, max: 200_000 }).map((o) => 1_700_000_000_000 + o);

/**
 * Property: random sequences of (advance clock, consume cost c | peek | refund) give exactly the
 * reference model's `allowed`, `remaining`, `resetMs` and `retryAfterMs`.
 */
export function describeModelProperty(algorithm: Algorithm, numRuns = 400): void {
  it(`${algorithm} matches the reference model on random traffic`, () => {
    fc.assert(
      fc.property(
        ruleArb(algorithm).chain((rule) => fc.tuple(fc.constant(rule), startArb, stepsArb(rule))),
        ([rule, start, steps]: [Parameters<typeof compare>[0], number, Step[]]) => {
          const mismatch = compare(rule, start, steps);
          if (mismatch) throw new Error(`${mismatch} (limit ${rule.limit}, window ${rule.windowMs}, burst ${rule.burst})`);
        },
      ),
      { numRuns: Number(process.env.RK_FC_RUNS) || numRuns },
    );
  });
}
