import type { ResolvedRule } from '../../../rules';
import { FIXED_WINDOW_LUA } from './fixed-window';
import { GCRA_LUA } from './gcra';
import { SLIDING_LOG_LUA } from './sliding-log';
import { SLIDING_WINDOW_LUA } from './sliding-window';
import { TOKEN_BUCKET_LUA } from './token-bucket';

/** The four operations; each is one script evaluating every rule of a limiter atomically. */
export type Operation = 'consume' | 'peek' | 'refund' | 'reset';

const TWINS = {
  'fixed-window': { prefix: 'fw', lua: FIXED_WINDOW_LUA, undo: true },
  'sliding-window': { prefix: 'sw', lua: SLIDING_WINDOW_LUA, undo: true },
  'sliding-log': { prefix: 'sl', lua: SLIDING_LOG_LUA, undo: false },
  'token-bucket': { prefix: 'tb', lua: TOKEN_BUCKET_LUA, undo: false },
  gcra: { prefix: 'gc', lua: GCRA_LUA, undo: false },
} as const;

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
local function finish(out)
  if REPAIRED > 0 then out[#out + 1] = REPAIRED end
  return out
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
local function hash_undo(k, cost, r, s)
  if s.new then redis.call('HDEL', k, s.f) else redis.call('HINCRBY', k, s.f, -cost) end
end
`;

// Mirrors BoundMemoryStore.consume: evaluate every rule, then commit all or (blockFor) block the
// refusing ones; rules that allowed but were refused by another report their units as left.
const CONSUME = `
local n = #R
local cost = tonumber(ARGV[2])
-- ARGV[3]: the server time after which the limiter has answered by policy: a call that reaches
-- Redis later (queued behind a pause, replayed after a stall) must not charge anything.
local deadline = tonumber(ARGV[3])
if deadline >= 0 and now > deadline then return {-1} end
local st = {}
local all = true
for i = 1, n do
  local r, k = R[i], KEYS[i]
  local blk = 0
  if r.bf > 0 then blk = blocked_until(k) end
  local s
  if blk > now then
    s = {blocked = true, ok = false, rem = 0, rst = blk - now, rty = blk - now}
  else
    s = r.ev(k, now, cost, r, true)
  end
  st[i] = s
  if not s.ok then all = false end
end
local out = {now}
for i = 1, n do
  local r, k, s = R[i], KEYS[i], st[i]
  if all then
    r.cm(k, now, cost, r, s)
  elseif not s.blocked then
    if s.inc then r.un(k, cost, r, s) end
    if s.ok then
      s.rem = s.rem + cost
    elseif r.bf > 0 and s.rty ~= INF then
      redis.call('SET', k .. ':b', fmt(now + r.bf), 'PX', fmt(r.bf + SLACK))
      local wait = math.max(s.rty, r.bf)
      s.rem = 0; s.rty = wait
      if s.rst < wait then s.rst = wait end
    end
  end
  local j = #out
  if s.ok then out[j + 1] = 1 else out[j + 1] = 0 end
  out[j + 2] = s.rem; out[j + 3] = s.rst; out[j + 4] = s.rty
end
return finish(out)
`;

const PEEK = `
local out = {now}
for i = 1, #R do
  local r, k = R[i], KEYS[i]
  local blk = 0
  if r.bf > 0 then blk = blocked_until(k) end
  local j = #out
  if blk > now then
    out[j + 1] = 0; out[j + 2] = 0; out[j + 3] = blk - now; out[j + 4] = blk - now
  else
    local s = r.ev(k, now, 1, r, false)
    if s.ok then out[j + 1] = 1; out[j + 2] = s.rem + 1 else out[j + 1] = 0; out[j + 2] = s.rem end
    out[j + 3] = s.rst; out[j + 4] = s.rty
  end
end
return finish(out)
`;

const REFUND = `
local cost = tonumber(ARGV[2])
local chargedAt = tonumber(ARGV[3])
for i = 1, #R do R[i].rf(KEYS[i], now, cost, R[i], chargedAt) end
return REPAIRED
`;

const RESET = `
for i = 1, #KEYS do redis.call('UNLINK', KEYS[i], KEYS[i] .. ':b') end
return 0
`;

/**
 * Where a script's `now` comes from: `'time'` reads Redis `TIME` in the script; `'argv'` takes
 * `ARGV[1]`; `'argv-or-time'` takes `ARGV[1]` unless it is negative (the caller has no synced
 * estimate yet), then reads `TIME`.
 */
export type ScriptClock = 'time' | 'argv' | 'argv-or-time';

const READ_TIME = `local tm = redis.call('TIME')\n  now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)`;

/**
 * Builds the Lua source of one operation for one limiter's rules. Rule parameters are baked in as
 * constants (a request carries only keys, time and cost); only the twins the rules use are included.
 * Every TTL is padded by `slackMs` so a key never expires (on Redis's clock) while the clock that
 * computed it still needs it.
 */
export function buildScript(op: Operation, rules: readonly ResolvedRule[], clock: ScriptClock, slackMs: number): string {
  if (op === 'reset') return RESET;
  const used = [...new Set(rules.map((r) => r.algorithm))];
  const twins = used.map((a) => TWINS[a].lua).join('');
  const table = rules
    .map((r) => {
      const p = TWINS[r.algorithm].prefix;
      const undo = TWINS[r.algorithm].undo ? ', un = hash_undo' : '';
      return `{l = ${r.limit}, w = ${r.windowMs}, b = ${r.burst}, bf = ${r.blockForMs}, ev = ${p}_eval, cm = ${p}_commit, rf = ${p}_refund${undo}}`;
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
