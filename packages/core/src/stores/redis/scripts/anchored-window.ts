import { FIELD_IO, KEY_IO, type StateIO } from './snippets';

// The window of `k` into the locals start, count and found (no window when absent or foreign).
const LOAD = (io: StateIO): string => `local start, count, found = 0, 0, false
  do
    local v
    ${io.read('v')}
    if v then
      ${io.parse(['a', 'b'], '^(%-?%d+) (%d+)$')}
      if a then start, count, found = tonumber(a), tonumber(b), true else ${io.drop} end
    end
  end`;

// Keeps the window until it ends (its start + W; the start is never after a write's `now` by more
// than clock error, so the TTL is positive).
const STORE = (io: StateIO, start: string, count: string): string => io.write(io.format([start, count]), `${start} + W`);

/**
 * Lua twin of `algorithms/anchored-window.ts`. State: one string per key, `"<start> <count>"`
 * (integers), written with `SET … PX` until the window ends. `GET` + `SET`; in the hash layout
 * ({@link ANCHORED_WINDOW_FIELD_LUA}) the same string is one field.
 * @internal
 */
const anchoredWindowLua = (io: StateIO): string => `
-- Twin of anchoredWindow (algorithms/anchored-window.ts): aw_evaluate, aw_commit, aw_refund are its
-- evaluate, commit, refund. evaluate returns its outcome and the window a charge goes to
-- {start, count} (commit's \`out\`: a new one at now when none lasts).
local function aw_evaluate(k, now, W, L, B, cost, consuming)
  ${LOAD(io)}
  local live = found and now - start < W
  local reset_ms = W
  if live then reset_ms = start + W - now else start, count = now, 0 end
  local allowed, remaining, retry = 1, L - count - cost, 0
  if count + cost > L then
    allowed, remaining, retry = 0, L - count, reset_ms
    if cost > L then retry = INF end
  end
  return allowed, remaining, reset_ms, retry, {start, count}
end

local function aw_commit(k, now, W, L, B, cost, out)
  ${STORE(io, 'out[1]', 'out[2] + cost')}
end

local function aw_refund(k, now, W, L, B, cost, charged_at)
  ${LOAD(io)}
  -- Only the window the units were charged in, and only while it lasts.
  if found and count > 0 and now - start < W and charged_at >= start and charged_at - start < W then
    ${STORE(io, 'start', 'math.max(0, count - cost)')}
  end
end
`;

/** @internal */
export const ANCHORED_WINDOW_LUA = anchoredWindowLua(KEY_IO);
/** @internal The twin on one field of the limiter's hash (`hash-layout.ts`). */
export const ANCHORED_WINDOW_FIELD_LUA = anchoredWindowLua(FIELD_IO);
