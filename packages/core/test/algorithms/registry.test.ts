import { ALGORITHM_DESCRIPTORS, ALGORITHM_IMPLS, ALGORITHM_REGISTRY } from '../../src/algorithms/index';
import { ALGORITHMS, type Algorithm, capacityOf, type Rule, resolveRule } from '../../src/rules';
import { TWINS } from '../../src/stores/redis/scripts/driver';
import { MODELS } from './model';

// The registry (`src/algorithms/index.ts`) is the one list of algorithms: everything an algorithm
// needs elsewhere is checked here, so a forgotten step fails a test instead of failing silently.

describe('algorithm registry', () => {
  it('names are unique and ALGORITHMS lists them in registry order', () => {
    const names = ALGORITHM_REGISTRY.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    expect(ALGORITHMS).toEqual(names);
    expect(Object.keys(ALGORITHM_DESCRIPTORS)).toEqual(names);
  });

  it('id prefixes are unique lowercase words (derived ids, hence storage keys, cannot collide)', () => {
    const prefixes = ALGORITHM_REGISTRY.map((d) => d.idPrefix);
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (const p of prefixes) expect(p).toMatch(/^[a-z]+$/);
  });

  it('there is a Lua twin for exactly the registered algorithms', () => {
    expect(Object.keys(TWINS).sort()).toEqual([...ALGORITHMS].sort());
  });

  it('there is a reference model for exactly the registered algorithms', () => {
    expect(Object.keys(MODELS).sort()).toEqual([...ALGORITHMS].sort());
  });

  describe.each(ALGORITHM_REGISTRY.map((d) => [d.name, d] as const))('%s', (name, descriptor) => {
    it('its implementation carries its name and every function', () => {
      const impl = ALGORITHM_IMPLS[name];
      expect(impl).toBe(descriptor.impl);
      expect(impl.name).toBe(name);
      for (const fn of ['create', 'evaluate', 'commit', 'refund', 'expiresAt'] as const) expect(typeof impl[fn]).toBe('function');
    });

    it('its Lua twin opens with its TS sibling and defines <idPrefix>_evaluate, _commit and _refund', () => {
      const twin = TWINS[name];
      const p = descriptor.idPrefix;
      expect(twin.lua.trimStart()).toMatch(/^-- Twin of \w+ \(algorithms\/[\w-]+\.ts\)/);
      expect(twin.lua).toContain(`local function ${p}_evaluate(k, now, W, L, B, cost, consuming)`);
      expect(twin.lua).toContain(`local function ${p}_commit(k, now, W, L, B, cost, out)`);
      expect(twin.lua).toContain(`local function ${p}_refund(k, now, W, L, B, cost, charged_at)`);
      // `undo` is declared exactly for the twins that increment optimistically.
      expect(/\binc = true\b/.test(twin.lua)).toBe(twin.undo);
    });

    it('takes `burst` exactly when its capacity is the burst', () => {
      const rule = resolveRule({ limit: 10, window: 1000, algorithm: name, ...(descriptor.takesBurst ? { burst: 3 } : {}) });
      expect(capacityOf(rule)).toBe(descriptor.takesBurst ? 3 : 10);
      if (!descriptor.takesBurst) expect(() => resolveRule({ limit: 10, window: 1000, algorithm: name, burst: 3 })).toThrow(/rule\.burst/);
    });
  });

  // Derived ids are part of every storage key (Redis key names): a change would orphan stored state.
  it.each<[Rule, string, number]>([
    [{ limit: 100, window: 60_000 }, 'sw-100-60000', 100],
    [{ limit: 100, window: '15m' }, 'sw-100-900000', 100],
    [{ limit: 100, window: '1m', algorithm: 'sliding-window' }, 'sw-100-60000', 100],
    [{ limit: 100, window: '1m', algorithm: 'fixed-window' }, 'fw-100-60000', 100],
    [{ limit: 7, window: '2d', algorithm: 'fixed-window', blockFor: '1m' }, 'fw-7-172800000', 7],
    [{ limit: 10, window: '1s', algorithm: 'sliding-log' }, 'sl-10-1000', 10],
    [{ limit: 10, window: 1000, algorithm: 'token-bucket' }, 'tb-10-1000', 10],
    [{ limit: 10, window: 1000, algorithm: 'token-bucket', burst: 10 }, 'tb-10-1000', 10],
    [{ limit: 10, window: 1000, algorithm: 'token-bucket', burst: 25 }, 'tb-10-1000-b25', 25],
    [{ limit: 5, window: '1h', algorithm: 'gcra' }, 'gcra-5-3600000', 5],
    [{ limit: 5, window: '1h', algorithm: 'gcra', burst: 1 }, 'gcra-5-3600000-b1', 1],
    [{ limit: 1, window: 1, algorithm: 'gcra', burst: 3 }, 'gcra-1-1-b3', 3],
    [{ limit: 100, window: '1m', algorithm: 'gcra', name: 'api' }, 'api', 100],
    [{ limit: 5, window: '1m', algorithm: 'anchored-window' }, 'aw-5-60000', 5],
  ])('%j has the id %s and capacity %i, as before the registry', (rule, id, capacity) => {
    const resolved = resolveRule(rule);
    expect(resolved.id).toBe(id);
    expect(capacityOf(resolved)).toBe(capacity);
  });

  it('option errors still name the algorithms as before', () => {
    expect(() => resolveRule({ limit: 5, window: 1000, algorithm: 'fixed-window', burst: 5 })).toThrow(
      "Expected `rule.burst` to be undefined unless `algorithm` is 'token-bucket' or 'gcra', got 5",
    );
    expect(() => resolveRule({ limit: 5, window: 1000, algorithm: 'x' as Algorithm })).toThrow(
      "Expected `rule.algorithm` to be one of 'fixed-window', 'sliding-window', 'sliding-log', 'token-bucket', 'gcra', 'anchored-window', got \"x\"",
    );
  });
});
