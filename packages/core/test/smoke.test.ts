import { createLimiter } from '@ratekeeper/core';

describe('limiter smoke', () => {
  for (const algorithm of ['fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra'] as const) {
    it(`${algorithm}: allows limit then denies, exact retryAfterMs`, async () => {
      let t = 1_700_000_000_000;
      const limiter = createLimiter({ limit: 3, window: '1s', algorithm, now: () => t });
      for (let i = 0; i < 3; i++) expect((await limiter.consume('k')).allowed).toBe(true);
      const denied = await limiter.consume('k');
      expect(denied.allowed).toBe(false);
      expect(denied.retryAfterMs).toBeGreaterThan(0);
      t += denied.retryAfterMs - 1;
      expect((await limiter.consume('k')).allowed).toBe(false);
      t += 1;
      expect((await limiter.consume('k')).allowed).toBe(true);
    });
  }
});
