/**
 * Lua twin of `algorithms/token-bucket.ts`. State: one string per key, `"<ts> <tokens × W>"`
 * (integers), written with `SET … PX` until the bucket would be full again. `GET` + `SET`.
 * @internal
 */
export const TOKEN_BUCKET_LUA = `
local function tb_load(k, now, r)
  local v = call('GET', k)
  if v then
    local a, b = string.match(v, '^(%-?%d+) (%-?%d+)$')
    if a then return tonumber(a), tonumber(b), true end
    corrupt(k)
  end
  return now, r.b * r.w, false
end

local function tb_refill(ts, tokens, now, L, cap)
  local elapsed = now - ts
  if elapsed > 0 then
    local add = elapsed * L
    if add >= cap - tokens then tokens = cap else tokens = tokens + add end
    ts = now
  end
  return ts, tokens
end

local function tb_store(k, now, r, ts, tokens)
  local ttl = ts + math.ceil((r.b * r.w - tokens) / r.l) - now
  if ttl > 0 then redis.call('SET', k, fmt(ts) .. ' ' .. fmt(tokens), 'PX', fmt(ttl + SLACK))
  else redis.call('DEL', k) end
end

local function tb_eval(k, now, cost, r, consuming)
  local W, L = r.w, r.l
  local cap = r.b * W
  local ts, tokens = tb_load(k, now, r)
  ts, tokens = tb_refill(ts, tokens, now, L, cap)
  local s = {ts = ts, tokens = tokens}
  local need = cost * W
  if tokens >= need then
    s.ok = true
    s.rem = math.floor((tokens - need) / W)
    s.rst = math.ceil((cap - tokens + need) / L)
    s.rty = 0
  else
    s.ok = false
    s.rem = math.floor(tokens / W)
    s.rst = math.ceil((cap - tokens) / L)
    if cost > r.b then s.rty = INF else s.rty = math.ceil((need - tokens) / L) end
  end
  return s
end

local function tb_commit(k, now, cost, r, s)
  tb_store(k, now, r, s.ts, s.tokens - cost * r.w)
end

local function tb_refund(k, now, cost, r, chargedAt)
  -- A charge older than a full refill has been repaid already.
  if (now - chargedAt) * r.l >= r.b * r.w then return end
  local ts, tokens, found = tb_load(k, now, r)
  if not found then return end
  local cap = r.b * r.w
  ts, tokens = tb_refill(ts, tokens, now, r.l, cap)
  tb_store(k, now, r, ts, math.min(cap, tokens + cost * r.w))
end
`;
