import { HostPauses } from '../../src/throttle/host-pauses';

describe('HostPauses', () => {
  it('drops pauses once they end, at any call, and never shortens one', () => {
    const p = new HostPauses();
    p.extend('a', 1000, 0);
    p.extend('b', 5000, 0);
    p.extend('a', 500, 0);
    expect(p.remainingMs('a', 0)).toBe(1000);
    expect(p.size).toBe(2);
    expect(p.remainingMs('b', 1000)).toBe(4000);
    // `a` ended at 1000: gone, though nobody asked about `a`.
    expect(p.size).toBe(1);
    p.prune(5000);
    expect(p.size).toBe(0);
    expect(p.entries).toBe(0);
    expect(p.remainingMs('b', 5000)).toBeUndefined();
  });

  it('stays bounded when one host keeps extending its pause', () => {
    const p = new HostPauses();
    for (let t = 0; t < 10_000; t++) p.extend('busy', t + 60_000, t);
    expect(p.size).toBe(1);
    expect(p.entries).toBeLessThanOrEqual(2 * 1 + 16);
    expect(p.remainingMs('busy', 10_000)).toBe(59_999);
    p.prune(70_000);
    expect(p.size).toBe(0);
    expect(p.entries).toBe(0);
  });
});
