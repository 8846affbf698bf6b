import { limitRows, type Row, runTable } from './table';

const rule = { limit: 3, window: 1000, algorithm: 'sliding-log' } as const;

describe('sliding-log', () => {
  it.each([2, 3, 4])('%i requests at once against a limit of 3', (n) => {
    runTable(rule, limitRows(3, n));
  });

  it.each<[string, Row[]]>([
    [
      'each unit frees exactly one window after it was taken',
      [
        [0, 'consume', 1, { allowed: true, remaining: 2 }],
        [400, 'consume', 1, { allowed: true, remaining: 1 }],
        [800, 'consume', 1, { allowed: true, remaining: 0 }],
        [999, 'consume', 1, { allowed: false, remaining: 0, retryAfterMs: 1, resetMs: 801 }],
        [1000, 'consume', 1, { allowed: true, remaining: 0 }],
        [1000, 'consume', 1, { allowed: false, retryAfterMs: 400 }],
        [1000, 'consume', 2, { allowed: false, retryAfterMs: 800 }],
        [1399, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [1400, 'consume', 1, { allowed: true }],
      ],
    ],
    [
      'cost > limit is never satisfiable',
      [
        [0, 'consume', 4, { allowed: false, remaining: 3, retryAfterMs: Number.POSITIVE_INFINITY }],
        [0, 'peek', 1, { remaining: 3 }],
      ],
    ],
    [
      'refund removes the charge’s own entries, not later ones',
      [
        [0, 'consume', 1, { allowed: true }],
        [500, 'consume', 2, { allowed: true, remaining: 0 }],
        [600, 'refund', 1, 0],
        [600, 'peek', 1, { remaining: 1 }],
        [1000, 'peek', 1, { remaining: 1 }],
        [1500, 'peek', 1, { remaining: 3 }],
      ],
    ],
    [
      'refund without a charge time (now) removes the newest entries',
      [
        [0, 'consume', 3, { allowed: true }],
        [100, 'refund', 1, 100],
        [100, 'consume', 1, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'refund of a charge that aged out refunds nothing; never below empty',
      [
        [0, 'consume', 3, { allowed: true }],
        [1000, 'consume', 3, { allowed: true, remaining: 0 }],
        [1000, 'refund', 3, 0],
        [1000, 'consume', 1, { allowed: false }],
        [5000, 'consume', 1, { allowed: true }],
        [5000, 'refund', 10, 5000],
        [5000, 'peek', 1, { remaining: 3 }],
        [5000, 'consume', 3, { allowed: true, remaining: 0 }],
      ],
    ],
  ])('%s', (_name, rows) => {
    runTable(rule, rows);
  });
});
