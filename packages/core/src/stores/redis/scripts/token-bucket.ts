/**
 * Lua twin of `algorithms/token-bucket.ts`. State: one string per key, `"<ts> <tokens × W>"`
 * (integers), written with `SET … PX` until the bucket would be full again. `GET` + `SET`.
 * @internal
 */
export const TOKEN_BUCKET_LUA = `
-- Twin of tokenBucket (algorithms/token-bucket.ts): tb_evaluate, tb_commit, tb_refund are its
-- evaluate, commit, refund; tb_refill is refill(); tb_store keeps the state until its expiresAt.
local function tb_load(k, now, rule)
  local v = call('GET', k)
  if v then
    local a, b = string.match(v, '^(%-?%d+) (%-?%d+)$')
    if a then return tonumber(a), tonumber(b), true end
    corrupt(k)
  end
  return now, rule.burst * rule.window_ms, false
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

local function tb_store(k, now, rule, ts, tokens)
  local ttl = ts + math.ceil((rule.burst * rule.window_ms - tokens) / rule.limit) - now
  if ttl > 0 then redis.call('SET', k, fmt(ts) .. ' ' .. fmt(tokens), 'PX', fmt(ttl + SLACK))
  else redis.call('DEL', k) end
end

local function tb_evaluate(k, now, rule, cost, consuming)
  local W, L = rule.window_ms, rule.limit
  local cap = rule.burst * W
  local ts, tokens = tb_load(k, now, rule)
  ts, tokens = tb_refill(ts, tokens, now, L, cap)
  local out = {ts = ts, tokens = tokens}
  local need = cost * W
  if tokens >= need then
    out.allowed = true
    out.remaining = math.floor((tokens - need) / W)
    out.reset_ms = math.ceil((cap - tokens + need) / L)
    out.retry_after_ms = 0
  else
    out.allowed = false
    out.remaining = math.floor(tokens / W)
    out.reset_ms = math.ceil((cap - tokens) / L)
    if cost > rule.burst then out.retry_after_ms = INF else out.retry_after_ms = math.ceil((need - tokens) / L) end
  end
  return out
end

local function tb_commit(k, now, rule, cost, out)
  tb_store(k, now, rule, out.ts, out.tokens - cost * rule.window_ms)
end

local function tb_refund(k, now, rule, cost, charged_at)
  -- A charge older than a full refill has been repaid already.
  if (now - charged_at) * rule.limit >= rule.burst * rule.window_ms then return end
  local ts, tokens, found = tb_load(k, now, rule)
  if not found then return end
  local cap = rule.burst * rule.window_ms
  ts, tokens = tb_refill(ts, tokens, now, rule.limit, cap)
  tb_store(k, now, rule, ts, math.min(cap, tokens + cost * rule.window_ms))
end
`;
