/**
 * Lua twin of `algorithms/sliding-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count; the current and the previous window are read, so a decision costs
 * `HINCRBY` (optimistic, undone on denial) + `HGET`, plus `PEXPIRE` once per window.
 * @internal
 */
export const SLIDING_WINDOW_LUA = `
-- Twin of slidingWindow (algorithms/sliding-window.ts): sw_evaluate, sw_commit, sw_refund are its
-- evaluate, commit, refund. Windows roll by field name (window start), so there is no roll().
local function sw_evaluate(k, now, rule, cost, consuming)
  local W, L = rule.window_ms, rule.limit
  local start = math.floor(now / W) * W
  local f = fmt(start)
  local out = {f = f, start = start}
  local cur, prev
  if consuming and cost <= L then
    cur = call('HINCRBY', k, f, cost) - cost
    out.inc = true
    out.new = cur == 0
    prev = hnum(k, fmt(start - W), call('HGET', k, fmt(start - W)))
  else
    local a = call('HMGET', k, f, fmt(start - W))
    cur = hnum(k, f, a[1])
    prev = hnum(k, fmt(start - W), a[2])
  end
  local elapsed = now - start
  local usedW = prev * (W - elapsed) + cur * W
  out.reset_ms = start + W - now
  if usedW + cost * W <= L * W then
    out.allowed = true; out.remaining = math.floor((L * W - usedW - cost * W) / W); out.retry_after_ms = 0
    return out
  end
  out.allowed = false
  out.remaining = math.max(0, math.floor((L * W - usedW) / W))
  if cost > L then out.retry_after_ms = INF; return out end
  local room = L - cost - cur
  if room >= 0 and prev > 0 then
    local at = W - math.floor((room * W) / prev)
    if at < W then out.retry_after_ms = start + at - now; return out end
  end
  local nxt = 0
  if cur ~= 0 then nxt = math.max(0, W - math.floor(((L - cost) * W) / cur)) end
  out.retry_after_ms = start + W + nxt - now
  return out
end

local function sw_commit(k, now, rule, cost, out)
  if out.new then
    if call('HLEN', k) > 2 then hash_drop_before(k, out.start - rule.window_ms) end
    -- The current window still weighs on the next one.
    redis.call('PEXPIRE', k, fmt(out.start + 2 * rule.window_ms - now + SLACK))
  end
end

local function sw_refund(k, now, rule, cost, charged_at)
  local W = rule.window_ms
  local start = math.floor(now / W) * W
  local cs = math.floor(charged_at / W) * W
  if cs == start or cs == start - W then
    local f = fmt(cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
