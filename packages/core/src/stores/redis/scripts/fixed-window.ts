import { FIELD_IO, FIRST, HASH_DROP_BEFORE, HNUM } from './snippets';

// The window's outcome from its count, both layouts: the locals reset_ms, allowed, remaining, retry.
const OUTCOME = `local reset_ms = start + W - now
  local allowed, remaining, retry = 1, L - count - cost, 0
  if count + cost > L then
    allowed, remaining, retry = 0, L - count, reset_ms
    if cost > L then retry = INF end
  end`;

/**
 * Lua twin of `algorithms/fixed-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count. The consume path increments optimistically (`HINCRBY`, one command) and
 * undoes on denial, so an allowed decision costs a single command (plus `PEXPIRE`, and early in the
 * window `HLEN`, once per window).
 * @internal
 */
export const FIXED_WINDOW_LUA = `
-- Twin of fixedWindow (algorithms/fixed-window.ts): fw_evaluate, fw_commit, fw_refund are its
-- evaluate, commit, refund. The count lives in Redis: evaluate returns its outcome, then the window
-- start when it created the window's field (commit's \`out\`, else false) and the field when it
-- incremented it (the undo, else false).
local function fw_evaluate(k, now, W, L, B, cost, consuming)
  local start = floor(now / W) * W
  local f = sfmt('%d', start)
  local count, inc, new = 0, false, false
  if consuming and cost <= L then
    ${FIRST('count', 'k', "'HINCRBY', k, f, COST")}
    count = count - cost
    inc = true
    new = count == 0
  else
    local v
    ${FIRST('v', 'k', "'HGET', k, f")}
    ${HNUM('count', 'v', 'k', 'f')}
  end
  ${OUTCOME}
  return allowed, remaining, reset_ms, retry, new and start, inc and f
end

local function fw_commit(k, now, W, L, B, cost, out)
  if out then
    -- First units of this window (out: its start): older windows are dead, and the hash lives until
    -- this one ends. An older window's field can only still be here shortly after this window
    -- began: its key expired SLACK (+ clock error) after that window ended. Past that, HLEN is
    -- skipped, which saves a command per key and window; a field missed anyway would only cost
    -- memory (never read).
    if now - out < 2 * SLACK + 1000 and redis.call('HLEN', k) > 1 then
      ${HASH_DROP_BEFORE('k', 'out')}
    end
    redis.call('PEXPIRE', k, sfmt('%d', out + W - now + SLACK))
  end
end

local function fw_refund(k, now, W, L, B, cost, charged_at)
  local cs = floor(charged_at / W) * W
  -- Only the window the units were charged in, and only while it lasts.
  if cs + W > now and cs <= now then
    local f = sfmt('%d', cs)
    local v
    ${FIRST('v', 'k', "'HGET', k, f")}
    local n = 0
    ${HNUM('n', 'v', 'k', 'f')}
    if n > 0 then redis.call('HINCRBY', k, f, -math.min(n, cost)) end
  end
end
`;

// The current window of field k into the locals start, count (0 when the field holds an older
// window, or nothing).
const FIELD_LOAD = `local start = floor(now / W) * W
  local count = 0
  do
    local v
    ${FIELD_IO.read('v')}
    if v then
      ${FIELD_IO.parse(['a', 'b'], '^(%-?%d+) (%d+)$')}
      if a == nil then ${FIELD_IO.drop}
      elseif a == start then count = b end
    end
  end`;

/**
 * The twin on one field of the limiter's hash (`hash-layout.ts`): `"<window start> <count>"`, the
 * current window only (a field holding an older one reads as empty and is overwritten).
 * @internal
 */
export const FIXED_WINDOW_FIELD_LUA = `
-- Twin of fixedWindow on field k of the limiter's hash: evaluate returns its outcome and the
-- window's count before the charge (commit's \`out\`).
local function fw_evaluate(k, now, W, L, B, cost, consuming)
  ${FIELD_LOAD}
  ${OUTCOME}
  return allowed, remaining, reset_ms, retry, count
end

local function fw_commit(k, now, W, L, B, cost, out)
  local start = floor(now / W) * W
  ${FIELD_IO.write(FIELD_IO.format(['start', 'out + cost']), 'start + W')}
end

local function fw_refund(k, now, W, L, B, cost, charged_at)
  ${FIELD_LOAD}
  -- Only the window the units were charged in, and only while it lasts.
  if count > 0 and charged_at >= start and charged_at < start + W then
    ${FIELD_IO.write(FIELD_IO.format(['start', 'count - math.min(count, cost)']), 'start + W')}
  end
end
`;
