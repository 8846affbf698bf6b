import { type Row, runTable } from './table';

/** Edge cases shared by token-bucket and GCRA: the same bucket, two representations. */
export function bucketTable(algorithm: 'token-bucket' | 'gcra'): void {
  it.each<[string, { limit: number; window: number; burst?: number }, Row[]]>([
    [
      'refills continuously: one unit per window / limit',
      { limit: 10, window: 1000 },
      [
        [0, 'consume', 10, { allowed: true, remaining: 0, resetMs: 1000 }],
        [0, 'consume', 1, { allowed: false, remaining: 0, retryAfterMs: 100, resetMs: 1000 }],
        [99, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [100, 'consume', 1, { allowed: true, remaining: 0 }],
        [550, 'peek', 1, { remaining: 4 }],
        [1100, 'peek', 1, { remaining: 10 }],
        [60_000, 'peek', 1, { remaining: 10 }],
      ],
    ],
    [
      'fractional emission intervals stay exact',
      { limit: 3, window: 1000 },
      [
        [0, 'consume', 3, { allowed: true, remaining: 0, resetMs: 1000 }],
        [0, 'consume', 1, { allowed: false, retryAfterMs: 334 }],
        [333, 'consume', 1, { allowed: false, retryAfterMs: 1 }],
        [334, 'consume', 1, { allowed: true, remaining: 0 }],
        [334, 'consume', 1, { allowed: false, retryAfterMs: 333 }],
        [667, 'consume', 1, { allowed: true }],
        [667, 'consume', 2, { allowed: false, retryAfterMs: 667 }],
        [1333, 'consume', 2, { allowed: false, retryAfterMs: 1 }],
        [1334, 'consume', 2, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'burst is the capacity; more than burst is never satisfiable',
      { limit: 10, window: 1000, burst: 3 },
      [
        [0, 'consume', 3, { allowed: true, remaining: 0 }],
        [0, 'consume', 1, { allowed: false, retryAfterMs: 100 }],
        [5000, 'peek', 1, { remaining: 3 }],
        [5000, 'consume', 4, { allowed: false, remaining: 3, retryAfterMs: Number.POSITIVE_INFINITY }],
        [5000, 'consume', 3, { allowed: true, remaining: 0 }],
      ],
    ],
    [
      'refund gives units back, never beyond the capacity',
      { limit: 10, window: 1000 },
      [
        [0, 'consume', 5, { allowed: true, remaining: 5 }],
        [10, 'refund', 2, 0],
        [10, 'peek', 1, { remaining: 7 }],
        [10, 'refund', 100, 10],
        [10, 'peek', 1, { remaining: 10 }],
        [10, 'consume', 10, { allowed: true, remaining: 0 }],
        [10, 'consume', 1, { allowed: false }],
      ],
    ],
    [
      'a charge older than a full refill is not refunded',
      { limit: 10, window: 1000 },
      [
        [0, 'consume', 10, { allowed: true }],
        [1000, 'consume', 10, { allowed: true, remaining: 0 }],
        [1000, 'refund', 10, 0],
        [1000, 'consume', 1, { allowed: false }],
        [1999, 'consume', 9, { allowed: true, remaining: 0 }],
        [1999, 'refund', 1, 1000],
        [1999, 'consume', 1, { allowed: true }],
      ],
    ],
    [
      'refund on an idle (full) bucket changes nothing',
      { limit: 4, window: 1000 },
      [
        [0, 'consume', 1, { allowed: true, remaining: 3 }],
        [3000, 'refund', 5, 2999],
        [3000, 'consume', 4, { allowed: true, remaining: 0 }],
        [3000, 'consume', 1, { allowed: false, retryAfterMs: 250 }],
      ],
    ],
  ])('%s', (_name, rule, rows) => {
    runTable({ ...rule, algorithm }, rows);
  });
}
