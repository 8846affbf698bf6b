/**
 * Lua twin of `algorithms/sliding-log.ts`. State: one LIST per key, one timestamp (epoch ms) per
 * consumed unit, oldest at the head: duplicates are fine (unlike a ZSET, no unique member is
 * needed) and pruning pops from the head. Expired entries are skipped by index when deciding and
 * trimmed only on writes, so peeks and denials write nothing.
 * @internal
 */
export const SLIDING_LOG_LUA = `
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

local function sl_eval(k, now, cost, r, consuming)
  local W, L = r.w, r.l
  local drop = sl_dead(k, now, W)
  local n = call('LLEN', k) - drop
  local s = {drop = drop}
  if n + cost <= L then
    s.ok = true; s.rem = L - n - cost; s.rst = W; s.rty = 0
    return s
  end
  s.ok = false
  s.rem = L - n
  if n == 0 then s.rst = 0 else s.rst = (tonumber(call('LINDEX', k, -1)) or 0) + W - now end
  if cost > L then s.rty = INF
  else s.rty = (tonumber(call('LINDEX', k, drop + n + cost - L - 1)) or 0) + W - now end
  return s
end

local function sl_commit(k, now, cost, r, s)
  if s.drop > 0 then call('LTRIM', k, s.drop, -1) end
  local t = fmt(now)
  local batch = {}
  for i = 1, cost do
    batch[#batch + 1] = t
    if #batch == 1000 or i == cost then
      call('RPUSH', k, unpack(batch))
      batch = {}
    end
  end
  redis.call('PEXPIRE', k, fmt(r.w + SLACK))
end

local function sl_refund(k, now, cost, r, chargedAt)
  local W = r.w
  local drop = sl_dead(k, now, W)
  if drop > 0 then call('LTRIM', k, drop, -1) end
  local len = call('LLEN', k)
  if len == 0 then return end
  -- Entries logged after the charge belong to later requests: keep them.
  local later = 0
  while later < len and (tonumber(call('LINDEX', k, -1 - later)) or 0) > chargedAt do later = later + 1 end
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
