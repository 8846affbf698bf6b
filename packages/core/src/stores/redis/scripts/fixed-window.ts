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
local function fw_evaluate(k, now, rule, cost, consuming)
  local W, L = rule.window_ms, rule.limit
  local start = math.floor(now / W) * W
  local f = fmt(start)
  local out = {f = f, start = start}
  local count
  if consuming and cost <= L then
    count = call('HINCRBY', k, f, cost) - cost
    out.inc = true
    out.new = count == 0
  else
    count = hnum(k, f, call('HGET', k, f))
  end
  local reset_ms = start + W - now
  out.reset_ms = reset_ms
  if count + cost <= L then
    out.allowed = true; out.remaining = L - count - cost; out.retry_after_ms = 0
  else
    out.allowed = false; out.remaining = L - count
    if cost > L then out.retry_after_ms = INF else out.retry_after_ms = reset_ms end
  end
  return out
end

local function fw_commit(k, now, rule, cost, out)
  if out.new then
    -- First units of this window: older windows are dead, and the hash lives until this one ends.
    -- An older window's field can only still be here shortly after this window began: its key
    -- expired SLACK (+ clock error) after that window ended. Past that, HLEN is skipped, which saves
    -- a command per key and window; a field missed anyway would only cost memory (never read).
    if now - out.start < 2 * SLACK + 1000 and call('HLEN', k) > 1 then hash_drop_before(k, out.start) end
    redis.call('PEXPIRE', k, fmt(out.start + rule.window_ms - now + SLACK))
  end
end

local function fw_refund(k, now, rule, cost, charged_at)
  local W = rule.window_ms
  local cs = math.floor(charged_at / W) * W
  -- Only the window the units were charged in, and only while it lasts.
  if cs + W > now and cs <= now then
    local f = fmt(cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
