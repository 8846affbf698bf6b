import { parseRetryAfter, retryAfterFromHeaders } from '@ratekeeper/core';

const now = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('Retry-After and RateLimit parsing', () => {
  it('reads delay-seconds and HTTP-dates (all three forms)', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Wed, 01 Jan 2025 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wednesday, 01-Jan-25 12:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed Jan  1 12:00:05 2025', now)).toBe(5_000);
    // A date in the past means "now".
    expect(parseRetryAfter('Wed, 01 Jan 2025 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });

  it('prefers Retry-After, then RateLimit t (exhausted items first), then RateLimit-Reset', () => {
    const h = (init: Record<string, string>) => retryAfterFromHeaders(new Headers(init), now);
    expect(h({ 'retry-after': '3', ratelimit: '"a";r=0;t=10' })).toBe(3000);
    expect(h({ ratelimit: '"burst";r=5;t=60, "daily";r=0;t=17' })).toBe(17_000);
    expect(h({ ratelimit: '"a";r=2;t=4, "b";r=1;t=9' })).toBe(9000);
    expect(h({ ratelimit: 'limit=100, remaining=0, reset=42' })).toBe(42_000);
    expect(h({ 'ratelimit-reset': '7' })).toBe(7000);
    expect(h({ 'retry-after': 'garbage', 'ratelimit-reset': '7' })).toBe(7000);
    expect(h({})).toBeUndefined();
  });
});
