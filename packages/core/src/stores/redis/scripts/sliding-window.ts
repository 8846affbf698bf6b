import { FIELD_IO, FIRST, HASH_DROP_BEFORE, HNUM } from './snippets';

// The window's outcome from the counts of this window (cur) and the one before (prev), both
// layouts: the locals allowed, remaining, retry.
const OUTCOME = `local usedW = prev * (W - (now - start)) + cur * W
  local allowed, remaining, retry = 1, 0, 0
  if usedW + cost * W <= L * W then
    remaining = floor((L * W - usedW - cost * W) / W)
  else
    allowed = 0
    remaining = math.max(0, floor((L * W - usedW) / W))
    if cost > L then
      retry = INF
    else
      local room, at = L - cost - cur, W
      if room >= 0 and prev > 0 then at = W - floor((room * W) / prev) end
      if at < W then
        retry = start + at - now
      else
        local nxt = 0
        if cur ~= 0 then nxt = math.max(0, W - floor(((L - cost) * W) / cur)) end
        retry = start + W + nxt - now
      end
    end
  end`;

/**
 * Lua twin of `algorithms/sliding-window.ts`. State: one hash per key, field = window start (epoch
 * ms), value = count; the current and the previous window are read, so a decision costs
 * `HINCRBY` (optimistic, undone on denial) + `HGET`, plus `PEXPIRE` once per window.
 * @internal
 */
export const SLIDING_WINDOW_LUA = `
-- Twin of slidingWindow (algorithms/sliding-window.ts): sw_evaluate, sw_commit, sw_refund are its
-- evaluate, commit, refund. Windows roll by field name (window start), so there is no roll().
-- evaluate returns its outcome, the window start when it created the window's field (commit's
-- \`out\`, else false) and the field when it incremented it (the undo, else false).
local function sw_evaluate(k, now, W, L, B, cost, consuming)
  local start = floor(now / W) * W
  local f, pf = sfmt('%d', start), sfmt('%d', start - W)
  local cur, prev, inc, new = 0, 0, false, false
  if consuming and cost <= L then
    ${FIRST('cur', 'k', "'HINCRBY', k, f, COST")}
    cur = cur - cost
    inc = true
    new = cur == 0
    local v = redis.call('HGET', k, pf)
    ${HNUM('prev', 'v', 'k', 'pf')}
  else
    local a
    ${FIRST('a', 'k', "'HMGET', k, f, pf")}
    ${HNUM('cur', 'a[1]', 'k', 'f')}
    ${HNUM('prev', 'a[2]', 'k', 'pf')}
  end
  ${OUTCOME}
  return allowed, remaining, start + W - now, retry, new and start, inc and f
end

local function sw_commit(k, now, W, L, B, cost, out)
  if out then
    if redis.call('HLEN', k) > 2 then
      ${HASH_DROP_BEFORE('k', 'out - W')}
    end
    -- The current window still weighs on the next one.
    redis.call('PEXPIRE', k, sfmt('%d', out + 2 * W - now + SLACK))
  end
end

local function sw_refund(k, now, W, L, B, cost, charged_at)
  local start = floor(now / W) * W
  local cs = floor(charged_at / W) * W
  if cs == start or cs == start - W then
    local f = sfmt('%d', cs)
    local v
    ${FIRST('v', 'k', "'HGET', k, f")}
    local n = 0
    ${HNUM('n', 'v', 'k', 'f')}
    if n > 0 then redis.call('HINCRBY', k, f, -math.min(n, cost)) end
  end
end
`;

// Field k's counts for the current window (cur) and the one before it (prev) into locals, with
// the current window's start: a field written in the previous window has its count become prev.
const FIELD_LOAD = `local start = floor(now / W) * W
  local cur, prev = 0, 0
  do
    local v
    ${FIELD_IO.read('v')}
    if v then
      ${FIELD_IO.parse(['a', 'b', 'c'], '^(%-?%d+) (%d+) (%d+)$')}
      if a == nil then ${FIELD_IO.drop}
      elseif a == start then cur, prev = b, c
      elseif a == start - W then prev = b end
    end
  end`;

/**
 * The twin on one field of the limiter's hash (`hash-layout.ts`): `"<window start> <count> <count
 * of the window before>"`, so one field holds both windows a decision reads.
 * @internal
 */
export const SLIDING_WINDOW_FIELD_LUA = `
-- Twin of slidingWindow on field k of the limiter's hash: evaluate returns its outcome and, when
-- consuming, stages the charged state (commit has nothing left to do).
local function sw_evaluate(k, now, W, L, B, cost, consuming)
  ${FIELD_LOAD}
  ${OUTCOME}
  if consuming then
    -- Staged here, where both counts are at hand; written only when every rule allowed. The
    -- current window still weighs on the next one.
    ${FIELD_IO.write(FIELD_IO.format(['start', 'cur + cost', 'prev']), 'start + 2 * W')}
  end
  return allowed, remaining, start + W - now, retry, false
end

local function sw_commit(k, now, W, L, B, cost, out)
  -- evaluate staged the write.
end

local function sw_refund(k, now, W, L, B, cost, charged_at)
  ${FIELD_LOAD}
  local cs = floor(charged_at / W) * W
  if cs == start and cur > 0 then
    ${FIELD_IO.write(FIELD_IO.format(['start', 'cur - math.min(cur, cost)', 'prev']), 'start + 2 * W')}
  elseif cs == start - W and prev > 0 then
    ${FIELD_IO.write(FIELD_IO.format(['start', 'cur', 'prev - math.min(prev, cost)']), 'start + 2 * W')}
  end
end
`;
