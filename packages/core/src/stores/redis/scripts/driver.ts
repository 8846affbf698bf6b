import { ALGORITHM_DESCRIPTORS, type Algorithm } from '../../../algorithms/index';
import type { ResolvedRule } from '../../../rules';
import { FIXED_WINDOW_LUA } from './fixed-window';
import { GCRA_LUA } from './gcra';
import { SLIDING_LOG_LUA } from './sliding-log';
import { SLIDING_WINDOW_LUA } from './sliding-window';
import { CORRUPT } from './snippets';
import { TOKEN_BUCKET_LUA } from './token-bucket';

/** The four operations; each is one script evaluating every rule of a limiter atomically. */
export type Operation = 'consume' | 'peek' | 'refund' | 'reset';

/**
 * @internal The Lua twin of a registered algorithm (`algorithms/index.ts`). Its source defines
 * `<idPrefix>_evaluate(k, now, W, L, B, cost, consuming)`, `<idPrefix>_commit(k, now, W, L, B, cost, out)`
 * and `<idPrefix>_refund(k, now, W, L, B, cost, charged_at)` (W: window ms, L: limit, B: burst), the
 * twins of the TypeScript `evaluate`, `commit` and `refund`; `evaluate` returns one table: its
 * outcome (`allowed`, `remaining`, `reset_ms`, `retry_after_ms`) plus what `commit` needs.
 */
export interface LuaTwin {
  readonly lua: string;
  /**
   * `evaluate` increments a hash field optimistically when consuming (`out.inc`; `out.new` when it
   * created the field `out.f`): a refusal by another rule takes the increment back.
   */
  readonly undo: boolean;
}

/** @internal Every algorithm's twin: a registered algorithm without one fails to compile. */
export const TWINS = {
  'fixed-window': { lua: FIXED_WINDOW_LUA, undo: true },
  'sliding-window': { lua: SLIDING_WINDOW_LUA, undo: true },
  'sliding-log': { lua: SLIDING_LOG_LUA, undo: false },
  'token-bucket': { lua: TOKEN_BUCKET_LUA, undo: false },
  gcra: { lua: GCRA_LUA, undo: false },
} as const satisfies Record<Algorithm, LuaTwin>;

/**
 * Most rules one limiter may have on Redis: each rule is a local of the generated script, and Lua
 * allows 200 per function.
 */
export const MAX_REDIS_RULES = 150;

// Shared locals and helpers. Integers passed to redis.call are formatted here (sfmt '%d'), so a
// large one is never written in exponent notation. Every closure is rebuilt on each call, so the
// prelude holds only what the hot path calls; rare paths paste snippets (snippets.ts).
const PRELUDE = `
local INF = -1
local floor, sfmt = math.floor, string.format
-- State another app or a bad migration left under a limiter's key (a wrong type, a non-number)
-- is treated as empty and overwritten, so no key is broken for good; REPAIRED reports it once.
local REPAIRED = 0
-- redis.call for a key's first command: a WRONGTYPE or non-integer error drops the key and retries
-- once. Later commands on the same key use redis.call: its type is known by then.
local function call(cmd, k, ...)
  local r = redis.pcall(cmd, k, ...)
  if type(r) == 'table' and r.err then
    if not (string.find(r.err, 'WRONGTYPE', 1, true) or string.find(r.err, 'not an integer', 1, true)) then error(r) end
    ${CORRUPT('k')}
    return redis.call(cmd, k, ...)
  end
  return r
end
`;

// A hash field that does not hold an integer counts as 0 and is dropped (window twins).
const HNUM = `
local function hnum(k, f, v)
  if not v then return 0 end
  local x = tonumber(v)
  if x == nil or x ~= floor(x) then
    redis.call('HDEL', k, f)
    REPAIRED = REPAIRED + 1
    return 0
  end
  return x
end
`;

// A key's blockFor deadline (0: none), from its block key. A value that is not a number is foreign:
// dropped, reported.
const BLOCKED_UNTIL = `
local function blocked_until(b)
  local v = call('GET', b)
  if not v then return 0 end
  local t = tonumber(v)
  if t == nil then ${CORRUPT('b')}; return 0 end
  return t
end
`;

/** Per-rule pieces of the generated code. */
interface RuleCode {
  readonly i: number;
  /** `KEYS[i]`. */
  readonly k: string;
  /** The rule's blockFor key, `KEYS[n + i]` (declared only when some rule blocks). */
  readonly b: string;
  /** The twin's function name prefix. */
  readonly p: string;
  /** The constant arguments `W, L, B`. */
  readonly wlb: string;
  readonly blockForMs: number;
  readonly undo: boolean;
}

// The result's four numbers for rule i: allowed (1/0), remaining, reset, retry after.
const resultItems = (o: string, remaining: string): string => `${o}.allowed and 1 or 0, ${remaining}, ${o}.reset_ms, ${o}.retry_after_ms`;

const RETURN_RESULT = (items: string): string =>
  `local result = {now, ${items}}\nif REPAIRED > 0 then result[#result + 1] = REPAIRED end\nreturn result`;

// A rule's evaluation, or its blockFor deadline while that runs.
const evaluateRule = (r: RuleCode, consuming: boolean, cost: string): string => {
  const call = `${r.p}_evaluate(${r.k}, now, ${r.wlb}, ${cost}, ${consuming})`;
  if (r.blockForMs <= 0) return `local o${r.i} = ${call}`;
  return `local o${r.i}
do
  local blk = blocked_until(${r.b})
  if blk > now then o${r.i} = {blocked = true, allowed = false, remaining = 0, reset_ms = blk - now, retry_after_ms = blk - now}
  else o${r.i} = ${call} end
end`;
};

// Mirrors BoundMemoryStore.consume: evaluate every rule, then commit all or (blockFor) block the
// refusing ones; rules that allowed but were refused by another report their units as left.
// Generated unrolled, rule constants inline: no table per rule, no loop.
const consume = (rules: readonly RuleCode[]): string => {
  const settle = (r: RuleCode): string => {
    const o = `o${r.i}`;
    const lines: string[] = [];
    if (r.undo)
      lines.push(
        `if ${o}.inc then if ${o}.new then redis.call('HDEL', ${r.k}, ${o}.f) else redis.call('HINCRBY', ${r.k}, ${o}.f, -cost) end end`,
      );
    lines.push(`if ${o}.allowed then ${o}.remaining = ${o}.remaining + cost`);
    if (r.blockForMs > 0) {
      lines.push(`elseif ${o}.retry_after_ms ~= INF then`);
      lines.push(`  redis.call('SET', ${r.b}, sfmt('%d', now + ${r.blockForMs}), 'PX', sfmt('%d', ${r.blockForMs} + SLACK))`);
      lines.push(`  local wait = math.max(${o}.retry_after_ms, ${r.blockForMs})`);
      lines.push(`  ${o}.remaining = 0; ${o}.retry_after_ms = wait`);
      lines.push(`  if ${o}.reset_ms < wait then ${o}.reset_ms = wait end`);
    }
    lines.push('end');
    const body = lines.map((l) => `  ${l}`).join('\n');
    return r.blockForMs > 0 ? `if not o${r.i}.blocked then\n${body}\nend` : lines.join('\n');
  };
  return [
    'local cost = tonumber(ARGV[2])',
    '-- ARGV[3]: the server time after which the limiter has answered by policy: a call that reaches',
    '-- Redis later (queued behind a pause, replayed after a stall) must not charge anything.',
    'local deadline = tonumber(ARGV[3])',
    'if deadline >= 0 and now > deadline then return {-1} end',
    ...rules.map((r) => evaluateRule(r, true, 'cost')),
    `if ${rules.map((r) => `o${r.i}.allowed`).join(' and ')} then`,
    ...rules.map((r) => `  ${r.p}_commit(${r.k}, now, ${r.wlb}, cost, o${r.i})`),
    'else',
    ...rules.map((r) => settle(r)),
    'end',
    RETURN_RESULT(rules.map((r) => resultItems(`o${r.i}`, `o${r.i}.remaining`)).join(',\n  ')),
  ].join('\n');
};

// A peek is a consume of 1 that commits nothing; allowed → the units left before it.
const peek = (rules: readonly RuleCode[]): string =>
  [
    ...rules.map((r) => evaluateRule(r, false, '1')),
    RETURN_RESULT(rules.map((r) => resultItems(`o${r.i}`, `o${r.i}.allowed and o${r.i}.remaining + 1 or o${r.i}.remaining`)).join(',\n  ')),
  ].join('\n');

// ARGV[2]: cost; ARGV[3]: when the units were charged (the decision's `at`).
const refund = (rules: readonly RuleCode[]): string =>
  [
    'local cost = tonumber(ARGV[2])',
    'local charged_at = tonumber(ARGV[3])',
    ...rules.map((r) => `${r.p}_refund(${r.k}, now, ${r.wlb}, cost, charged_at)`),
    'return REPAIRED',
  ].join('\n');

// KEYS: every rule's state key, then every rule's blockFor key.
const RESET = `
redis.call('UNLINK', unpack(KEYS))
return 0
`;

/**
 * Whether an operation's KEYS also hold the rules' blockFor keys (`KEYS[n + i]` for rule i): every
 * key a script touches is declared, as Redis's scripting rules and Dragonfly require. Reset clears
 * them all; consume and peek read them when a rule blocks; refund never touches them.
 */
export function declaresBlockKeys(op: Operation, rules: readonly ResolvedRule[]): boolean {
  return op === 'reset' || (op !== 'refund' && rules.some((r) => r.blockForMs > 0));
}

// Keeps only the functions of a twin an operation calls (directly or through another): each is a
// closure built on every call.
function twinFor(lua: string, op: Operation): string {
  const unused = op === 'consume' ? ['refund'] : op === 'peek' ? ['commit', 'refund'] : ['evaluate', 'commit'];
  const fn = (name: string): RegExp => new RegExp(`\\nlocal function ${name}\\([^)]*\\)\\n[\\s\\S]*?\\nend\\n`);
  let out = lua;
  for (const name of unused) out = out.replace(fn(`\\w+_${name}`), '\n');
  for (let changed = true; changed; ) {
    changed = false;
    for (const [, name] of out.matchAll(/\nlocal function (\w+)\(/g)) {
      if (name !== undefined && !/_(evaluate|commit|refund)$/.test(name) && out.split(`${name}(`).length === 2) {
        out = out.replace(fn(name), '\n');
        changed = true;
      }
    }
  }
  return out;
}

/**
 * Where a script's `now` comes from: `'time'` reads Redis `TIME` in the script (`ARGV[1]` is
 * ignored); `'argv'` takes `ARGV[1]`; `'argv-or-time'` takes `ARGV[1]` unless it is negative (the caller has no synced
 * estimate yet), then reads `TIME`.
 */
export type ScriptClock = 'time' | 'argv' | 'argv-or-time';

const READ_TIME = `local tm = redis.call('TIME')\n  now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)`;

/**
 * Builds the Lua source of one operation for one limiter's rules. Rule parameters are baked in as
 * constants (a request carries only keys, time and cost); only the twins the rules use are included.
 * Every TTL is padded by `slackMs` so a key never expires (on Redis's clock) while the clock that
 * computed it still needs it.
 *
 * What a call passes (`BoundRedisStore#call`):
 * - `KEYS[i]`: the state key of rule i, `prefix + rule.id + ':{' + hash tag + '}'`, one per rule in
 *   rule order (all in one Cluster slot); then, when {@link declaresBlockKeys}, `KEYS[n + i]`: rule
 *   i's blockFor key (the state key + `':b'`).
 * - `ARGV[1]`: `now` in epoch ms for the client clock (else unused, see {@link ScriptClock});
 * - `ARGV[2]`: the cost (peek: 1);
 * - `ARGV[3]`: consume: the deadline (−1: none); refund: the charge's time (`chargedAt`).
 * Reset takes no ARGV.
 */
export function buildScript(op: Operation, rules: readonly ResolvedRule[], clock: ScriptClock, slackMs: number): string {
  if (op === 'reset') return RESET;
  const used = [...new Set(rules.map((r) => r.algorithm))];
  const code: RuleCode[] = rules.map((r, index) => ({
    i: index + 1,
    k: `KEYS[${index + 1}]`,
    b: `KEYS[${rules.length + index + 1}]`,
    p: ALGORITHM_DESCRIPTORS[r.algorithm].idPrefix,
    wlb: `${r.windowMs}, ${r.limit}, ${r.burst}`,
    blockForMs: r.blockForMs,
    undo: TWINS[r.algorithm].undo,
  }));
  const helpers = [
    used.some((a) => a === 'fixed-window' || a === 'sliding-window') ? HNUM : '',
    op !== 'refund' && rules.some((r) => r.blockForMs > 0) ? BLOCKED_UNTIL : '',
  ].join('');
  const twins = used.map((a) => twinFor(TWINS[a].lua, op)).join('');
  const now =
    clock === 'time'
      ? `local now\ndo\n  ${READ_TIME}\nend`
      : clock === 'argv'
        ? 'local now = tonumber(ARGV[1])'
        : `local now = tonumber(ARGV[1])\nif now < 0 then\n  ${READ_TIME}\nend`;
  const body = op === 'consume' ? consume(code) : op === 'peek' ? peek(code) : refund(code);
  return `${PRELUDE}local SLACK = ${slackMs}\n${helpers}${twins}\n${now}\n${body}\n`;
}
