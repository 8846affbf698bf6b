import { anchoredWindow } from '../../src/algorithms/anchored-window';
import { resolveRule } from '../../src/rules';
import { limitRows, type Row, runTable, T0 } from './table';

const rule = { limit: 3, window: 1000, algorithm: 'anchored-window' } as const;

describe('anchored-window', () => {
  it.each([2, 3, 4])('%i requests at once against a limit of 3', (n) => {
    runTable(rule, limitRows(3, n));
  });

  it.each<[string, Row[]]>([
    [
      'the window starts at the first request, not at a multiple of the window',
      [
        [1500, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
        [1999, 'consume', 2, { allowed: true, remaining: 0, resetMs: 501 }],
        [2000, 'consume', 1, { allowed: false, remaining: 0, retryAfterMs: 500, resetMs: 500 }],
        [2499, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [2500, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
      ],
    ],
    [
      'a new window starts at the first request after the old one ended, not at its end',
      [
        [0, 'consume', 3, { allowed: true, resetMs: 1000 }],
        [1700, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
        [2699, 'consume', 2, { allowed: true, remaining: 0, resetMs: 1 }],
        [2700, 'consume', 3, { allowed: true, remaining: 0, resetMs: 1000 }],
      ],
    ],
    [
      'a peek opens no window',
      [
        [0, 'peek', 1, { allowed: true, remaining: 3, resetMs: 1000 }],
        [600, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
        [1599, 'consume', 2, { allowed: true, remaining: 0, resetMs: 1 }],
      ],
    ],
    [
      '2 × limit can pass across the end of a window (the trade-off of every fixed window)',
      [
        [0, 'consume', 3, { allowed: true }],
        [999, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [1000, 'consume', 3, { allowed: true }],
      ],
    ],
    [
      'cost > 1, and a denied cost leaves the rest usable',
      [
        [0, 'consume', 2, { allowed: true, remaining: 1 }],
        [10, 'consume', 2, { allowed: false, remaining: 1, retryAfterMs: 990 }],
        [10, 'consume', 1, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'cost > limit is never satisfiable, consumes nothing and opens no window',
      [
        [0, 'consume', 4, { allowed: false, remaining: 3, retryAfterMs: Number.POSITIVE_INFINITY }],
        [500, 'consume', 1, { allowed: true, remaining: 2, resetMs: 1000 }],
      ],
    ],
    [
      'refund in the window gives units back, never below empty, and keeps its start',
      [
        [0, 'consume', 3, { allowed: true, remaining: 0 }],
        [10, 'refund', 1, 0],
        [10, 'peek', 1, { remaining: 1, resetMs: 990 }],
        [20, 'refund', 10, 0],
        [20, 'peek', 1, { remaining: 3, resetMs: 980 }],
        [30, 'consume', 1, { allowed: true, remaining: 2, resetMs: 970 }],
      ],
    ],
    [
      'refund after the window ended, or of a charge from an older window, refunds nothing',
      [
        [0, 'consume', 3, { allowed: true }],
        [1500, 'consume', 3, { allowed: true, remaining: 0, resetMs: 1000 }],
        [1501, 'refund', 3, 0],
        [1501, 'consume', 1, { allowed: false, retryAfterMs: 999 }],
        [5000, 'refund', 3, 1500],
        [5000, 'peek', 1, { remaining: 3, resetMs: 1000 }],
      ],
    ],
  ])('%s', (_name, rows) => {
    runTable(rule, rows);
  });

  it('expires a window after its first charge, and is empty before any', () => {
    const r = resolveRule(rule);
    const s = anchoredWindow.impl.create(T0, r);
    expect(anchoredWindow.impl.expiresAt(s, r)).toBe(Number.NEGATIVE_INFINITY);
    const out = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
    anchoredWindow.impl.evaluate(s, T0 + 250, r, 1, out);
    anchoredWindow.impl.commit(s, T0 + 250, r, 1);
    expect(anchoredWindow.impl.expiresAt(s, r)).toBe(T0 + 1250);
    anchoredWindow.impl.evaluate(s, T0 + 900, r, 1, out);
    anchoredWindow.impl.commit(s, T0 + 900, r, 1);
    expect(anchoredWindow.impl.expiresAt(s, r)).toBe(T0 + 1250);
  });
});
