import { CORRUPT } from './snippets';

/**
 * Lua twin of `algorithms/token-bucket.ts`. State: one string per key, `"<ts> <tokens × W>"`
 * (integers), written with `SET … PX` until the bucket would be full again. `GET` + `SET`.
 * @internal
 */
export const TOKEN_BUCKET_LUA = `
-- Twin of tokenBucket (algorithms/token-bucket.ts): tb_evaluate, tb_commit, tb_refund are its
-- evaluate, commit, refund; tb_refill is refill(); tb_store keeps the state until its expiresAt.
local function tb_load(k, now, cap)
  local v = call('GET', k)
  if v then
    local a, b = string.match(v, '^(%-?%d+) (%-?%d+)$')
    if a then return tonumber(a), tonumber(b), true end
    ${CORRUPT('k')}
  end
  return now, cap, false
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

local function tb_store(k, now, L, cap, ts, tokens)
  local ttl = ts + math.ceil((cap - tokens) / L) - now
  if ttl > 0 then redis.call('SET', k, sfmt('%d %d', ts, tokens), 'PX', sfmt('%d', ttl + SLACK))
  else redis.call('DEL', k) end
end

local function tb_evaluate(k, now, W, L, B, cost, consuming)
  local cap = B * W
  local ts, tokens = tb_load(k, now, cap)
  ts, tokens = tb_refill(ts, tokens, now, L, cap)
  local need = cost * W
  if tokens >= need then
    return {allowed = true, remaining = floor((tokens - need) / W), reset_ms = math.ceil((cap - tokens + need) / L), retry_after_ms = 0, ts = ts, tokens = tokens}
  end
  local retry = INF
  if cost <= B then retry = math.ceil((need - tokens) / L) end
  return {allowed = false, remaining = floor(tokens / W), reset_ms = math.ceil((cap - tokens) / L), retry_after_ms = retry, ts = ts, tokens = tokens}
end

local function tb_commit(k, now, W, L, B, cost, out)
  tb_store(k, now, L, B * W, out.ts, out.tokens - cost * W)
end

local function tb_refund(k, now, W, L, B, cost, charged_at)
  local cap = B * W
  -- A charge older than a full refill has been repaid already.
  if (now - charged_at) * L >= cap then return end
  local ts, tokens, found = tb_load(k, now, cap)
  if not found then return end
  ts, tokens = tb_refill(ts, tokens, now, L, cap)
  tb_store(k, now, L, cap, ts, math.min(cap, tokens + cost * W))
end
`;
