import { ALGORITHMS, type Rule, resolveRule } from '../../../../src/rules';
import {
  buildScript,
  declaresBlockKeys,
  decodeReply,
  inline,
  MAX_REDIS_RULES,
  type Operation,
} from '../../../../src/stores/redis/scripts/driver';
import { newRedis, uniquePrefix } from '../helpers';

// Each `local function` is a closure Redis builds again on every call, and each table an
// allocation: the twins' evaluate and commit are pasted into the script's body, so a consume or a
// peek defines no function (but helpers with loops) and builds one table, its result (a token
// bucket one more: its refilled bucket).
const definitions = (src: string): string[] => [...src.matchAll(/local function (\w+)\(/g)].map((m) => m[1] as string);
const constructors = (src: string): string[] => src.match(/[^\n]*\{[^\n}]*\}?/g)?.filter((l) => !/^\s*--/.test(l)) ?? [];

describe('generated scripts', () => {
  const sliding = [resolveRule({ limit: 5, window: 60_000 })];
  const gcra = [resolveRule({ limit: 5, window: 60_000, algorithm: 'gcra', blockFor: 1000 })];
  const log = [resolveRule({ limit: 5, window: 60_000, algorithm: 'sliding-log' })];

  it('consume and peek define no function: evaluate and commit are inlined, helpers with loops kept', () => {
    for (const op of ['consume', 'peek'] as const) {
      expect(definitions(buildScript(op, sliding, 'time', 0))).toEqual([]);
      expect(definitions(buildScript(op, gcra, 'time', 0))).toEqual([]);
      expect(definitions(buildScript(op, log, 'time', 0))).toEqual(['sl_dead']);
    }
  });

  it('refund defines refund and its helpers, no blockFor lookup', () => {
    expect(definitions(buildScript('refund', gcra, 'time', 0))).toEqual(['gcra_refund']);
    expect(definitions(buildScript('refund', log, 'time', 0))).toEqual(['sl_dead', 'sl_refund']);
    expect(buildScript('refund', gcra, 'time', 0)).not.toContain("'GET', KEYS[2]");
  });

  it('inlines rule numbers and builds no table but its result', () => {
    const src = buildScript('consume', [...sliding, ...gcra], 'argv', 0);
    expect(src).toContain('local k, W, L, B, consuming = KEYS[1], 60000, 5, 5, true');
    expect(src).toContain('local k, W, L, B, consuming = KEYS[2], 60000, 5, 5, true');
    expect(src).toContain('local k, W, L, B, out = KEYS[2], 60000, 5, 5, R[');
    expect(constructors(src)).toEqual([
      '  if deadline >= 0 and now > deadline then return {-1}',
      expect.stringMatching(/^local R = \{now, 0, 0, 0, 0, 0, 0, 0, 0(, false)+\}$/),
    ]);
  });

  it('inline() refuses a function that returns early, or a commit that returns', () => {
    const lua =
      '\nlocal function x_evaluate(k, now)\n  if k then return 1 end\n  return 2\nend\n\nlocal function x_commit(k)\n  return\nend\n';
    expect(() => inline(lua, 'x_evaluate', ['KEYS[1]', 'now'], ['R[2]'])).toThrow(/only return/);
    expect(() => inline(lua, 'x_commit', ['KEYS[1]'], [])).toThrow(/must not return/);
    expect(() => inline(lua, 'y_evaluate', [], [])).toThrow(/no function/);
    expect(
      inline(
        '\nlocal function x_evaluate(k, now)\n  local a = k\n  return a, 1\nend\n',
        'x_evaluate',
        ['KEYS[1]', 'now'],
        ['R[2]', 'R[3]'],
      ),
    ).toBe('do -- x_evaluate\n  local k = KEYS[1]\n  local a = k\n  R[2], R[3] = a, 1\nend');
  });

  it(`${MAX_REDIS_RULES} rules: one straight script, its result 1 + 4 numbers per rule`, async () => {
    const rules = Array.from({ length: MAX_REDIS_RULES }, (_, i) =>
      resolveRule({
        limit: 5,
        window: 1000 * (i + 1),
        algorithm: ALGORITHMS[i % ALGORITHMS.length],
        ...(i % 7 === 0 ? { blockFor: 1000 } : {}),
      } as Rule),
    );
    const client = newRedis();
    try {
      const prefix = uniquePrefix('many');
      const state = rules.map((r) => `${prefix}${r.id}:{k}`);
      const keys = [...state, ...state.map((k) => `${k}:b`)];
      const reply = (await client.eval(buildScript('consume', rules, 'time', 0), keys.length, ...keys, 0, 1, -1)) as number[];
      expect(reply).toHaveLength(1 + 4 * MAX_REDIS_RULES);
      for (let j = 1; j < reply.length; j += 4) expect(reply[j]).toBe(1);
    } finally {
      await client.quit();
    }
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

// The compact reply carries exactly the array reply's numbers: the same operations, run once with
// each format on keys of their own, decode to the same results, denials, blocks, deadline and
// repairs included.
describe("reply: 'compact'", () => {
  const client = newRedis();
  afterAll(() => client.quit());

  const T0 = 1_800_000_000_000;
  type Step = readonly [op: 'consume' | 'peek', at: number, cost: number, deadline?: number];
  const STEPS: readonly Step[] = [
    ['peek', T0, 1],
    ['consume', T0, 1],
    ['consume', T0 + 1, 2],
    ['peek', T0 + 2, 1],
    ['consume', T0 + 3, 1],
    ['consume', T0 + 4, 99], // more than any capacity: never
    ['consume', T0 + 5, 1],
    ['consume', T0 + 6, 1, T0], // past its deadline
    ['peek', T0 + 700, 1],
    ['consume', T0 + 1_500, 1],
    ['consume', T0 + 61_000, 2],
  ];

  const cases: [string, Rule[]][] = [
    ...ALGORITHMS.map((algorithm): [string, Rule[]] => [algorithm, [{ limit: 3, window: 1000, algorithm }]]),
    ...ALGORITHMS.map((algorithm): [string, Rule[]] => [
      `${algorithm} with blockFor`,
      [{ limit: 2, window: 1000, algorithm, blockFor: 2000 }],
    ]),
    [
      'gcra + sliding + fixed',
      [
        { limit: 4, window: 1000, algorithm: 'gcra' },
        { limit: 3, window: 60_000, algorithm: 'sliding-window' },
        { limit: 5, window: 3_600_000, algorithm: 'fixed-window', blockFor: 1000 },
      ],
    ],
  ];

  it.each(cases)('%s: decodes to the array reply, step by step', async (_, ruleList) => {
    const rules = ruleList.map((r) => resolveRule(r));
    const run = async (reply: 'array' | 'compact', prefix: string, [op, at, cost, deadline = -1]: Step) => {
      const state = rules.map((r) => `${prefix}${r.id}:{k}`);
      const keys = declaresBlockKeys(op, rules) ? [...state, ...state.map((k) => `${k}:b`)] : state;
      const argv = op === 'consume' ? [at, cost, deadline] : [at, cost];
      const raw = await client.eval(buildScript(op, rules, 'argv', 0, reply), keys.length, ...keys, ...argv);
      return reply === 'compact' ? decodeReply(raw, rules.length) : raw;
    };
    const [a, c] = [uniquePrefix('array'), uniquePrefix('compact')];
    for (const step of STEPS) {
      const compact = await run('compact', c, step);
      expect(compact).toEqual(await run('array', a, step));
      if (step[0] === 'consume' && step[3] === undefined) expect(Array.isArray(compact) && compact.length).toBe(1 + 4 * rules.length);
    }
  });

  it('all allowed: at, then remaining and reset per rule; a repair count after the full form', async () => {
    const rules = [
      resolveRule({ limit: 5, window: 60_000, algorithm: 'fixed-window' }),
      resolveRule({ limit: 9, window: 1000, algorithm: 'gcra' }),
    ];
    const prefix = uniquePrefix('compact-form');
    const keys = rules.map((r) => `${prefix}${r.id}:{k}`);
    const consume = () => client.eval(buildScript('consume', rules, 'argv', 0, 'compact'), 2, ...keys, T0 + 10, 1, -1);
    expect(await consume()).toBe(`${T0 + 10} 4 59990 8 112`);
    await client.set(keys[0] as string, 'foreign');
    const repaired = (await consume()) as string;
    expect(repaired).toBe(`${T0 + 10} 1 4 59990 0 1 7 223 0 1`);
    expect(decodeReply(repaired, 2)).toEqual([T0 + 10, 1, 4, 59_990, 0, 1, 7, 223, 0, 1]);
    expect(decodeReply([-1], 2)).toEqual([-1]);
  });

  it(`${MAX_REDIS_RULES} rules: the compact reply holds every rule`, async () => {
    const rules = Array.from({ length: MAX_REDIS_RULES }, (_, i) =>
      resolveRule({ limit: 5, window: 1000 * (i + 1), algorithm: 'fixed-window' }),
    );
    const prefix = uniquePrefix('many-compact');
    const keys = rules.map((r) => `${prefix}${r.id}:{k}`);
    const script = (op: 'consume' | 'peek') => buildScript(op, rules, 'argv', 0, 'compact');
    const consumed = decodeReply(await client.eval(script('consume'), keys.length, ...keys, T0, 1, -1), MAX_REDIS_RULES) as number[];
    expect(consumed).toHaveLength(1 + 4 * MAX_REDIS_RULES);
    expect(consumed.filter((_, j) => j % 4 === 2)).toEqual(rules.map(() => 4));
    const denied = decodeReply(await client.eval(script('consume'), keys.length, ...keys, T0, 5, -1), MAX_REDIS_RULES) as number[];
    expect(denied.filter((_, j) => j % 4 === 1)).toEqual(rules.map(() => 0));
  });
});
