/**
 * Lua twin of `algorithms/gcra.ts`. State: one string per key, the TAT as `%.17g` (a double that
 * round-trips exactly), written with `SET … PX (ceil(TAT) − now)`. `GET` + `SET`. Same operation
 * order as the TypeScript so every double rounds the same way.
 * @internal
 */
export const GCRA_LUA = `
local GCRA_EPS = 1e-6

local function gc_eval(k, now, cost, r, consuming)
  local v = redis.call('GET', k)
  local tat = 0
  if v then tat = tonumber(v) end
  local T = r.w / r.l
  local tau = r.b * T
  local backlog = math.max(tat, now) - now
  local after = backlog + cost * T
  local s = {tat = tat}
  if after <= tau + GCRA_EPS then
    s.ok = true
    s.rem = math.max(0, math.floor((tau - after) / T + GCRA_EPS))
    s.rst = math.ceil(after - GCRA_EPS)
    s.rty = 0
  else
    s.ok = false
    s.rem = math.max(0, math.floor((tau - backlog) / T + GCRA_EPS))
    s.rst = math.ceil(backlog - GCRA_EPS)
    if cost > r.b then s.rty = INF else s.rty = math.ceil(after - tau - GCRA_EPS) end
  end
  return s
end

local function gc_store(k, now, tat)
  local ttl = math.ceil(tat) - now
  if ttl > 0 then redis.call('SET', k, string.format('%.17g', tat), 'PX', fmt(ttl + SLACK))
  else redis.call('DEL', k) end
end

local function gc_commit(k, now, cost, r, s)
  gc_store(k, now, math.max(s.tat, now) + cost * (r.w / r.l))
end

local function gc_refund(k, now, cost, r, chargedAt)
  -- The backlog never exceeds tau: a charge that old has been repaid.
  if (now - chargedAt) * r.l >= r.b * r.w then return end
  local v = redis.call('GET', k)
  if not v then return end
  local tat = tonumber(v)
  if tat > now then gc_store(k, now, math.max(now, tat - cost * (r.w / r.l))) end
end
`;
