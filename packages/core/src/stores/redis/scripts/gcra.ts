import { CORRUPT } from './snippets';

/**
 * Lua twin of `algorithms/gcra.ts`. State: one string per key, `"<tat> <rem>"`: the TAT as whole
 * epoch ms plus a remainder in 1/limit ms, so every quantity is an exact integer (scaled by limit)
 * and Lua computes bit for bit what the TypeScript computes. Written with `SET … PX` until the TAT
 * has passed. `GET` + `SET`.
 * @internal
 */
export const GCRA_LUA = `
-- Twin of gcra (algorithms/gcra.ts): gcra_evaluate, gcra_commit, gcra_refund are its evaluate,
-- commit, refund; gcra_backlog is backlogOf(); gcra_store is setTat() plus the write.
local function gcra_load(k)
  local v = call('GET', k)
  if not v then return 0, 0, false end
  local a, b = string.match(v, '^(%-?%d+) (%d+)$')
  if a then return tonumber(a), tonumber(b), true end
  ${CORRUPT('k')}
  return 0, 0, false
end

-- (TAT - now) x limit when TAT is ahead of now, else 0.
local function gcra_backlog(tat, rem, now, L)
  if tat > now or (tat == now and rem > 0) then return (tat - now) * L + rem end
  return 0
end

-- Stores TAT = now + scaled / limit until it has passed.
local function gcra_store(k, now, L, scaled)
  local whole = floor(scaled / L)
  local tat = now + whole
  local rem = scaled - whole * L
  local expires = tat
  if rem > 0 then expires = tat + 1 end
  if expires > now then redis.call('SET', k, sfmt('%d %d', tat, rem), 'PX', sfmt('%d', expires - now + SLACK))
  else redis.call('DEL', k) end
end

local function gcra_evaluate(k, now, W, L, B, cost, consuming)
  local tat, rem = gcra_load(k)
  local tau = B * W
  local backlog = gcra_backlog(tat, rem, now, L)
  local after = backlog + cost * W
  if after <= tau then
    return {allowed = true, remaining = floor((tau - after) / W), reset_ms = math.ceil(after / L), retry_after_ms = 0, backlog = backlog}
  end
  local retry = INF
  if cost <= B then retry = math.ceil((after - tau) / L) end
  return {allowed = false, remaining = floor((tau - backlog) / W), reset_ms = math.ceil(backlog / L), retry_after_ms = retry, backlog = backlog}
end

local function gcra_commit(k, now, W, L, B, cost, out)
  gcra_store(k, now, L, out.backlog + cost * W)
end

local function gcra_refund(k, now, W, L, B, cost, charged_at)
  -- The backlog never exceeds tau: a charge that old has been repaid.
  if (now - charged_at) * L >= B * W then return end
  local tat, rem, found = gcra_load(k)
  if not found then return end
  local backlog = gcra_backlog(tat, rem, now, L)
  if backlog > 0 then gcra_store(k, now, L, math.max(0, backlog - cost * W)) end
end
`;
