import { slidingWindow } from '../../src/algorithms/sliding-window';
import { resolveRule } from '../../src/rules';
import { limitRows, type Row, runTable, T0 } from './table';

const rule = { limit: 10, window: 1000, algorithm: 'sliding-window' } as const;

describe('sliding-window', () => {
  it.each([9, 10, 11])('%i requests at once against a limit of 10', (n) => {
    runTable(rule, limitRows(10, n));
  });

  it.each<[string, Row[]]>([
    [
      'the previous window weighs by its remaining overlap (no 2× burst at the boundary)',
      [
        [999, 'consume', 10, { allowed: true, remaining: 0, resetMs: 1 }],
        [1000, 'peek', 1, { allowed: false, remaining: 0 }],
        [1500, 'peek', 1, { allowed: true, remaining: 5 }],
        [1800, 'peek', 1, { remaining: 8 }],
        [2000, 'peek', 1, { remaining: 10 }],
      ],
    ],
    [
      'retryAfterMs is exact while the previous window fades',
      [
        [999, 'consume', 10, { allowed: true }],
        [1000, 'consume', 1, { allowed: false, retryAfterMs: 100, resetMs: 1000 }],
        [1099, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [1100, 'consume', 1, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'retryAfterMs is exact when the current window is full (it waits into the next one)',
      [
        [0, 'consume', 10, { allowed: true, remaining: 0 }],
        [0, 'consume', 1, { allowed: false, retryAfterMs: 1100 }],
        [1099, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [1100, 'consume', 1, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'cost > 1 and a denied cost consumes nothing',
      [
        [0, 'consume', 6, { allowed: true, remaining: 4 }],
        [0, 'consume', 6, { allowed: false, remaining: 4, retryAfterMs: 1334 }],
        [1333, 'consume', 6, { allowed: false, retryAfterMs: 1 }],
        [1333, 'consume', 4, { allowed: true, remaining: 1 }],
      ],
    ],
    [
      'cost > limit is never satisfiable',
      [
        [0, 'consume', 11, { allowed: false, remaining: 10, retryAfterMs: Number.POSITIVE_INFINITY }],
        [0, 'peek', 1, { remaining: 10 }],
      ],
    ],
    [
      'refund into the previous window lowers its weight',
      [
        [500, 'consume', 10, { allowed: true }],
        [1500, 'peek', 1, { remaining: 5 }],
        [1500, 'refund', 4, 500],
        [1500, 'peek', 1, { remaining: 7 }],
      ],
    ],
    [
      'refund two windows later refunds nothing; never below empty',
      [
        [0, 'consume', 10, { allowed: true }],
        [2000, 'consume', 10, { allowed: true, remaining: 0 }],
        [2000, 'refund', 10, 0],
        [2000, 'consume', 1, { allowed: false }],
        [5000, 'consume', 2, { allowed: true, remaining: 8 }],
        [5000, 'refund', 50, 5000],
        [5000, 'peek', 1, { remaining: 10 }],
        [5000, 'consume', 10, { allowed: true, remaining: 0 }],
      ],
    ],
  ])('%s', (_name, rows) => {
    runTable(rule, rows);
  });

  it('stays alive for two windows after its last count', () => {
    const r = resolveRule(rule);
    const s = slidingWindow.impl.create(T0, r);
    const out = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
    slidingWindow.impl.evaluate(s, T0 + 250, r, 1, out);
    slidingWindow.impl.commit(s, T0 + 250, r, 1);
    expect(slidingWindow.impl.expiresAt(s, r)).toBe(T0 + 2000);
  });
});
