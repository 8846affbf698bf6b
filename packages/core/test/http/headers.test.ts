import { createLimiter, type Decision } from '@ratekeeper/core';
import { rateLimitHeaders, retryAfterSeconds } from '@ratekeeper/core/http';

/** An hour boundary (epoch ms). */
const T0 = 1_699_999_200_000;

async function decisions(options: Parameters<typeof createLimiter>[0], times: number[]): Promise<Decision[]> {
  let t = T0;
  const limiter = createLimiter({ ...options, now: () => t });
  const out: Decision[] = [];
  for (const at of times) {
    t = at;
    out.push(await limiter.consume('k'));
  }
  return out;
}

describe('rateLimitHeaders', () => {
  it('formats legacy headers with Reset in epoch seconds, rounded up', async () => {
    const [d] = await decisions({ limit: 100, window: '1m', algorithm: 'fixed-window' }, [T0 + 15_300]);
    expect(rateLimitHeaders(d as Decision, 'legacy')).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '99',
      'X-RateLimit-Reset': '1699999260',
    });
  });

  it('formats draft-6 as express-rate-limit does', async () => {
    const [d] = await decisions({ limit: 100, window: '1m' }, [T0]);
    expect(rateLimitHeaders(d as Decision, 'draft-6')).toEqual({
      'RateLimit-Policy': '100;w=60',
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '99',
      'RateLimit-Reset': '60',
    });
  });

  it('formats draft-7 as express-rate-limit does', async () => {
    const [d] = await decisions({ limit: 100, window: '1m' }, [T0 + 500]);
    expect(rateLimitHeaders(d as Decision, ['draft-7'])).toEqual({
      'RateLimit-Policy': '100;w=60',
      RateLimit: 'limit=100, remaining=99, reset=60',
    });
  });

  it('formats draft-8 as structured-field lists, one named item per rule', async () => {
    const [d] = await decisions(
      {
        rules: [
          { limit: 10, window: '1s', name: 'burst' },
          { limit: 1000, window: '1d' },
        ],
      },
      [T0 + 250],
    );
    // Day windows are aligned to UTC days since the epoch: T0 is 22:00 UTC.
    expect(rateLimitHeaders(d as Decision, 'draft-8')).toEqual({
      'RateLimit-Policy': '"burst";q=10;w=1, "1000-in-1day";q=1000;w=86400',
      RateLimit: '"burst";r=9;t=1, "1000-in-1day";r=999;t=7200',
    });
  });

  it('adds Retry-After (integer seconds, rounded up) only when denied, and t is the wait', async () => {
    const [, denied] = await decisions({ limit: 1, window: '1m', algorithm: 'fixed-window' }, [T0, T0 + 100]);
    expect(rateLimitHeaders(denied as Decision)).toEqual({
      'X-RateLimit-Limit': '1',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '1699999260',
      'RateLimit-Policy': '"1-in-1min";q=1;w=60',
      RateLimit: '"1-in-1min";r=0;t=60',
      'Retry-After': '60',
    });
    expect(rateLimitHeaders(denied as Decision, 'legacy', false)['Retry-After']).toBeUndefined();
  });

  it('uses draft-8 for the shared names when draft-7 and draft-8 are both on', async () => {
    const [d] = await decisions({ limit: 5, window: '10s' }, [T0]);
    expect(rateLimitHeaders(d as Decision, ['draft-7', 'draft-8'])).toEqual({
      'RateLimit-Policy': '"5-in-10sec";q=5;w=10',
      RateLimit: '"5-in-10sec";r=4;t=10',
    });
  });

  it('keeps every value an integer for sub-second windows', async () => {
    const [d] = await decisions({ limit: 3, window: 250 }, [T0 + 10]);
    const h = rateLimitHeaders(d as Decision, ['legacy', 'draft-6', 'draft-8']);
    expect(h).toEqual({
      'X-RateLimit-Limit': '3',
      'X-RateLimit-Remaining': '2',
      'X-RateLimit-Reset': '1699999201',
      'RateLimit-Policy': '"3-in-250ms";q=3;w=1',
      'RateLimit-Limit': '3',
      'RateLimit-Remaining': '2',
      'RateLimit-Reset': '1',
      RateLimit: '"3-in-250ms";r=2;t=1',
    });
  });

  it('omits Retry-After and t when the request can never pass', async () => {
    let t = T0;
    const limiter = createLimiter({ limit: 2, window: '1m', now: () => t });
    const d = await limiter.consume('k', { cost: 3 });
    t += 1;
    expect(d.allowed).toBe(false);
    expect(rateLimitHeaders(d, 'draft-8')).toEqual({ 'RateLimit-Policy': '"2-in-1min";q=2;w=60', RateLimit: '"2-in-1min";r=2' });
    expect(retryAfterSeconds(d)).toBeUndefined();
  });

  it('rounds Retry-After up and never below 1', () => {
    expect(retryAfterSeconds({ retryAfterMs: 1 })).toBe(1);
    expect(retryAfterSeconds({ retryAfterMs: 0 })).toBe(1);
    expect(retryAfterSeconds({ retryAfterMs: 1000 })).toBe(1);
    expect(retryAfterSeconds({ retryAfterMs: 1001 })).toBe(2);
  });

  it('rejects unknown formats', async () => {
    const [d] = await decisions({ limit: 1, window: '1s' }, [T0]);
    expect(() => rateLimitHeaders(d as Decision, 'draft-9' as never)).toThrow(/`headers`.*"draft-9"/);
    expect(() => rateLimitHeaders(d as Decision, [] as never)).toThrow(/`headers`/);
  });
});
