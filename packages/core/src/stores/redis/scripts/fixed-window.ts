import { HASH_DROP_BEFORE } from './snippets';

/**
 * Lua twin of `algorithms/fixed-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count. The consume path increments optimistically (`HINCRBY`, one command) and
 * undoes on denial, so an allowed decision costs a single command (plus `PEXPIRE`, and early in the
 * window `HLEN`, once per window).
 * @internal
 */
export const FIXED_WINDOW_LUA = `
-- Twin of fixedWindow (algorithms/fixed-window.ts): fw_evaluate, fw_commit, fw_refund are its
-- evaluate, commit, refund. The count lives in Redis, so \`out\` also carries the window's field.
local function fw_evaluate(k, now, W, L, B, cost, consuming)
  local start = floor(now / W) * W
  local f = sfmt('%d', start)
  local count, inc, new
  if consuming and cost <= L then
    count = call('HINCRBY', k, f, cost) - cost
    inc = true
    new = count == 0
  else
    count = hnum(k, f, call('HGET', k, f))
  end
  local reset_ms = start + W - now
  if count + cost <= L then
    return {allowed = true, remaining = L - count - cost, reset_ms = reset_ms, retry_after_ms = 0, inc = inc, new = new, f = f, start = start}
  end
  local retry = reset_ms
  if cost > L then retry = INF end
  return {allowed = false, remaining = L - count, reset_ms = reset_ms, retry_after_ms = retry, inc = inc, new = new, f = f, start = start}
end

local function fw_commit(k, now, W, L, B, cost, out)
  if out.new then
    -- First units of this window: older windows are dead, and the hash lives until this one ends.
    -- An older window's field can only still be here shortly after this window began: its key
    -- expired SLACK (+ clock error) after that window ended. Past that, HLEN is skipped, which saves
    -- a command per key and window; a field missed anyway would only cost memory (never read).
    if now - out.start < 2 * SLACK + 1000 and redis.call('HLEN', k) > 1 then
      ${HASH_DROP_BEFORE('k', 'out.start')}
    end
    redis.call('PEXPIRE', k, sfmt('%d', out.start + W - now + SLACK))
  end
end

local function fw_refund(k, now, W, L, B, cost, charged_at)
  local cs = floor(charged_at / W) * W
  -- Only the window the units were charged in, and only while it lasts.
  if cs + W > now and cs <= now then
    local f = sfmt('%d', cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then redis.call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
