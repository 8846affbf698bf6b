import { createHash } from 'node:crypto';
import { ALGORITHM_DESCRIPTORS, type Algorithm } from '../../../algorithms/index';
import type { ResolvedRule } from '../../../rules';
import { ANCHORED_WINDOW_FIELD_LUA } from './anchored-window';
import {
  allowedReply,
  CONSUME_ARGS,
  finish,
  helpersFor,
  inline,
  newResult,
  nowCode,
  type Operation,
  PRELUDE,
  RESET,
  type ReplyFormat,
  type ScriptClock,
} from './driver';
import { FIXED_WINDOW_FIELD_LUA } from './fixed-window';
import { GCRA_FIELD_LUA } from './gcra';
import { SLIDING_WINDOW_FIELD_LUA } from './sliding-window';
import { FIRST } from './snippets';
import { TOKEN_BUCKET_FIELD_LUA } from './token-bucket';

/**
 * The hash layout: a limiter of several rules keeps all of one key's state in one hash,
 * `<prefix><rule ids joined by '+'>:{<key>}`, field `i` holding rule i's state string, `b<i>` its
 * blockFor deadline and `x` when the hash expires (epoch ms). A decision reads every field with one
 * `HMGET` and writes them with one `HSET` (plus a `PEXPIRE` only when the hash must live longer), so
 * it costs the same three commands whatever the number of rules, where one key per rule costs one
 * or two per rule (docs/redis.md, "Key layout").
 *
 * A limiter of one rule keeps the per-rule layout (its fixed window is a single `HINCRBY`), as does
 * one with a sliding-log rule (a list of timestamps is no field) and one on a leasing store (the
 * lease scripts work on per-rule keys).
 */

/** The field twins: `<p>_evaluate/commit/refund` with `k` the rule's index (see `FIELD_IO`). @internal */
const FIELD_TWINS: Partial<Record<Algorithm, string>> = {
  'fixed-window': FIXED_WINDOW_FIELD_LUA,
  'sliding-window': SLIDING_WINDOW_FIELD_LUA,
  gcra: GCRA_FIELD_LUA,
  'token-bucket': TOKEN_BUCKET_FIELD_LUA,
  'anchored-window': ANCHORED_WINDOW_FIELD_LUA,
};

/** Whether a limiter's rules keep their state in one hash per key (the store may still choose not to). @internal */
export function fitsHashLayout(rules: readonly ResolvedRule[]): boolean {
  return rules.length > 1 && rules.every((r) => FIELD_TWINS[r.algorithm] !== undefined);
}

/** Longest rule-id part of a hash's name before it is replaced by a digest. */
const MAX_NAME = 120;

/**
 * The rule-set part of a hash's name: the rule ids joined by `+` (no id holds one), or `+` and a
 * SHA-1 digest of that when it is long: a name never starts with `+` otherwise.
 * @internal
 */
export function hashLayoutName(rules: readonly ResolvedRule[]): string {
  const joined = rules.map((r) => r.id).join('+');
  return joined.length <= MAX_NAME ? joined : `+${createHash('sha1').update(joined).digest('hex')}`;
}

/** Per-rule pieces of the generated code. */
interface FieldRule {
  readonly i: number;
  readonly p: string;
  readonly lua: string;
  readonly wlb: readonly [number, number, number];
  readonly blockForMs: number;
  readonly allowed: string;
  readonly remaining: string;
  readonly reset: string;
  readonly retry: string;
  readonly out: string;
  readonly blocked: string;
}

// A call with many arguments: Lua compiles at most ~250 registers per function, so a long list is
// unpacked from a table (built by a constructor, which has no such limit).
const call = (fn: string, head: string, args: readonly string[]): string =>
  args.length <= 60 ? `redis.${fn}(${head}, ${args.join(', ')})` : `redis.${fn}(${head}, unpack({${args.join(', ')}}))`;

/**
 * Keeps the hash until at least `t` (+ SLACK): when `X`, its expiry, is earlier, it moves to `t`
 * + SLACK + H, so a state whose end moves on with every call (a GCRA's TAT) extends it once per H,
 * not on every write.
 */
const extend = (t: string): string =>
  `if ${t} + SLACK > X then X = ${t} + SLACK + H; redis.call('HSET', K, 'x', sfmt('%d', X)); redis.call('PEXPIRE', K, sfmt('%d', X - now)) end`;

/**
 * Builds the Lua source of one operation for a limiter in the hash layout (see {@link
 * fitsHashLayout}). `KEYS[1]` is the hash; `ARGV` as for `buildScript`. Results are the same as
 * `buildScript`'s, rule for rule.
 * @internal
 */
export function buildHashScript(
  op: Operation,
  rules: readonly ResolvedRule[],
  clock: ScriptClock,
  slackMs: number,
  reply: ReplyFormat = 'array',
): string {
  if (op === 'reset') return RESET;
  const n = rules.length;
  const blocks = rules.some((r) => r.blockForMs > 0);
  let next = 4 * n + 2;
  const code: FieldRule[] = rules.map((r, index) => {
    const base = 4 * index + 2;
    const lua = FIELD_TWINS[r.algorithm];
    if (lua === undefined) throw new Error(`hash layout: no field twin for ${r.algorithm}`);
    return {
      i: index + 1,
      p: ALGORITHM_DESCRIPTORS[r.algorithm].idPrefix,
      lua,
      wlb: [r.windowMs, r.limit, r.burst],
      blockForMs: r.blockForMs,
      allowed: `R[${base}]`,
      remaining: `R[${base + 1}]`,
      reset: `R[${base + 2}]`,
      retry: `R[${base + 3}]`,
      out: `R[${next++}]`,
      blocked: r.blockForMs > 0 ? `R[${next++}]` : 'false',
    };
  });
  // After the outs: the staged writes, R[NV + i] (value) and R[ND + i] (dead at), i = 1…n.
  const nv = next - 1;
  const nd = nv + n;
  const width = nd + n;
  const fields = [...code.map((r) => `'${r.i}'`), "'x'", ...(blocks ? code.map((r) => `'b${r.i}'`) : [])];
  const hmget = fields.length <= 60 ? `'HMGET', K, ${fields.join(', ')}` : `'HMGET', K, unpack({${fields.join(', ')}})`;
  const read = `${FIRST('V', 'K', hmget)}\nlocal X = tonumber(V[${n + 1}]) or 0`;
  const body =
    op === 'consume' ? consume(code, width, reply, read) : op === 'peek' ? peek(code, width, reply, read) : refund(code, width, read);
  const used = [...new Set(rules.map((r) => r.algorithm))];
  const helpers = helpersFor(
    used.map((a) => FIELD_TWINS[a] as string),
    body,
  );
  const maxWindow = Math.max(...rules.map((r) => r.windowMs));
  // H: how far past what the state needs the hash lives, so it is extended at most once per H.
  const h = Math.max(1000, Math.floor(maxWindow / 4));
  return `${PRELUDE}local SLACK, H = ${slackMs}, ${h}
-- The hash, the values its HMGET read (rule i's state at V[i], its expiry at V[n + 1], blockFor
-- deadlines after it), and the result table, which also holds the writes the field twins stage
-- (R[NV + i]: the value, R[ND + i]: when it is dead).
local K = KEYS[1]
local V, R
local NV, ND = ${nv}, ${nd}
${helpers}
${nowCode(clock)}
${body}
`;
}

// A rule's evaluation, or its blockFor deadline (field b<i>) while that runs.
const evaluateRule = (r: FieldRule, n: number, consuming: boolean): string => {
  const evaluate = inline(
    r.lua,
    `${r.p}_evaluate`,
    [String(r.i), 'now', ...r.wlb.map(String), 'cost', String(consuming)],
    [r.allowed, r.remaining, r.reset, r.retry, r.out],
  );
  if (r.blockForMs <= 0) return evaluate;
  return `do
  local blk = V[${n + 1 + r.i}]
  if blk then
    blk = tonumber(blk)
    if blk == nil then redis.call('HDEL', K, 'b${r.i}'); REPAIRED = REPAIRED + 1; blk = 0 end
  else blk = 0 end
  if blk > now then ${r.allowed}, ${r.remaining}, ${r.reset}, ${r.retry}, ${r.blocked} = 0, 0, blk - now, blk - now, true
  else
${evaluate}
  end
end`;
};

// Mirrors BoundMemoryStore.consume, as buildScript's consume: evaluate every rule from the one
// HMGET, then write every rule's new state with one HSET, or (blockFor) block the refusing ones.
const consume = (rules: readonly FieldRule[], width: number, reply: ReplyFormat, read: string): string => {
  const n = rules.length;
  const settle = (r: FieldRule): string => {
    if (r.blockForMs <= 0) return `if ${r.allowed} == 1 then ${r.remaining} = ${r.remaining} + cost end`;
    return `if not ${r.blocked} then
  if ${r.allowed} == 1 then ${r.remaining} = ${r.remaining} + cost
  elseif ${r.retry} ~= INF then
    redis.call('HSET', K, 'b${r.i}', sfmt('%d', now + ${r.blockForMs}))
    ${extend(`now + ${r.blockForMs}`)}
    local wait = math.max(${r.retry}, ${r.blockForMs})
    ${r.remaining} = 0; ${r.retry} = wait
    if ${r.reset} < wait then ${r.reset} = wait end
  end
end`;
  };
  const nv = width - 2 * n;
  const nd = nv + n;
  const writes = rules.flatMap((r) => [`'${r.i}'`, `R[${nv + r.i}]`]);
  return [
    CONSUME_ARGS,
    read,
    newResult(rules, width).replace(/^local /, ''),
    ...rules.map((r) => evaluateRule(r, n, true)),
    `if ${rules.map((r) => `${r.allowed} == 1`).join(' and ')} then`,
    ...rules.map((r) => inline(r.lua, `${r.p}_commit`, [String(r.i), 'now', ...r.wlb.map(String), 'cost', r.out], [])),
    `local need = R[${nd + 1}]`,
    ...rules.slice(1).map((r) => `if R[${nd + r.i}] > need then need = R[${nd + r.i}] end`),
    'if need + SLACK > X then',
    '  X = need + SLACK + H',
    `  ${call('call', "'HSET', K", [...writes, "'x'", "sfmt('%d', X)"])}`,
    "  redis.call('PEXPIRE', K, sfmt('%d', X - now))",
    'else',
    `  ${call('call', "'HSET', K", writes)}`,
    'end',
    ...(reply === 'compact' ? [allowedReply(rules)] : []),
    'else',
    ...rules.map(settle),
    'end',
    finish(n, width, reply),
  ].join('\n');
};

// A peek is a consume of 1 that writes nothing; allowed → the units left before it.
const peek = (rules: readonly FieldRule[], width: number, reply: ReplyFormat, read: string): string =>
  [
    "local cost, COST = 1, '1'",
    read,
    newResult(rules, width).replace(/^local /, ''),
    ...rules.map((r) => evaluateRule(r, rules.length, false)),
    ...rules.map((r) => `if ${r.allowed} == 1 then ${r.remaining} = ${r.remaining} + 1 end`),
    ...(reply === 'compact' ? [`if ${rules.map((r) => `${r.allowed} == 1`).join(' and ')} then`, allowedReply(rules), 'end'] : []),
    finish(rules.length, width, reply),
  ].join('\n');

// ARGV[2]: cost; ARGV[3]: when the units were charged. A refund never lengthens a state's life,
// so the hash's expiry stands; it never creates the hash (absent fields are not written).
const refund = (rules: readonly FieldRule[], width: number, read: string): string =>
  [
    'local cost = tonumber(ARGV[2])',
    'local charged_at = tonumber(ARGV[3])',
    read,
    `R = {${Array.from({ length: width }, () => 'false').join(', ')}}`,
    ...rules.map((r) => `${r.p}_refund(${r.i}, now, ${r.wlb.join(', ')}, cost, charged_at)`),
    'local hs = {}',
    `for i = 1, ${rules.length} do local v = R[NV + i]; if v then hs[#hs + 1] = i; hs[#hs + 1] = v end end`,
    "if #hs > 0 then redis.call('HSET', K, unpack(hs)) end",
    'return REPAIRED',
  ].join('\n');
