import { FIELD_IO, KEY_IO, type StateIO } from './snippets';

// tb_load() then refill(): the bucket of `k` at `now` into the locals ts, tokens (a full bucket
// when absent or foreign) and found.
const LOAD_REFILLED = (io: StateIO): string => `local ts, tokens, found = now, cap, false
  do
    local v
    ${io.read('v')}
    if v then
      ${io.parse(['a', 'b'], '^(%-?%d+) (%-?%d+)$')}
      if a then ts, tokens, found = tonumber(a), tonumber(b), true else ${io.drop} end
    end
    local elapsed = now - ts
    if elapsed > 0 then
      local add = elapsed * L
      if add >= cap - tokens then tokens = cap else tokens = tokens + add end
      ts = now
    end
  end`;

// Keeps the state until its expiresAt.
const STORE = (io: StateIO, ts: string, tokens: string): string => `do
    local t, n = ${ts}, ${tokens}
    ${io.write(io.format(['t', 'n']), 't + ceil((cap - n) / L)')}
  end`;

/**
 * Lua twin of `algorithms/token-bucket.ts`. State: one string per key, `"<ts> <tokens × W>"`
 * (integers), written with `SET … PX` until the bucket would be full again. `GET` + `SET`; in the
 * hash layout ({@link TOKEN_BUCKET_FIELD_LUA}) the same string is one field.
 * @internal
 */
const tokenBucketLua = (io: StateIO): string => `
-- Twin of tokenBucket (algorithms/token-bucket.ts): tb_evaluate, tb_commit, tb_refund are its
-- evaluate, commit, refund. evaluate returns its outcome and the refilled bucket {ts, tokens}
-- (commit's \`out\`).
local function tb_evaluate(k, now, W, L, B, cost, consuming)
  local cap = B * W
  ${LOAD_REFILLED(io)}
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
  ${STORE(io, 'out[1]', 'out[2] - cost * W')}
end

local function tb_refund(k, now, W, L, B, cost, charged_at)
  local cap = B * W
  -- A charge older than a full refill has been repaid already.
  if (now - charged_at) * L >= cap then return end
  ${LOAD_REFILLED(io)}
  if not found then return end
  ${STORE(io, 'ts', 'math.min(cap, tokens + cost * W)')}
end
`;

/** @internal */
export const TOKEN_BUCKET_LUA = tokenBucketLua(KEY_IO);
/** @internal The twin on one field of the limiter's hash (`hash-layout.ts`). */
export const TOKEN_BUCKET_FIELD_LUA = tokenBucketLua(FIELD_IO);
