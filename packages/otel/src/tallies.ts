import type { Attributes } from '@opentelemetry/api';
import type { DecisionEvent, DecisionOutcome } from '@ratekeeper/core';

const OUTCOMES: readonly DecisionOutcome[] = ['allowed', 'limited', 'failed_open', 'failed_closed', 'fallback'];
const INDEX: Readonly<Record<DecisionOutcome, number>> = { allowed: 0, limited: 1, failed_open: 2, failed_closed: 3, fallback: 4 };

/** One (limiter, rule) pair: a count per outcome, and each outcome's attributes built once. */
interface Row {
  readonly counts: number[];
  readonly attributes: readonly Attributes[];
}

/**
 * Decision counts per (limiter, rule, outcome), kept in plain numbers and read by the
 * `ratekeeper.decisions` observable counter at collection time. A synchronous counter would hash
 * the attributes on every decision, which costs more than a memory-store decision itself; two map
 * lookups and an increment do not. The label sets are bounded (limiter and rule names are
 * configuration), so the maps are too.
 */
export class DecisionTallies {
  readonly #byLimiter = new Map<string, Map<string, Row>>();

  add(e: DecisionEvent): void {
    let byRule = this.#byLimiter.get(e.limiter);
    if (byRule === undefined) {
      byRule = new Map();
      this.#byLimiter.set(e.limiter, byRule);
    }
    let row = byRule.get(e.rule);
    if (row === undefined) {
      const { limiter, rule } = e;
      row = { counts: OUTCOMES.map(() => 0), attributes: OUTCOMES.map((outcome) => ({ outcome, rule, limiter })) };
      byRule.set(e.rule, row);
    }
    (row.counts[INDEX[e.outcome]] as number)++;
  }

  /** Calls `observe` with every non-zero count (cumulative since this tally began) and its attributes. */
  each(observe: (count: number, attributes: Attributes) => void): void {
    for (const byRule of this.#byLimiter.values())
      for (const row of byRule.values())
        row.counts.forEach((n, i) => {
          if (n > 0) observe(n, row.attributes[i] as Attributes);
        });
  }
}
