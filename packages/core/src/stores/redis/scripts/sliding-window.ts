import { HASH_DROP_BEFORE } from './snippets';

/**
 * Lua twin of `algorithms/sliding-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count; the current and the previous window are read, so a decision costs
 * `HINCRBY` (optimistic, undone on denial) + `HGET`, plus `PEXPIRE` once per window. Each
 * function returns one table built by a single constructor: allocations are most of a script's cost.
 * @internal
 */
export const SLIDING_WINDOW_LUA = `
-- Twin of slidingWindow (algorithms/sliding-window.ts): sw_evaluate, sw_commit, sw_refund are its
-- evaluate, commit, refund. Windows roll by field name (window start), so there is no roll().
local function sw_evaluate(k, now, W, L, B, cost, consuming)
  local start = floor(now / W) * W
  local f, pf = sfmt('%d', start), sfmt('%d', start - W)
  local cur, prev, inc, new
  if consuming and cost <= L then
    cur = call('HINCRBY', k, f, cost) - cost
    inc = true
    new = cur == 0
    prev = hnum(k, pf, redis.call('HGET', k, pf))
  else
    local a = call('HMGET', k, f, pf)
    cur = hnum(k, f, a[1])
    prev = hnum(k, pf, a[2])
  end
  local usedW = prev * (W - (now - start)) + cur * W
  local allowed, remaining, retry = true, 0, 0
  if usedW + cost * W <= L * W then
    remaining = floor((L * W - usedW - cost * W) / W)
  else
    allowed = false
    remaining = math.max(0, floor((L * W - usedW) / W))
    if cost > L then
      retry = INF
    else
      local room, at = L - cost - cur, W
      if room >= 0 and prev > 0 then at = W - floor((room * W) / prev) end
      if at < W then
        retry = start + at - now
      else
        local nxt = 0
        if cur ~= 0 then nxt = math.max(0, W - floor(((L - cost) * W) / cur)) end
        retry = start + W + nxt - now
      end
    end
  end
  return {allowed = allowed, remaining = remaining, reset_ms = start + W - now, retry_after_ms = retry, inc = inc, new = new, f = f, start = start}
end

local function sw_commit(k, now, W, L, B, cost, out)
  if out.new then
    if redis.call('HLEN', k) > 2 then
      ${HASH_DROP_BEFORE('k', 'out.start - W')}
    end
    -- The current window still weighs on the next one.
    redis.call('PEXPIRE', k, sfmt('%d', out.start + 2 * W - now + SLACK))
  end
end

local function sw_refund(k, now, W, L, B, cost, charged_at)
  local start = floor(now / W) * W
  local cs = floor(charged_at / W) * W
  if cs == start or cs == start - W then
    local f = sfmt('%d', cs)
    local v = hnum(k, f, call('HGET', k, f))
    if v > 0 then redis.call('HINCRBY', k, f, -math.min(v, cost)) end
  end
end
`;
