import { adaptiveLoad, createLimiter, MemoryStore } from '../../src/index';
import { manualClock } from '../../src/testing';
import { runTable, T0 } from './table';

// Review of 3ba5051 (anchored-window): behaviours the commit's tests do not pin.

const rule = { limit: 3, window: 1000, algorithm: 'anchored-window' } as const;

describe('anchored-window (review)', () => {
  it('a refund of units charged in an earlier window never reaches the window open now', () => {
    runTable(rule, [
      [0, 'consume', 3, { allowed: true, remaining: 0 }],
      [1200, 'consume', 3, { allowed: true, remaining: 0, resetMs: 1000 }],
      [1300, 'refund', 3, 0], // charged at T0, in the window that ended at T0 + 1000
      [1300, 'consume', 1, { allowed: false, retryAfterMs: 900 }],
      [1300, 'refund', 2, 1200], // charged in this window: back
      [1300, 'consume', 2, { allowed: true, remaining: 0, resetMs: 900 }],
    ]);
  });

  it('blockFor: a denied key stays blocked, and the first request after the block opens a full window', async () => {
    const clock = manualClock(T0);
    const limiter = createLimiter({ rules: [{ ...rule, blockFor: 5000 }], now: clock.now });
    for (let i = 0; i < 3; i++) expect((await limiter.consume('k')).allowed).toBe(true);
    const denied = await limiter.consume('k');
    expect([denied.allowed, denied.retryAfterMs]).toEqual([false, 5000]);
    clock.advance(4999);
    expect((await limiter.consume('k')).allowed).toBe(false);
    clock.advance(1);
    const after = await limiter.consume('k');
    expect([after.allowed, after.remaining, after.resetMs]).toEqual([true, 2, 1000]);
  });

  it('a clock that steps back keeps the window open: the wait can exceed the window (by the step)', async () => {
    let t = T0;
    const limiter = createLimiter({ rules: [rule], now: () => t });
    for (let i = 0; i < 3; i++) await limiter.consume('k');
    t = T0 - 5000; // e.g. a client clock (clock: 'client', or an injected Date.now) stepped back 5 s
    const d = await limiter.consume('k');
    expect([d.allowed, d.retryAfterMs]).toEqual([false, 6000]);
  });

  it('adaptive: a key over the reduced limit is denied with remaining 0 and a finite wait (as docs/adaptive.md says)', async () => {
    jest.useFakeTimers({ now: T0 });
    let level = 0;
    const load = adaptiveLoad({ signal: () => level });
    try {
      const limiter = createLimiter({ limit: 8, window: '1m', algorithm: 'anchored-window', now: () => T0, adaptive: load });
      for (let i = 0; i < 7; i++) expect((await limiter.consume('k')).allowed).toBe(true);
      level = 0.9;
      jest.advanceTimersByTime(1000);
      expect(load.factor).toBe(0.5);
      const d = await limiter.consume('k');
      expect([d.allowed, d.limit, d.remaining]).toEqual([false, 4, 0]);
      expect(d.retryAfterMs).toBe(60_000);
      expect((await limiter.peek('k')).remaining).toBe(0);
    } finally {
      load.close();
      jest.useRealTimers();
    }
  });

  it('memory: a key refunded to 0 keeps its window (the reset time survives the refund)', async () => {
    const clock = manualClock(T0);
    const store = new MemoryStore();
    const limiter = createLimiter({ rules: [rule], store, now: clock.now });
    const d = await limiter.consume('k');
    await limiter.refund('k', 1, { at: d.at });
    clock.advance(400);
    const again = await limiter.consume('k');
    expect([again.remaining, again.resetMs]).toEqual([2, 600]);
  });
});
