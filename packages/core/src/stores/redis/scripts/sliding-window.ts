/**
 * Lua twin of `algorithms/sliding-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count; the current and the previous window are read, so a decision costs
 * `HINCRBY` (optimistic, undone on denial) + `HGET`, plus `PEXPIRE` once per window.
 * @internal
 */
export const SLIDING_WINDOW_LUA = `
local function sw_eval(k, now, cost, r, consuming)
  local W, L = r.w, r.l
  local start = math.floor(now / W) * W
  local f = fmt(start)
  local s = {f = f, start = start}
  local cur, prev
  if consuming and cost <= L then
    cur = call('HINCRBY', k, f, cost) - cost
    s.inc = true
    s.new = cur == 0
    prev = hnum(k, fmt(start - W), call('HGET', k, fmt(start - W)))
  else
    local a = call('HMGET', k, f, fmt(start - W))
    cur = hnum(k, f, a[1])
    prev = hnum(k, fmt(start - W), a[2])
  end
  local elapsed = now - start
  local usedW = prev * (W - elapsed) + cur * W
  s.rst = start + W - now
  if usedW + cost * W <= L * W then
    s.ok = true; s.rem = math.floor((L * W - usedW - cost * W) / W); s.rty = 0
    return s
  end
  s.ok = false
  s.rem = math.max(0, math.floor((L * W - usedW) / W))
  if cost > L then s.rty = INF; return s end
  local room = L - cost - cur
  if room >= 0 and prev > 0 then
    local at = W - math.floor((room * W) / prev)
    if at < W then s.rty = start + at - now; return s end
  end
  local nxt = 0
  if cur ~= 0 then nxt = math.max(0, W - math.floor(((L - cost) * W) / cur)) end
  s.rty = start + W + nxt - now
  return s
end

local function sw_commit(k, now, cost, r, s)
  if s.new then
    if call('HLEN', k) > 2 then hash_drop_before(k, s.start - r.w) end
    -- The current window still weighs on the next one.
    redis.call('PEXPIRE', k, fmt(s.start + 2 * r.w - now + SLACK))
  end
end


local function sw_refund(k, now, cost, r, chargedAt)
  local W = r.w
  local start = math.floor(now / W) * W
  local cs = math.floor(chargedAt / W) * W
  if cs == start or cs == start - W then
    local f = fmt(cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
