import { FIRST, HASH_DROP_BEFORE, HNUM } from '../../scripts/snippets';
import type { LeaseRuleCode, LeaseTwin } from './types';

/**
 * Leasing a fixed window: a lease is `HINCRBY` of the window's counter by the units granted, at
 * most what the window has left; unspent units go back with a negative `HINCRBY`, only into the
 * window they were taken from (a window that has ended needs nothing: its count dies with it).
 * @internal
 */
export const FIXED_WINDOW_LEASE: LeaseTwin = {
  give: ({ i, k, W }: LeaseRuleCode) => `do -- give back to rule ${i}
  local st = floor(ot0 / ${W}) * ${W}
  if floor(now / ${W}) * ${W} == st then
    local f = sfmt('%d', st)
    local v, c = nil, 0
    ${FIRST('v', k, `'HGET', ${k}, f`)}
    ${HNUM('c', 'v', k, 'f')}
    local u = on - ok
    if u > c then u = c end
    if u > 0 then redis.call('HINCRBY', ${k}, f, -u) end
  end
end`,
  evaluate: ({ i, k, W, L }: LeaseRuleCode) => `local f${i}, c${i} = nil, 0
local s${i} = floor(now / ${W}) * ${W}
do
  f${i} = sfmt('%d', s${i})
  local v
  ${FIRST('v', k, `'HGET', ${k}, f${i}`)}
  ${HNUM(`c${i}`, 'v', k, `f${i}`)}
end
local g${i} = ${L} - c${i}
if g${i} < 0 then g${i} = 0 end
local a${i}, rm${i}, rs${i}, rt${i} = 1, g${i}, s${i} + ${W} - now, 0
if c${i} + cost > ${L} then
  a${i}, rt${i} = 0, rs${i}
  if cost > ${L} then rt${i} = INF end
end`,
  take: ({ i, k, W }: LeaseRuleCode) => `redis.call('HINCRBY', ${k}, f${i}, g)
if c${i} == 0 then
  -- First units of this window: older windows' fields are dead, and the hash lives until it ends.
  if redis.call('HLEN', ${k}) > 1 then
    ${HASH_DROP_BEFORE(k, `s${i}`)}
  end
  redis.call('PEXPIRE', ${k}, sfmt('%d', s${i} + ${W} - now + SLACK))
end
rm${i} = g${i} - g
local b${i}, st${i}, rv${i} = 0, '0 0', 0`,
};
