/**
 * Lua twin of `algorithms/gcra.ts`. State: one string per key, `"<tat> <rem>"`: the TAT as whole
 * epoch ms plus a remainder in 1/limit ms, so every quantity is an exact integer (scaled by limit)
 * and Lua computes bit for bit what the TypeScript computes. Written with `SET … PX` until the TAT
 * has passed. `GET` + `SET`.
 * @internal
 */
export const GCRA_LUA = `
local function gc_load(k)
  local v = call('GET', k)
  if not v then return 0, 0, false end
  local a, b = string.match(v, '^(%-?%d+) (%d+)$')
  if a then return tonumber(a), tonumber(b), true end
  corrupt(k)
  return 0, 0, false
end

-- (TAT - now) x limit when TAT is ahead of now, else 0.
local function gc_backlog(tat, rem, now, L)
  if tat > now or (tat == now and rem > 0) then return (tat - now) * L + rem end
  return 0
end

-- Stores TAT = now + scaled / limit until it has passed.
local function gc_store(k, now, L, scaled)
  local whole = math.floor(scaled / L)
  local tat = now + whole
  local rem = scaled - whole * L
  local expires = tat
  if rem > 0 then expires = tat + 1 end
  if expires > now then redis.call('SET', k, fmt(tat) .. ' ' .. fmt(rem), 'PX', fmt(expires - now + SLACK))
  else redis.call('DEL', k) end
end

local function gc_eval(k, now, cost, r, consuming)
  local L, W = r.l, r.w
  local tat, rem = gc_load(k)
  local tau = r.b * W
  local backlog = gc_backlog(tat, rem, now, L)
  local after = backlog + cost * W
  local s = {backlog = backlog}
  if after <= tau then
    s.ok = true
    s.rem = math.floor((tau - after) / W)
    s.rst = math.ceil(after / L)
    s.rty = 0
  else
    s.ok = false
    s.rem = math.floor((tau - backlog) / W)
    s.rst = math.ceil(backlog / L)
    if cost > r.b then s.rty = INF else s.rty = math.ceil((after - tau) / L) end
  end
  return s
end

local function gc_commit(k, now, cost, r, s)
  gc_store(k, now, r.l, s.backlog + cost * r.w)
end

local function gc_refund(k, now, cost, r, chargedAt)
  -- The backlog never exceeds tau: a charge that old has been repaid.
  if (now - chargedAt) * r.l >= r.b * r.w then return end
  local tat, rem, found = gc_load(k)
  if not found then return end
  local backlog = gc_backlog(tat, rem, now, r.l)
  if backlog > 0 then gc_store(k, now, r.l, math.max(0, backlog - cost * r.w)) end
end
`;
