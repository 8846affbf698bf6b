import { createLimiter } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { newRedis, uniquePrefix } from './helpers';

const client = newRedis();
afterAll(() => client.quit());

describe('RedisStore basics', () => {
  for (const algorithm of ['fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra'] as const) {
    it(`${algorithm}: allows limit then denies with the server clock`, async () => {
      const limiter = createLimiter({
        timeoutMs: 30_000,
        limit: 3,
        window: '1m',
        algorithm,
        store: new RedisStore({ client }),
        prefix: uniquePrefix(algorithm),
      });
      const ds = [];
      for (let i = 0; i < 4; i++) ds.push(await limiter.consume('k'));
      expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false]);
      expect(ds.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
      expect(ds[3]?.retryAfterMs).toBeGreaterThan(0);
      expect(ds[3]?.error).toBeUndefined();
    });
  }
});
