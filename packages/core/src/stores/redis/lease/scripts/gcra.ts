import { CORRUPT, FIRST } from '../../scripts/snippets';
import { type LeaseRuleCode, type LeaseTwin, reserveTarget } from './types';

// The stored TAT of `k` into tat<i>, rem<i> (0, 0 when absent or foreign), then the backlog
// ((TAT − now) × L, 0 when TAT has passed) into bl<i>.
const LOAD = (i: number | string, k: string, L: number): string => `local tat${i}, rem${i} = 0, 0
do
  local v
  ${FIRST('v', k, `'GET', ${k}`)}
  if v then
    local a, b = string.match(v, '^(%-?%d+) (%d+)$')
    if a then tat${i}, rem${i} = tonumber(a), tonumber(b) else ${CORRUPT(k)} end
  end
end
local bl${i} = 0
if tat${i} > now or (tat${i} == now and rem${i} > 0) then bl${i} = (tat${i} - now) * ${L} + rem${i} end`;

// Sets TAT = now + scaled / L (kept until it has passed); the string written into `into`.
const STORE = (k: string, scaled: string, L: number, into: string): string => `do
  local sc = ${scaled}
  local whole = floor(sc / ${L})
  local t = now + whole
  local r = sc - whole * ${L}
  ${into} = sfmt('%d %d', t, r)
  local expires = t
  if r > 0 then expires = t + 1 end
  if expires > now then redis.call('SET', ${k}, ${into}, 'PX', sfmt('%d', expires - now + SLACK))
  else redis.call('DEL', ${k}) end
end`;

/**
 * Leasing GCRA: a lease of `g` units advances the TAT by `g` emission intervals at once. Unit j
 * (1-based) occupies the slot ending at `t0 + (b0 + j·W) / L` (b0: the backlog before the grant,
 * × L) and may be spent only before that slot ends; so the units leased but not yet spent never
 * exceed the backlog Redis holds, and every admission is one GCRA would have made. Unspent units go
 * back only when the TAT is exactly what the lease set (no later grant sits behind them): the TAT
 * moves back by their intervals, as if the lease had been smaller.
 *
 * A lease of a fast bucket would span only microseconds of refill (1,000 units of 1e9 per minute:
 * 60 µs), and its units would expire before they could be spent. So a grant also reserves refill
 * time: an empty stretch of the schedule before the lease's slots, topping the backlog up to
 * `LEASE_HORIZON_MS` (100 ms) of refill (at most a tenth of the capacity, never a unit a request
 * could take). It is never a second reserve on top of a backlog that long, drains at the bucket's
 * rate, and is undone with a lease nothing was spent from.
 * @internal
 */
export const GCRA_LEASE: LeaseTwin = {
  give: ({ i, k, W, L, b0Arg, stArg, rvArg }: LeaseRuleCode) => `do -- give back to rule ${i}
  local v = redis.pcall('GET', ${k})
  if type(v) == 'string' and v == ${stArg} then
    local ex = floor(((now - ot0) * ${L} - tonumber(${b0Arg})) / ${W})
    if ex < ok then ex = ok end
    local back = 0
    if on > ex then back = (on - ex) * ${W} end
    -- Nothing of this lease was admitted: it is undone whole, its reserve included.
    if ok == 0 then back = on * ${W} + tonumber(${rvArg}) end
    if back > 0 then
      ${LOAD('', k, L)}
      local left = bl - back
      if left < 0 then left = 0 end
      local _s
      ${STORE(k, 'left', L, '_s')}
    end
  end
end`,
  evaluate: ({ i, k, W, L, B }: LeaseRuleCode) => `${LOAD(i, k, L)}
local g${i} = floor((${B * W} - bl${i}) / ${W})
if g${i} < 0 then g${i} = 0 end
local a${i}, rm${i}, rs${i}, rt${i} = 1, g${i}, ceil(bl${i} / ${L}), 0
if bl${i} + cost * ${W} > ${B * W} then
  a${i}, rt${i} = 0, INF
  if cost <= ${B} then rt${i} = ceil((bl${i} + cost * ${W} - ${B * W}) / ${L}) end
end`,
  take: ({ i, k, W, L, B }: LeaseRuleCode) => `local rv${i} = ${reserveTarget(W, L, B)} - bl${i} - g * ${W}
if rv${i} > ${B * W} - bl${i} - g * ${W} then rv${i} = ${B * W} - bl${i} - g * ${W} end
if rv${i} < 0 then rv${i} = 0 end
local b${i}, st${i} = bl${i} + rv${i}, nil
${STORE(k, `bl${i} + g * ${W} + rv${i}`, L, `st${i}`)}
rm${i}, rs${i} = floor((${B * W} - bl${i} - g * ${W} - rv${i}) / ${W}), ceil((bl${i} + g * ${W} + rv${i}) / ${L})`,
};
