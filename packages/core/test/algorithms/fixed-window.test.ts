import { fixedWindow } from '../../src/algorithms/fixed-window';
import { resolveRule } from '../../src/rules';
import { limitRows, type Row, runTable, T0 } from './table';

const rule = { limit: 3, window: 1000, algorithm: 'fixed-window' } as const;

describe('fixed-window', () => {
  it.each([2, 3, 4])('%i requests at once against a limit of 3', (n) => {
    runTable(rule, limitRows(3, n));
  });

  it.each<[string, Row[]]>([
    [
      'limit reached late in a window recovers at the aligned boundary',
      [
        [990, 'consume', 3, { allowed: true, remaining: 0, resetMs: 10 }],
        [990, 'consume', 1, { allowed: false, remaining: 0, retryAfterMs: 10, resetMs: 10 }],
        [999, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [1000, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
      ],
    ],
    [
      'a window starts at a multiple of the window, not at the first request',
      [
        [1500, 'consume', 1, { allowed: true, remaining: 2, resetMs: 500 }],
        [1999, 'consume', 2, { allowed: true, remaining: 0, resetMs: 1 }],
        [2000, 'consume', 3, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      '2 × limit can pass across a boundary (the known trade-off)',
      [
        [999, 'consume', 3, { allowed: true }],
        [1000, 'consume', 3, { allowed: true }],
      ],
    ],
    [
      'cost > 1, and a denied cost leaves the rest usable',
      [
        [0, 'consume', 2, { allowed: true, remaining: 1 }],
        [0, 'consume', 2, { allowed: false, remaining: 1, retryAfterMs: 1000 }],
        [0, 'consume', 1, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'cost > limit is never satisfiable and consumes nothing',
      [
        [0, 'consume', 4, { allowed: false, remaining: 3, retryAfterMs: Number.POSITIVE_INFINITY }],
        [0, 'peek', 1, { allowed: true, remaining: 3 }],
      ],
    ],
    [
      'refund in the same window gives units back, never below empty',
      [
        [0, 'consume', 3, { allowed: true, remaining: 0 }],
        [10, 'refund', 1, 0],
        [10, 'peek', 1, { remaining: 1 }],
        [20, 'refund', 10, 0],
        [20, 'peek', 1, { remaining: 3 }],
        [20, 'consume', 3, { allowed: true, remaining: 0 }],
        [20, 'consume', 1, { allowed: false }],
      ],
    ],
    [
      'refund after the window rolled refunds nothing',
      [
        [0, 'consume', 3, { allowed: true }],
        [1000, 'consume', 3, { allowed: true, remaining: 0 }],
        [1001, 'refund', 3, 0],
        [1001, 'consume', 1, { allowed: false }],
        [5000, 'refund', 3, 1000],
        [5000, 'peek', 1, { remaining: 3 }],
      ],
    ],
  ])('%s', (_name, rows) => {
    runTable(rule, rows);
  });

  it('expires at the end of its window', () => {
    const r = resolveRule(rule);
    const s = fixedWindow.impl.create(T0, r);
    const out = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
    fixedWindow.impl.evaluate(s, T0 + 250, r, 1, out);
    fixedWindow.impl.commit(s, T0 + 250, r, 1);
    expect(fixedWindow.impl.expiresAt(s, r)).toBe(T0 + 1000);
  });
});
