/**
 * Lua twin of `algorithms/sliding-log.ts`. State: one LIST per key, one timestamp (epoch ms) per
 * consumed unit, oldest at the head: duplicates are fine (unlike a ZSET, no unique member is
 * needed) and pruning pops from the head. Expired entries are skipped by index when deciding and
 * trimmed only on writes, so peeks and denials write nothing.
 * @internal
 */
export const SLIDING_LOG_LUA = `
-- Twin of slidingLog (algorithms/sliding-log.ts): sl_evaluate, sl_commit, sl_refund are its
-- evaluate, commit, refund; sl_dead counts what its prune() would drop.

-- How many leading entries have aged out (t + W <= now). A list with an entry that is not a
-- timestamp among them is foreign or corrupt: it is dropped (and reported) as a whole.
local function sl_dead(k, now, W)
  local head = call('LINDEX', k, 0)
  if not head then return 0 end
  local t = tonumber(head)
  if t == nil then corrupt(k); return 0 end
  if t + W > now then return 0 end
  local drop = 0
  while true do
    local chunk = call('LRANGE', k, drop, drop + 127)
    for j = 1, #chunk do
      t = tonumber(chunk[j])
      if t == nil then corrupt(k); return 0 end
      if t + W <= now then drop = drop + 1 else return drop end
    end
    if #chunk < 128 then return drop end
  end
end

local function sl_evaluate(k, now, rule, cost, consuming)
  local W, L = rule.window_ms, rule.limit
  local drop = sl_dead(k, now, W)
  local n = call('LLEN', k) - drop
  local out = {drop = drop}
  if n + cost <= L then
    out.allowed = true; out.remaining = L - n - cost; out.reset_ms = W; out.retry_after_ms = 0
    return out
  end
  out.allowed = false
  out.remaining = L - n
  if n == 0 then out.reset_ms = 0 else out.reset_ms = (tonumber(call('LINDEX', k, -1)) or 0) + W - now end
  if cost > L then out.retry_after_ms = INF
  else out.retry_after_ms = (tonumber(call('LINDEX', k, drop + n + cost - L - 1)) or 0) + W - now end
  return out
end

local function sl_commit(k, now, rule, cost, out)
  if out.drop > 0 then call('LTRIM', k, out.drop, -1) end
  local t = fmt(now)
  local batch = {}
  for i = 1, cost do
    batch[#batch + 1] = t
    if #batch == 1000 or i == cost then
      call('RPUSH', k, unpack(batch))
      batch = {}
    end
  end
  redis.call('PEXPIRE', k, fmt(rule.window_ms + SLACK))
end

local function sl_refund(k, now, rule, cost, charged_at)
  local W = rule.window_ms
  local drop = sl_dead(k, now, W)
  if drop > 0 then call('LTRIM', k, drop, -1) end
  local len = call('LLEN', k)
  if len == 0 then return end
  -- Entries logged after the charge belong to later requests: keep them.
  local later = 0
  while later < len and (tonumber(call('LINDEX', k, -1 - later)) or 0) > charged_at do later = later + 1 end
  local take = math.min(cost, len - later)
  if take <= 0 then return end
  local kept = {}
  if later > 0 then kept = call('RPOP', k, later) end
  call('RPOP', k, take)
  for i = #kept, 1, -1 do call('RPUSH', k, kept[i]) end
  if call('LLEN', k) > 0 then
    local ttl = (tonumber(call('LINDEX', k, -1)) or 0) + W - now
    if ttl > 0 then redis.call('PEXPIRE', k, fmt(ttl + SLACK)) else redis.call('DEL', k) end
  end
end
`;
