import { ALGORITHM_DESCRIPTORS, type Algorithm } from '../../../algorithms/index';
import type { ResolvedRule } from '../../../rules';
import { FIXED_WINDOW_LUA } from './fixed-window';
import { GCRA_LUA } from './gcra';
import { SLIDING_LOG_LUA } from './sliding-log';
import { SLIDING_WINDOW_LUA } from './sliding-window';
import { TOKEN_BUCKET_LUA } from './token-bucket';

/** The four operations; each is one script evaluating every rule of a limiter atomically. */
export type Operation = 'consume' | 'peek' | 'refund' | 'reset';

/**
 * @internal The Lua twin of a registered algorithm (`algorithms/index.ts`). Its source defines
 * `<idPrefix>_evaluate(k, now, rule, cost, consuming)`, `<idPrefix>_commit(k, now, rule, cost, out)`
 * and `<idPrefix>_refund(k, now, rule, cost, charged_at)`, the twins of the TypeScript `evaluate`,
 * `commit` and `refund`; `evaluate` returns its outcome (`allowed`, `remaining`, `reset_ms`,
 * `retry_after_ms`) plus what `commit` needs.
 */
export interface LuaTwin {
  readonly lua: string;
  /**
   * `evaluate` increments optimistically when consuming (and sets `out.inc`): a refusal by another
   * rule takes the increment back with `hash_undo`.
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

// Shared helpers. Lua numbers passed to redis.call are formatted by Redis; integers are formatted
// here instead so a large one is never written in exponent notation.
const PRELUDE = `
local INF = -1
local function fmt(x) return string.format('%d', x) end
-- State another app or a bad migration left under a limiter's key (a wrong type, a non-number)
-- is treated as empty and overwritten, so no key is broken for good; REPAIRED reports it once.
local REPAIRED = 0
local function corrupt(k)
  redis.call('DEL', k)
  REPAIRED = REPAIRED + 1
end
-- redis.call for state commands: a WRONGTYPE or non-integer error drops the key and retries once.
local function call(cmd, k, ...)
  local r = redis.pcall(cmd, k, ...)
  if type(r) == 'table' and r.err then
    if not (string.find(r.err, 'WRONGTYPE', 1, true) or string.find(r.err, 'not an integer', 1, true)) then error(r) end
    corrupt(k)
    return redis.call(cmd, k, ...)
  end
  return r
end
-- A hash field that does not hold an integer counts as 0 and is dropped.
local function hnum(k, f, v)
  if not v then return 0 end
  local x = tonumber(v)
  if x == nil or x ~= math.floor(x) then
    redis.call('HDEL', k, f)
    REPAIRED = REPAIRED + 1
    return 0
  end
  return x
end
-- Results end with the number of repaired keys when there were any.
local function finish(result)
  if REPAIRED > 0 then result[#result + 1] = REPAIRED end
  return result
end
-- A key's blockFor deadline (0: none). A value that is not a number is foreign: dropped, reported.
local function blocked_until(k)
  local b = k .. ':b'
  local v = call('GET', b)
  if not v then return 0 end
  local t = tonumber(v)
  if t == nil then corrupt(b); return 0 end
  return t
end
-- Drops the fields of windows that started before the given time, and fields that are no window
-- start at all (a foreign hash, which a comparison with a number would fail on): reported once.
local function hash_drop_before(k, before)
  local foreign = false
  for _, f in ipairs(call('HKEYS', k)) do
    local t = tonumber(f)
    if t == nil then foreign = true end
    if t == nil or t < before then redis.call('HDEL', k, f) end
  end
  if foreign then REPAIRED = REPAIRED + 1 end
end
-- Both window twins count in a hash field per window and increment optimistically: a refusal by
-- another rule takes the increment back (drops the field it created).
local function hash_undo(k, cost, out)
  if out.new then redis.call('HDEL', k, out.f) else redis.call('HINCRBY', k, out.f, -cost) end
end
`;

// Mirrors BoundMemoryStore.consume: evaluate every rule, then commit all or (blockFor) block the
// refusing ones; rules that allowed but were refused by another report their units as left.
// KEYS[i]: rule i's state key; ARGV[2]: cost.
const CONSUME = `
local n = #R
local cost = tonumber(ARGV[2])
-- ARGV[3]: the server time after which the limiter has answered by policy: a call that reaches
-- Redis later (queued behind a pause, replayed after a stall) must not charge anything.
local deadline = tonumber(ARGV[3])
if deadline >= 0 and now > deadline then return {-1} end
local outs = {}
local all = true
for i = 1, n do
  local rule, k = R[i], KEYS[i]
  local blk = 0
  if rule.block_for_ms > 0 then blk = blocked_until(k) end
  local out
  if blk > now then
    out = {blocked = true, allowed = false, remaining = 0, reset_ms = blk - now, retry_after_ms = blk - now}
  else
    out = rule.evaluate(k, now, rule, cost, true)
  end
  outs[i] = out
  if not out.allowed then all = false end
end
local result = {now}
for i = 1, n do
  local rule, k, out = R[i], KEYS[i], outs[i]
  if all then
    rule.commit(k, now, rule, cost, out)
  elseif not out.blocked then
    if out.inc then rule.undo(k, cost, out) end
    if out.allowed then
      out.remaining = out.remaining + cost
    elseif rule.block_for_ms > 0 and out.retry_after_ms ~= INF then
      redis.call('SET', k .. ':b', fmt(now + rule.block_for_ms), 'PX', fmt(rule.block_for_ms + SLACK))
      local wait = math.max(out.retry_after_ms, rule.block_for_ms)
      out.remaining = 0; out.retry_after_ms = wait
      if out.reset_ms < wait then out.reset_ms = wait end
    end
  end
  local j = #result
  if out.allowed then result[j + 1] = 1 else result[j + 1] = 0 end
  result[j + 2] = out.remaining; result[j + 3] = out.reset_ms; result[j + 4] = out.retry_after_ms
end
return finish(result)
`;

// KEYS[i]: rule i's state key. A peek is a consume of 1 that commits nothing.
const PEEK = `
local result = {now}
for i = 1, #R do
  local rule, k = R[i], KEYS[i]
  local blk = 0
  if rule.block_for_ms > 0 then blk = blocked_until(k) end
  local j = #result
  if blk > now then
    result[j + 1] = 0; result[j + 2] = 0; result[j + 3] = blk - now; result[j + 4] = blk - now
  else
    local out = rule.evaluate(k, now, rule, 1, false)
    if out.allowed then result[j + 1] = 1; result[j + 2] = out.remaining + 1 else result[j + 1] = 0; result[j + 2] = out.remaining end
    result[j + 3] = out.reset_ms; result[j + 4] = out.retry_after_ms
  end
end
return finish(result)
`;

// KEYS[i]: rule i's state key; ARGV[2]: cost; ARGV[3]: when the units were charged (the decision's `at`).
const REFUND = `
local cost = tonumber(ARGV[2])
local charged_at = tonumber(ARGV[3])
for i = 1, #R do R[i].refund(KEYS[i], now, R[i], cost, charged_at) end
return REPAIRED
`;

// KEYS[i]: rule i's state key; its blockFor key (KEYS[i] .. ':b') goes with it.
const RESET = `
for i = 1, #KEYS do redis.call('UNLINK', KEYS[i], KEYS[i] .. ':b') end
return 0
`;

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
 *   rule order (all in one Cluster slot); a rule's blockFor deadline lives at `KEYS[i] .. ':b'`.
 * - `ARGV[1]`: `now` in epoch ms for the client clock (else unused, see {@link ScriptClock});
 * - `ARGV[2]`: the cost (peek: 1);
 * - `ARGV[3]`: consume: the deadline (−1: none); refund: the charge's time (`chargedAt`).
 * Reset takes no ARGV.
 */
export function buildScript(op: Operation, rules: readonly ResolvedRule[], clock: ScriptClock, slackMs: number): string {
  if (op === 'reset') return RESET;
  const used = [...new Set(rules.map((r) => r.algorithm))];
  const twins = used.map((a) => TWINS[a].lua).join('');
  // One entry per rule, in KEYS order: the ResolvedRule's numbers and its twin's functions.
  const table = rules
    .map((r) => {
      const p = ALGORITHM_DESCRIPTORS[r.algorithm].idPrefix;
      const undo = TWINS[r.algorithm].undo ? ', undo = hash_undo' : '';
      return `{limit = ${r.limit}, window_ms = ${r.windowMs}, burst = ${r.burst}, block_for_ms = ${r.blockForMs}, evaluate = ${p}_evaluate, commit = ${p}_commit, refund = ${p}_refund${undo}}`;
    })
    .join(',\n  ');
  const now =
    clock === 'time'
      ? `local now\ndo\n  ${READ_TIME}\nend`
      : clock === 'argv'
        ? 'local now = tonumber(ARGV[1])'
        : `local now = tonumber(ARGV[1])\nif now < 0 then\n  ${READ_TIME}\nend`;
  const body = op === 'consume' ? CONSUME : op === 'peek' ? PEEK : REFUND;
  return `${PRELUDE}local SLACK = ${slackMs}\n${twins}\nlocal R = {\n  ${table}\n}\n${now}\n${body}`;
}
