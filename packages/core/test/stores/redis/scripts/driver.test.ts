import { ALGORITHMS, type Rule, resolveRule } from '../../../../src/rules';
import { buildScript, declaresBlockKeys, MAX_REDIS_RULES, type Operation } from '../../../../src/stores/redis/scripts/driver';
import { newRedis, uniquePrefix } from '../helpers';

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

// Every key a script touches must be in KEYS (Redis's scripting rules; Dragonfly enforces them).
// Each generated script runs against the test redis-server with every redis.call / redis.pcall
// routed through a guard that raises on a key not in KEYS.
describe('declared keys', () => {
  const GUARD = `
local declared = {}
for _, k in ipairs(KEYS) do declared[k] = true end
local function guard_keys(cmd, k, ...)
  if cmd == 'TIME' then return end
  if not declared[k] then error('undeclared key ' .. tostring(k) .. ' in ' .. cmd) end
  if cmd == 'UNLINK' or cmd == 'DEL' then
    for _, other in ipairs({...}) do if not declared[other] then error('undeclared key ' .. other) end end
  end
end
local function guarded_call(cmd, k, ...)
  if k == nil then return redis.call(cmd) end
  guard_keys(cmd, k, ...)
  return redis.call(cmd, k, ...)
end
local function guarded_pcall(cmd, k, ...) guard_keys(cmd, k, ...) return redis.pcall(cmd, k, ...) end
`;
  const guarded = (src: string): string =>
    GUARD + src.replace(/redis\.call\(/g, 'guarded_call(').replace(/redis\.pcall\(/g, 'guarded_pcall(');
  const client = newRedis();
  afterAll(() => client.quit());

  it.each(ALGORITHMS)('%s with blockFor: consume (until blocked), peek, refund and reset touch only KEYS', async (algorithm) => {
    const rules = [
      resolveRule({ limit: 2, window: 60_000, algorithm, blockFor: 30_000 } as Rule),
      resolveRule({ limit: 5, window: 3_600_000, algorithm: 'fixed-window' }),
    ];
    const prefix = uniquePrefix(`keys-${algorithm}`);
    const state = rules.map((r) => `${prefix}${r.id}:{k}`);
    const keysFor = (op: Operation) => (declaresBlockKeys(op, rules) ? [...state, ...state.map((k) => `${k}:b`)] : state);
    const run = (op: Operation, argv: (string | number)[]) => {
      const keys = keysFor(op);
      return client.eval(guarded(buildScript(op, rules, 'time', 0)), keys.length, ...keys, ...argv);
    };
    const results: unknown[] = [];
    for (let i = 0; i < 4; i++) results.push(await run('consume', [0, 1, -1]));
    // The third consume was refused and blocked the key: the fourth sees the block key.
    expect((results[2] as number[])[1]).toBe(0);
    expect(await client.exists(`${state[0]}:b`)).toBe(1);
    await run('peek', [0, 1]);
    await run('refund', [0, 1, Date.now()]);
    await run('reset', []);
    expect(await client.exists(...state, ...state.map((k) => `${k}:b`))).toBe(0);
  });
});
