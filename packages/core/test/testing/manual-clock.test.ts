import { createLimiter } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';

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
