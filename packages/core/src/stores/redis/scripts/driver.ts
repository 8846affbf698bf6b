import { ALGORITHM_DESCRIPTORS, type Algorithm } from '../../../algorithms/index';
import type { ResolvedRule } from '../../../rules';
import { ANCHORED_WINDOW_LUA } from './anchored-window';
import { FIXED_WINDOW_LUA } from './fixed-window';
import { GCRA_LUA } from './gcra';
import { SLIDING_LOG_LUA } from './sliding-log';
import { SLIDING_WINDOW_LUA } from './sliding-window';
import { CORRUPT, FIRST } from './snippets';
import { TOKEN_BUCKET_LUA } from './token-bucket';

/** The four operations; each is one script evaluating every rule of a limiter atomically. */
export type Operation = 'consume' | 'peek' | 'refund' | 'reset';

/**
 * @internal The Lua twin of a registered algorithm (`algorithms/index.ts`). Its source defines
 * `<idPrefix>_evaluate(k, now, W, L, B, cost, consuming)`, `<idPrefix>_commit(k, now, W, L, B, cost, out)`
 * and `<idPrefix>_refund(k, now, W, L, B, cost, charged_at)` (W: window ms, L: limit, B: burst), the
 * twins of the TypeScript `evaluate`, `commit` and `refund`. `evaluate` returns its outcome as four
 * numbers (allowed 1/0, remaining, reset ms, retry-after ms; −1: never), then `out`, what `commit`
 * needs, then (twins with `undo`) the hash field it incremented or false.
 *
 * The driver pastes `evaluate` and `commit` into the script's body, once per rule ({@link inline}):
 * their body is straight code ending, for `evaluate`, in its only `return`; `commit` has none. They
 * may use the script's locals (`floor`, `ceil`, `sfmt`, `INF`, `SLACK`, `REPAIRED`, `COST`: the cost
 * as the string the caller sent) and must not declare `R`. Other functions of the source (`refund`,
 * helpers) stay functions, kept only when something calls them.
 */
export interface LuaTwin {
  readonly lua: string;
  /**
   * `evaluate` increments a hash field optimistically when consuming (its undo value: the field;
   * `out` is set when it created it): a refusal by another rule takes the increment back.
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
  'anchored-window': { lua: ANCHORED_WINDOW_LUA, undo: false },
} as const satisfies Record<Algorithm, LuaTwin>;

/**
 * Most rules one limiter may have on Redis (the generated script grows with every rule, and a
 * result of 4 numbers per rule).
 */
export const MAX_REDIS_RULES = 150;

// Shared locals. Integers passed to redis.call as arguments are formatted here (sfmt '%d'), so a
// large one is never written in exponent notation. Every closure is rebuilt on each call, so the
// hot path defines none: the twins' evaluate and commit are pasted inline, and rare paths paste
// snippets (snippets.ts). Globals used on the hot path are locals (registers) here.
/** @internal */
export const PRELUDE = `
local INF = -1
local floor, ceil, sfmt, tonumber, type = math.floor, math.ceil, string.format, tonumber, type
-- State another app or a bad migration left under a limiter's key (a wrong type, a non-number)
-- is treated as empty and overwritten, so no key is broken for good; REPAIRED reports it once.
local REPAIRED = 0
`;

/** Per-rule pieces of the generated code. */
interface RuleCode {
  /** 1-based rule index. */
  readonly i: number;
  /** `KEYS[i]`. */
  readonly k: string;
  /** The rule's blockFor key, `KEYS[n + i]` (declared only when some rule blocks). */
  readonly b: string;
  /** The twin's function name prefix. */
  readonly p: string;
  readonly lua: string;
  /** The constant arguments `W, L, B`. */
  readonly wlb: readonly [number, number, number];
  readonly blockForMs: number;
  readonly undo: boolean;
  /** `R[…]` slots: the outcome's four numbers (the reply), then `out`, the undo, the blocked flag. */
  readonly allowed: string;
  readonly remaining: string;
  readonly reset: string;
  readonly retry: string;
  readonly out: string;
  readonly undoSlot: string;
  readonly blocked: string;
}

/**
 * One function of a twin (`local function <name>(params)` … `end` at column 0) pasted as a
 * `do … end` block: parameters become locals bound to `args` (a parameter whose argument is its own
 * name, such as `now`, is the script's local already), and the final `return a, b, …` an assignment
 * to `targets`. Throws when the function is missing, or returns anywhere else.
 */
export function inline(lua: string, name: string, args: readonly string[], targets: readonly string[]): string {
  const m = new RegExp(`\\nlocal function ${name}\\(([^)]*)\\)\\n([\\s\\S]*?)\\nend\\n`).exec(lua);
  if (m === null) throw new Error(`Lua twin: no function ${name}`);
  const params = (m[1] as string).split(',').map((x) => x.trim());
  let body = m[2] as string;
  const returns = body.match(/\breturn\b/g)?.length ?? 0;
  if (targets.length > 0) {
    const last = /\n?[ \t]*return ([^\n]*)\s*$/.exec(body);
    if (last === null || returns !== 1) throw new Error(`Lua twin: ${name} must end in its only return`);
    body = `${body.slice(0, last.index)}\n  ${targets.join(', ')} = ${last[1]}`;
  } else if (returns !== 0) throw new Error(`Lua twin: ${name} must not return`);
  const bound = params.flatMap((p, j) => (args[j] === p ? [] : [[p, args[j] ?? 'nil'] as const]));
  const locals = bound.length > 0 ? `  local ${bound.map(([p]) => p).join(', ')} = ${bound.map(([, a]) => a).join(', ')}\n` : '';
  return `do -- ${name}\n${locals}${body.replace(/^\n/, '')}\nend`;
}

const evaluateCode = (r: RuleCode, consuming: boolean, cost: string): string => {
  const targets = [r.allowed, r.remaining, r.reset, r.retry, r.out, ...(r.undo ? [r.undoSlot] : [])];
  return inline(r.lua, `${r.p}_evaluate`, [r.k, 'now', ...r.wlb.map(String), cost, String(consuming)], targets);
};

// A rule's evaluation, or its blockFor deadline while that runs (a deadline that is not a number
// is foreign: dropped, reported).
const evaluateRule = (r: RuleCode, consuming: boolean, cost: string): string => {
  const evaluate = evaluateCode(r, consuming, cost);
  if (r.blockForMs <= 0) return evaluate;
  return `do
  local blk
  ${FIRST('blk', r.b, `'GET', ${r.b}`)}
  if blk then
    blk = tonumber(blk)
    if blk == nil then ${CORRUPT(r.b)}; blk = 0 end
  else blk = 0 end
  if blk > now then ${r.allowed}, ${r.remaining}, ${r.reset}, ${r.retry}, ${r.blocked} = 0, 0, blk - now, blk - now, true
  else
${evaluate}
  end
end`;
};

// R: the reply's numbers, at and four per rule, then each rule's other values (placeholders, so
// the table is allocated once at its full size). Redis stops reading a reply table at its first
// nil, so the reply ends where `finish` puts one: after the rules, or after a repair count.
/** @internal */
export const newResult = (rules: readonly { readonly i: number }[], width: number): string =>
  `local R = {now${', 0, 0, 0, 0'.repeat(rules.length)}${', false'.repeat(width - 1 - 4 * rules.length)}}`;

// sfmt of many integers: as arguments while Lua's registers suffice, else unpacked from a table.
/** @internal */
export const format = (items: readonly string[], extra = ''): string => {
  const fmt = `'${Array.from(items, () => '%d').join(' ')}${extra ? ' %d' : ''}'`;
  const args = extra ? [...items, extra] : [...items];
  return args.length <= 60 ? `sfmt(${fmt}, ${args.join(', ')})` : `sfmt(${fmt}, unpack({${args.join(', ')}}))`;
};

/**
 * What consume and peek return (see {@link decodeReply}):
 * - `'array'`: R itself, `[at, allowed₀, remaining₀, resetMs₀, retryAfterMs₀, allowed₁, …]`, then the
 *   repair count when something was repaired.
 * - `'compact'`: the same numbers as one space-separated string; when every rule allowed and nothing
 *   was repaired, only `at` and each rule's remaining and reset. A client decodes a reply of one
 *   bulk string far faster than an array of integers (ioredis 6: ~4,000 instructions per integer).
 */
export type ReplyFormat = 'array' | 'compact';

// The compact reply when every rule allowed (at, then remaining and reset per rule), nothing repaired.
/** @internal */
export const allowedReply = (rules: readonly { readonly remaining: string; readonly reset: string }[]): string =>
  `if REPAIRED == 0 then return ${format(['now', ...rules.flatMap((r) => [r.remaining, r.reset])])} end`;

/** @internal */
export const finish = (n: number, width: number, reply: ReplyFormat): string => {
  const after = 4 * n + 2;
  if (reply === 'compact') {
    const all = Array.from({ length: 4 * n + 1 }, (_, j) => `R[${j + 1}]`);
    return `if REPAIRED > 0 then return ${format(all, 'REPAIRED')} end
return ${format(all)}`;
  }
  const cut = after + 1 <= width ? `R[${after + 1}] = nil` : '';
  return `if REPAIRED > 0 then R[${after}] = REPAIRED; ${cut} else R[${after}] = nil end\nreturn R`;
};

/** A consume's cost and deadline (ARGV[2], ARGV[3]). @internal */
export const CONSUME_ARGS = [
  '-- COST: the cost as sent (the twins pass it to HINCRBY as is); a cost of 1 needs no tonumber.',
  'local COST = ARGV[2]',
  "local cost = COST == '1' and 1 or tonumber(COST)",
  '-- ARGV[3]: the server time after which the limiter has answered by policy: a call that reaches',
  '-- Redis later (queued behind a pause, replayed after a stall) must not charge anything.',
  "if ARGV[3] ~= '-1' then",
  '  local deadline = tonumber(ARGV[3])',
  '  if deadline >= 0 and now > deadline then return {-1} end',
  'end',
].join('\n');

// Mirrors BoundMemoryStore.consume: evaluate every rule, then commit all or (blockFor) block the
// refusing ones; rules that allowed but were refused by another report their units as left.
// Generated unrolled, rule constants inline: no table but the result, no function call.
const consume = (rules: readonly RuleCode[], width: number, reply: ReplyFormat): string => {
  const settle = (r: RuleCode): string => {
    const lines: string[] = [];
    if (r.undo)
      lines.push(
        `if ${r.undoSlot} then if ${r.out} then redis.call('HDEL', ${r.k}, ${r.undoSlot}) else redis.call('HINCRBY', ${r.k}, ${r.undoSlot}, '-' .. COST) end end`,
      );
    lines.push(`if ${r.allowed} == 1 then ${r.remaining} = ${r.remaining} + cost`);
    if (r.blockForMs > 0) {
      lines.push(`elseif ${r.retry} ~= INF then`);
      lines.push(`  redis.call('SET', ${r.b}, sfmt('%d', now + ${r.blockForMs}), 'PX', sfmt('%d', ${r.blockForMs} + SLACK))`);
      lines.push(`  local wait = math.max(${r.retry}, ${r.blockForMs})`);
      lines.push(`  ${r.remaining} = 0; ${r.retry} = wait`);
      lines.push(`  if ${r.reset} < wait then ${r.reset} = wait end`);
    }
    lines.push('end');
    return r.blockForMs > 0 ? `if not ${r.blocked} then\n${lines.map((l) => `  ${l}`).join('\n')}\nend` : lines.join('\n');
  };
  return [
    CONSUME_ARGS,
    newResult(rules, width),
    ...rules.map((r) => evaluateRule(r, true, 'cost')),
    `if ${rules.map((r) => `${r.allowed} == 1`).join(' and ')} then`,
    ...rules.map((r) => inline(r.lua, `${r.p}_commit`, [r.k, 'now', ...r.wlb.map(String), 'cost', r.out], [])),
    ...(reply === 'compact' ? [allowedReply(rules)] : []),
    'else',
    ...rules.map((r) => settle(r)),
    'end',
    finish(rules.length, width, reply),
  ].join('\n');
};

// A peek is a consume of 1 that commits nothing; allowed → the units left before it.
const peek = (rules: readonly RuleCode[], width: number, reply: ReplyFormat): string =>
  [
    "local cost, COST = 1, '1'",
    newResult(rules, width),
    ...rules.map((r) => evaluateRule(r, false, 'cost')),
    ...rules.map((r) => `if ${r.allowed} == 1 then ${r.remaining} = ${r.remaining} + 1 end`),
    ...(reply === 'compact' ? [`if ${rules.map((r) => `${r.allowed} == 1`).join(' and ')} then`, allowedReply(rules), 'end'] : []),
    finish(rules.length, width, reply),
  ].join('\n');

// ARGV[2]: cost; ARGV[3]: when the units were charged (the decision's `at`).
const refund = (rules: readonly RuleCode[]): string =>
  [
    'local cost = tonumber(ARGV[2])',
    'local charged_at = tonumber(ARGV[3])',
    ...rules.map((r) => `${r.p}_refund(${r.k}, now, ${r.wlb.join(', ')}, cost, charged_at)`),
    'return REPAIRED',
  ].join('\n');

// KEYS: every rule's state key, then every rule's blockFor key.
/** @internal */
export const RESET = `
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

// The functions of the twins the script's body calls, directly or through another (each is a
// closure built on every call); the inlined evaluate and commit are not among them.
/** @internal */
export function helpersFor(twins: readonly string[], body: string): string {
  const fn = (name: string): RegExp => new RegExp(`\\nlocal function ${name}\\([^)]*\\)\\n[\\s\\S]*?\\nend\\n`);
  let defs = twins.join('').replace(/\nlocal function \w+_(evaluate|commit)\([^)]*\)\n[\s\S]*?\nend\n/g, '\n');
  for (let changed = true; changed; ) {
    changed = false;
    for (const [, name] of defs.matchAll(/\nlocal function (\w+)\(/g)) {
      if (name !== undefined && `${defs}${body}`.split(`${name}(`).length === 2) {
        defs = defs.replace(fn(name), '\n');
        changed = true;
      }
    }
  }
  return defs.replace(/\n{3,}/g, '\n\n');
}
/**
 * Where a script's `now` comes from: `'time'` reads Redis `TIME` in the script (`ARGV[1]` is
 * ignored); `'argv'` takes `ARGV[1]`; `'argv-or-time'` takes `ARGV[1]` unless it is negative (the caller has no synced
 * estimate yet), then reads `TIME`.
 */
export type ScriptClock = 'time' | 'argv' | 'argv-or-time';

/** @internal */
export const READ_TIME = `local tm = redis.call('TIME')\n  now = tonumber(tm[1]) * 1000 + floor(tonumber(tm[2]) / 1000)`;

/** The script's `now` (see {@link ScriptClock}). @internal */
export const nowCode = (clock: ScriptClock): string =>
  clock === 'time'
    ? `local now\ndo\n  ${READ_TIME}\nend`
    : clock === 'argv'
      ? 'local now = tonumber(ARGV[1])'
      : `local now = tonumber(ARGV[1])\nif now < 0 then\n  ${READ_TIME}\nend`;

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
 * Reset takes no ARGV. Consume and peek answer as `reply` says ({@link ReplyFormat}; `'compact'`
 * replies go through {@link decodeReply}); a consume past its deadline answers `[-1]` either way.
 */
export function buildScript(
  op: Operation,
  rules: readonly ResolvedRule[],
  clock: ScriptClock,
  slackMs: number,
  reply: ReplyFormat = 'array',
): string {
  if (op === 'reset') return RESET;
  const n = rules.length;
  // R's slots after the reply: each rule's `out`, then its undo and blocked flag when it has them.
  let next = 4 * n + 2;
  const code: RuleCode[] = rules.map((r, index) => {
    const base = 4 * index + 2;
    const undo = TWINS[r.algorithm].undo;
    const out = `R[${next++}]`;
    const undoSlot = undo ? `R[${next++}]` : 'false';
    const blocked = r.blockForMs > 0 ? `R[${next++}]` : 'false';
    return {
      i: index + 1,
      k: `KEYS[${index + 1}]`,
      b: `KEYS[${n + index + 1}]`,
      p: ALGORITHM_DESCRIPTORS[r.algorithm].idPrefix,
      lua: TWINS[r.algorithm].lua,
      wlb: [r.windowMs, r.limit, r.burst],
      blockForMs: r.blockForMs,
      undo,
      allowed: `R[${base}]`,
      remaining: `R[${base + 1}]`,
      reset: `R[${base + 2}]`,
      retry: `R[${base + 3}]`,
      out,
      undoSlot,
      blocked,
    };
  });
  const width = next - 1;
  const now = nowCode(clock);
  const body = op === 'consume' ? consume(code, width, reply) : op === 'peek' ? peek(code, width, reply) : refund(code);
  const used = [...new Set(rules.map((r) => r.algorithm))];
  const helpers = helpersFor(
    used.map((a) => TWINS[a].lua),
    body,
  );
  return `${PRELUDE}local SLACK = ${slackMs}\n${helpers}\n${now}\n${body}\n`;
}

/**
 * The raw result (`[at, allowed₀, remaining₀, resetMs₀, retryAfterMs₀, …]`, a repair count after
 * them when something was repaired) of a consume or peek script built with `reply: 'compact'`, for
 * a limiter of `ruleCount` rules. Anything but a string (the `[-1]` of a consume past its deadline,
 * or an `'array'` reply) is returned as it is.
 */
export function decodeReply(reply: unknown, ruleCount: number): unknown {
  if (typeof reply !== 'string') return reply;
  const nums: number[] = [];
  let v = 0;
  let negative = false;
  for (let i = 0; i < reply.length; i++) {
    const c = reply.charCodeAt(i);
    if (c === 32) {
      nums.push(negative ? -v : v);
      v = 0;
      negative = false;
    } else if (c === 45) negative = true;
    else v = v * 10 + c - 48;
  }
  nums.push(negative ? -v : v);
  // Every rule allowed: at, then remaining and reset per rule (the full form has 1 + 4n or 2 + 4n).
  if (nums.length !== 1 + 2 * ruleCount) return nums;
  const raw = new Array<number>(1 + 4 * ruleCount);
  raw[0] = nums[0] as number;
  for (let i = 0, j = 1; i < ruleCount; i++, j += 4) {
    raw[j] = 1;
    raw[j + 1] = nums[2 * i + 1] as number;
    raw[j + 2] = nums[2 * i + 2] as number;
    raw[j + 3] = 0;
  }
  return raw;
}
