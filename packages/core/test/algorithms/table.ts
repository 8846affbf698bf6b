import type { Outcome } from '../../src/algorithms/types';
import { type Algorithm, resolveRule } from '../../src/rules';
import { Driver } from './model';

/** Aligned to every window used in the tables. */
export const T0 = 1_700_000_000_000;

/** One row: at `T0 + dt`, do `op` (cost, or the refund's `chargedAt` offset) and expect `out`. */
export type Row =
  | [dt: number, op: 'consume', cost: number, out: Partial<Outcome>]
  | [dt: number, op: 'peek', cost: 1, out: Partial<Outcome>]
  | [dt: number, op: 'refund', cost: number, chargedAtDt: number];

/** Runs the rows through the pure algorithm (driven as a store would) and checks each outcome. */
export function runTable(rule: { limit: number; window: number; algorithm: Algorithm; burst?: number }, rows: readonly Row[]): void {
  for (const mode of ['store', 'pure'] as const) {
    const driver = new Driver(resolveRule(rule), mode);
    for (const [i, row] of rows.entries()) {
      const t = T0 + row[0];
      if (row[1] === 'refund') {
        driver.refund(t, row[2], T0 + row[3]);
        continue;
      }
      const out = row[1] === 'consume' ? driver.consume(t, row[2]) : driver.peek(t);
      expect({ row: i, mode, ...out }).toEqual({ row: i, mode, ...out, ...row[3] });
    }
  }
}

/** limit−1, limit and limit+1 requests at one instant: exactly `limit` pass, remaining counts down. */
export function limitRows(limit: number, n: number): Row[] {
  return Array.from(
    { length: n },
    (_, i): Row => [0, 'consume', 1, i < limit ? { allowed: true, remaining: limit - i - 1 } : { allowed: false, remaining: 0 }],
  );
}
