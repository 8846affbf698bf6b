import { CORRUPT, FIRST } from './snippets';

/**
 * Lua twin of `algorithms/sliding-log.ts`. State: one LIST per key, one timestamp (epoch ms) per
 * consumed unit, oldest at the head: duplicates are fine (unlike a ZSET, no unique member is
 * needed) and pruning pops from the head. Expired entries are skipped by index when deciding and
 * trimmed only on writes, so peeks and denials write nothing.
 * @internal
 */
export const SLIDING_LOG_LUA = `
-- Twin of slidingLog (algorithms/sliding-log.ts): sl_evaluate, sl_commit, sl_refund are its
-- evaluate, commit, refund; sl_dead counts what its prune() would drop. evaluate returns its
-- outcome and that count (commit's \`out\`).

-- How many leading entries have aged out (t + W <= now). A list with an entry that is not a
-- timestamp among them is foreign or corrupt: it is dropped (and reported) as a whole.
local function sl_dead(k, now, W)
  local head
  ${FIRST('head', 'k', "'LINDEX', k, 0")}
  if not head then return 0 end
  local t = tonumber(head)
  if t == nil then ${CORRUPT('k')}; return 0 end
  if t + W > now then return 0 end
  local drop = 0
  while true do
    local chunk = redis.call('LRANGE', k, drop, drop + 127)
    for j = 1, #chunk do
      t = tonumber(chunk[j])
      if t == nil then ${CORRUPT('k')}; return 0 end
      if t + W <= now then drop = drop + 1 else return drop end
    end
    if #chunk < 128 then return drop end
  end
end

local function sl_evaluate(k, now, W, L, B, cost, consuming)
  local drop = sl_dead(k, now, W)
  local n = redis.call('LLEN', k) - drop
  local allowed, remaining, reset_ms, retry = 1, L - n - cost, W, 0
  if n + cost > L then
    allowed, remaining, reset_ms, retry = 0, L - n, 0, INF
    if n > 0 then reset_ms = (tonumber(redis.call('LINDEX', k, -1)) or 0) + W - now end
    if cost <= L then retry = (tonumber(redis.call('LINDEX', k, drop + n + cost - L - 1)) or 0) + W - now end
  end
  return allowed, remaining, reset_ms, retry, drop
end

local function sl_commit(k, now, W, L, B, cost, out)
  if out > 0 then redis.call('LTRIM', k, out, -1) end
  local t = sfmt('%d', now)
  local batch = {}
  for i = 1, cost do
    batch[#batch + 1] = t
    if #batch == 1000 or i == cost then
      redis.call('RPUSH', k, unpack(batch))
      batch = {}
    end
  end
  redis.call('PEXPIRE', k, sfmt('%d', W + SLACK))
end

local function sl_refund(k, now, W, L, B, cost, charged_at)
  local drop = sl_dead(k, now, W)
  if drop > 0 then redis.call('LTRIM', k, drop, -1) end
  local len = redis.call('LLEN', k)
  if len == 0 then return end
  -- Entries logged after the charge belong to later requests: keep them.
  local later = 0
  while later < len and (tonumber(redis.call('LINDEX', k, -1 - later)) or 0) > charged_at do later = later + 1 end
  local take = math.min(cost, len - later)
  if take <= 0 then return end
  local kept = {}
  if later > 0 then kept = redis.call('RPOP', k, later) end
  redis.call('RPOP', k, take)
  for i = #kept, 1, -1 do redis.call('RPUSH', k, kept[i]) end
  if redis.call('LLEN', k) > 0 then
    local ttl = (tonumber(redis.call('LINDEX', k, -1)) or 0) + W - now
    if ttl > 0 then redis.call('PEXPIRE', k, sfmt('%d', ttl + SLACK)) else redis.call('DEL', k) end
  end
end
`;
