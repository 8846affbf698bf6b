import { createLimiter } from '@ratekeeper/core';
import { createHttpLimiter } from '@ratekeeper/core/http';
import { inspectKey, manualClock, resetAllLimiters } from '@ratekeeper/core/testing';

describe('manualClock', () => {
  it('drives a limiter: the window turns when the clock is advanced, never before', async () => {
    const clock = manualClock();
    const limiter = createLimiter({ limit: 1, window: '1m', algorithm: 'fixed-window', now: clock.now });
    expect((await limiter.consume('k')).allowed).toBe(true);
    clock.advance(59_999);
    expect((await limiter.consume('k')).allowed).toBe(false);
    clock.advance(1);
    expect((await limiter.consume('k')).allowed).toBe(true);
  });

  it('refuses to go back in time or to NaN', () => {
    const clock = manualClock(1000);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.set(999)).toThrow(/cannot move back/);
    expect(() => clock.set(Number.NaN)).toThrow(RangeError);
    clock.set(5000);
    expect(clock.now()).toBe(5000);
  });
});

describe('inspectKey and resetAllLimiters', () => {
  it('inspect every rule of a key without consuming; reset every limiter of the process, adapters included', async () => {
    const clock = manualClock();
    const limiter = createLimiter({
      rules: [
        { limit: 2, window: '1s', name: 'burst' },
        { limit: 10, window: '1h', name: 'hourly' },
      ],
      now: clock.now,
    });
    // As an HTTP adapter builds it.
    const middleware = createHttpLimiter(
      { limit: 1, window: '1m', now: clock.now },
      { ip: () => '', route: () => undefined, trustsProxy: () => false, header: () => undefined },
    );
    await limiter.consume('k');
    const rules = await inspectKey(limiter, 'k');
    expect(rules.map((r) => [r.rule.name, r.remaining])).toEqual([
      ['burst', 1],
      ['hourly', 9],
    ]);
    expect((await inspectKey(limiter, 'k'))[0]?.remaining).toBe(1);
    await middleware.limiter?.consume('203.0.113.1');
    expect((await middleware.limiter?.peek('203.0.113.1'))?.allowed).toBe(false);
    await resetAllLimiters();
    expect((await inspectKey(limiter, 'k')).map((r) => r.remaining)).toEqual([2, 10]);
    expect((await middleware.limiter?.peek('203.0.113.1'))?.allowed).toBe(true);
  });
});
