import { FIELD_IO, KEY_IO, type StateIO } from './snippets';

// gcra_load(): the stored TAT of `k` into the locals tat, rem (0, 0 when absent or foreign) and
// found.
const LOAD = (io: StateIO): string => `local tat, rem, found = 0, 0, false
  do
    local v
    ${io.read('v')}
    if v then
      ${io.parse(['a', 'b'], '^(%-?%d+) (%d+)$')}
      if a then tat, rem, found = tonumber(a), tonumber(b), true else ${io.drop} end
    end
  end`;

// backlogOf(): (TAT - now) x limit when TAT is ahead of now, else 0, into the local backlog.
const BACKLOG = `local backlog = 0
  if tat > now or (tat == now and rem > 0) then backlog = (tat - now) * L + rem end`;

// setTat() plus the write: stores TAT = now + scaled / limit until it has passed.
const STORE = (io: StateIO, scaled: string): string => `do
    local sc = ${scaled}
    local whole = floor(sc / L)
    local t = now + whole
    local r = sc - whole * L
    local expires = t
    if r > 0 then expires = t + 1 end
    ${io.write(io.format(['t', 'r']), 'expires')}
  end`;

/**
 * Lua twin of `algorithms/gcra.ts`. State: one string per key, `"<tat> <rem>"`: the TAT as whole
 * epoch ms plus a remainder in 1/limit ms, so every quantity is an exact integer (scaled by limit)
 * and Lua computes bit for bit what the TypeScript computes. Written with `SET … PX` until the TAT
 * has passed. `GET` + `SET`; in the hash layout ({@link GCRA_FIELD_LUA}) the same string is one field.
 * @internal
 */
const gcraLua = (io: StateIO): string => `
-- Twin of gcra (algorithms/gcra.ts): gcra_evaluate, gcra_commit, gcra_refund are its evaluate,
-- commit, refund. evaluate returns its outcome and the backlog (commit's \`out\`).
local function gcra_evaluate(k, now, W, L, B, cost, consuming)
  ${LOAD(io)}
  local tau = B * W
  ${BACKLOG}
  local after = backlog + cost * W
  local allowed, remaining, reset_ms, retry = 1, 0, 0, 0
  if after <= tau then
    remaining, reset_ms = floor((tau - after) / W), ceil(after / L)
  else
    allowed, remaining, reset_ms, retry = 0, floor((tau - backlog) / W), ceil(backlog / L), INF
    if cost <= B then retry = ceil((after - tau) / L) end
  end
  return allowed, remaining, reset_ms, retry, backlog
end

local function gcra_commit(k, now, W, L, B, cost, out)
  ${STORE(io, 'out + cost * W')}
end

local function gcra_refund(k, now, W, L, B, cost, charged_at)
  -- The backlog never exceeds tau: a charge that old has been repaid.
  if (now - charged_at) * L >= B * W then return end
  ${LOAD(io)}
  if not found then return end
  ${BACKLOG}
  if backlog > 0 then ${STORE(io, 'math.max(0, backlog - cost * W)')} end
end
`;

/** @internal */
export const GCRA_LUA = gcraLua(KEY_IO);
/** @internal The twin on one field of the limiter's hash (`hash-layout.ts`). */
export const GCRA_FIELD_LUA = gcraLua(FIELD_IO);
