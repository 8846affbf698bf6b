import { CORRUPT, FIRST } from './snippets';

// tb_load() then refill(): the bucket of `k` at `now` into the locals ts, tokens (a full bucket
// when absent or foreign) and found.
const LOAD_REFILLED = `local ts, tokens, found = now, cap, false
  do
    local v
    ${FIRST('v', 'k', "'GET', k")}
    if v then
      local a, b = string.match(v, '^(%-?%d+) (%-?%d+)$')
      if a then ts, tokens, found = tonumber(a), tonumber(b), true else ${CORRUPT('k')} end
    end
    local elapsed = now - ts
    if elapsed > 0 then
      local add = elapsed * L
      if add >= cap - tokens then tokens = cap else tokens = tokens + add end
      ts = now
    end
  end`;

// Keeps the state until its expiresAt.
const STORE = (ts: string, tokens: string): string => `do
    local t, n = ${ts}, ${tokens}
    local ttl = t + ceil((cap - n) / L) - now
    if ttl > 0 then redis.call('SET', k, sfmt('%d %d', t, n), 'PX', sfmt('%d', ttl + SLACK))
    else redis.call('DEL', k) end
  end`;

/**
 * Lua twin of `algorithms/token-bucket.ts`. State: one string per key, `"<ts> <tokens × W>"`
 * (integers), written with `SET … PX` until the bucket would be full again. `GET` + `SET`.
 * @internal
 */
export const TOKEN_BUCKET_LUA = `
-- Twin of tokenBucket (algorithms/token-bucket.ts): tb_evaluate, tb_commit, tb_refund are its
-- evaluate, commit, refund. evaluate returns its outcome and the refilled bucket {ts, tokens}
-- (commit's \`out\`).
local function tb_evaluate(k, now, W, L, B, cost, consuming)
  local cap = B * W
  ${LOAD_REFILLED}
  local need = cost * W
  local allowed, remaining, reset_ms, retry = 1, floor((tokens - need) / W), ceil((cap - tokens + need) / L), 0
  if tokens < need then
    allowed, remaining, reset_ms, retry = 0, floor(tokens / W), ceil((cap - tokens) / L), INF
    if cost <= B then retry = ceil((need - tokens) / L) end
  end
  return allowed, remaining, reset_ms, retry, {ts, tokens}
end

local function tb_commit(k, now, W, L, B, cost, out)
  local cap = B * W
  ${STORE('out[1]', 'out[2] - cost * W')}
end

local function tb_refund(k, now, W, L, B, cost, charged_at)
  local cap = B * W
  -- A charge older than a full refill has been repaid already.
  if (now - charged_at) * L >= cap then return end
  ${LOAD_REFILLED}
  if not found then return end
  ${STORE('ts', 'math.min(cap, tokens + cost * W)')}
end
`;
