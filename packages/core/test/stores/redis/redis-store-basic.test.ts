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

  it('150 rules on one key decide in one script; 151 is a ConfigError naming rules', async () => {
    const rules = (n: number) => Array.from({ length: n }, (_, i) => ({ limit: 2, window: 60_000 + i * 1000, name: `r${i}` }));
    const limiter = createLimiter({
      timeoutMs: 30_000,
      rules: rules(150),
      store: new RedisStore({ client }),
      prefix: uniquePrefix('many'),
    });
    const ds = [];
    for (let i = 0; i < 3; i++) ds.push(await limiter.consume('k'));
    expect(ds.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(ds[2]?.rules).toHaveLength(150);
    expect(() => createLimiter({ rules: rules(151), store: new RedisStore({ client }) })).toThrow(/rules.*at most 150 rules/);
  });
});
