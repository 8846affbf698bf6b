/**
 * Lua twin of `algorithms/fixed-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count. The consume path increments optimistically (`HINCRBY`, one command) and
 * undoes on denial, so an allowed decision costs a single command (plus `PEXPIRE`, and early in the
 * window `HLEN`, once per window).
 * @internal
 */
export const FIXED_WINDOW_LUA = `
local function fw_eval(k, now, cost, r, consuming)
  local W, L = r.w, r.l
  local start = math.floor(now / W) * W
  local f = fmt(start)
  local s = {f = f, start = start}
  local count
  if consuming and cost <= L then
    count = call('HINCRBY', k, f, cost) - cost
    s.inc = true
    s.new = count == 0
  else
    count = hnum(k, f, call('HGET', k, f))
  end
  local resetMs = start + W - now
  s.rst = resetMs
  if count + cost <= L then
    s.ok = true; s.rem = L - count - cost; s.rty = 0
  else
    s.ok = false; s.rem = L - count
    if cost > L then s.rty = INF else s.rty = resetMs end
  end
  return s
end

local function fw_commit(k, now, cost, r, s)
  if s.new then
    -- First units of this window: older windows are dead, and the hash lives until this one ends.
    -- An older window's field can only still be here shortly after this window began: its key
    -- expired SLACK (+ clock error) after that window ended. Past that, HLEN is skipped, which saves
    -- a command per key and window; a field missed anyway would only cost memory (never read).
    if now - s.start < 2 * SLACK + 1000 and call('HLEN', k) > 1 then hash_drop_before(k, s.start) end
    redis.call('PEXPIRE', k, fmt(s.start + r.w - now + SLACK))
  end
end


local function fw_refund(k, now, cost, r, chargedAt)
  local W = r.w
  local cs = math.floor(chargedAt / W) * W
  -- Only the window the units were charged in, and only while it lasts.
  if cs + W > now and cs <= now then
    local f = fmt(cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
