import { createLimiter, isConfigError } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter } from '@ratekeeper/core/http';

const adapter: HttpAdapter<object> = { ip: () => '192.0.2.1', route: () => undefined, trustsProxy: () => false, header: () => undefined };

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('migration hints: incumbent option names point to ratekeeper’s', () => {
  it.each<[Record<string, unknown>, RegExp]>([
    // express-rate-limit
    [{ max: 100, windowMs: 60_000 }, /`max`: ratekeeper calls it `limit`/],
    [{ limit: 100, windowMs: 60_000 }, /`windowMs`: ratekeeper calls it `window`/],
    [{ limit: 100, window: '1m', standardHeaders: 'draft-7' }, /`standardHeaders`: use `headers: 'draft-6' \| 'draft-7' \| 'draft-8'`/],
    [{ limit: 100, window: '1m', legacyHeaders: false }, /`legacyHeaders`: use `headers` with 'legacy'/],
    [{ limit: 100, window: '1m', keyGenerator: () => 'k' }, /`keyGenerator`: use `key: \(req\) => string`/],
    [{ limit: 100, window: '1m', skipFailedRequests: true }, /`skipFailedRequests`: use `countResponse/],
    [{ limit: 100, window: '1m', passOnStoreError: true }, /`passOnStoreError`: use `onStoreError: 'allow'`/],
    // @fastify/rate-limit
    [{ limit: 100, timeWindow: '1 minute' }, /`timeWindow`: ratekeeper calls it `window`/],
    [{ limit: 100, window: '1m', errorResponseBuilder: () => ({}) }, /`errorResponseBuilder`: use `message/],
    // koa-ratelimit
    [{ limit: 100, duration: 60_000 }, /`duration`: ratekeeper calls it `window`.*seconds/],
    [{ limit: 100, window: '1m', whitelist: () => false }, /`whitelist`: use `allowList`/],
    [{ limit: 100, window: '1m', disableHeader: true }, /`disableHeader`: use `headers: false`/],
  ])('rateLimit(%p) names the ratekeeper option', (options, expected) => {
    expect(message(() => createHttpLimiter(options as never, adapter))).toMatch(expected);
  });

  it('createLimiter too: rate-limiter-flexible’s points / duration / blockDuration / keyPrefix', () => {
    expect(message(() => createLimiter({ points: 5, duration: 60 } as never))).toMatch(/`points`: ratekeeper calls it `limit`/);
    expect(message(() => createLimiter({ limit: 5, window: '1m', blockDuration: 60 } as never))).toMatch(/`blockFor`/);
    expect(message(() => createLimiter({ limit: 5, window: '1m', keyPrefix: 'x' } as never))).toMatch(/use `prefix`/);
  });

  it.each([
    ['15min', "'15m'"],
    ['10 seconds', "'10s'"],
    ['2 hours', "'2h'"],
    ['1 day', "'1d'"],
  ])('window %p suggests %s', (window, suggestion) => {
    expect(message(() => createLimiter({ limit: 5, window: window as never }))).toContain(`did you mean ${suggestion}?`);
  });

  it('a typo still gets did-you-mean', () => {
    expect(message(() => createLimiter({ limit: 5, window: '1m', algoritm: 'gcra' } as never))).toMatch(/did you mean `algorithm`/);
  });
});
