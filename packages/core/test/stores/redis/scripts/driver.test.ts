import { resolveRule } from '../../../../src/rules';
import { buildScript, MAX_REDIS_RULES } from '../../../../src/stores/redis/scripts/driver';

// Each `local function` is a closure Redis builds again on every call, so a script defines only
// what its operation runs; the rest of its cost is tables, one per rule evaluation.
const definitions = (src: string): string[] => [...src.matchAll(/local function (\w+)\(/g)].map((m) => m[1] as string);

describe('generated scripts', () => {
  const sliding = [resolveRule({ limit: 5, window: 60_000 })];
  const gcra = [resolveRule({ limit: 5, window: 60_000, algorithm: 'gcra', blockFor: 1000 })];

  it('consume defines evaluate and commit, never refund', () => {
    expect(definitions(buildScript('consume', sliding, 'time', 0))).toEqual(['call', 'hnum', 'sw_evaluate', 'sw_commit']);
    expect(definitions(buildScript('consume', gcra, 'time', 0))).toEqual([
      'call',
      'blocked_until',
      'gcra_load',
      'gcra_backlog',
      'gcra_store',
      'gcra_evaluate',
      'gcra_commit',
    ]);
  });

  it('peek defines evaluate only, and drops helpers only commit and refund call', () => {
    expect(definitions(buildScript('peek', gcra, 'time', 0))).toEqual([
      'call',
      'blocked_until',
      'gcra_load',
      'gcra_backlog',
      'gcra_evaluate',
    ]);
  });

  it('refund defines refund and its helpers, no blockFor lookup', () => {
    expect(definitions(buildScript('refund', gcra, 'time', 0))).toEqual(['call', 'gcra_load', 'gcra_backlog', 'gcra_store', 'gcra_refund']);
  });

  it('inlines rule numbers and builds no table per rule beyond its evaluation', () => {
    const src = buildScript('consume', [...sliding, ...gcra], 'argv', 0);
    expect(src).toContain('sw_evaluate(KEYS[1], now, 60000, 5, 5, cost, true)');
    expect(src).toContain('gcra_evaluate(KEYS[2], now, 60000, 5, 5, cost, true)');
    expect(src).not.toMatch(/local R = \{/);
  });

  it('caps the rules at what a Lua function can hold as locals', () => {
    const rules = Array.from({ length: MAX_REDIS_RULES }, (_, i) => resolveRule({ limit: 5, window: 1000 * (i + 1) }));
    const locals = buildScript('consume', rules, 'time', 0).match(/^local o\d+/gm) ?? [];
    expect(locals).toHaveLength(MAX_REDIS_RULES);
    expect(MAX_REDIS_RULES).toBeLessThanOrEqual(190);
  });
});
