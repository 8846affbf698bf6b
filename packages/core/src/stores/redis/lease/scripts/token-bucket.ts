import { CORRUPT, FIRST } from '../../scripts/snippets';
import { type LeaseRuleCode, type LeaseTwin, reserveTarget } from './types';

// The bucket of `k` refilled to `now` into ts<i>, tk<i> (tokens × W; a full bucket when absent or
// foreign).
const LOAD = (i: number | string, k: string, W: number, L: number, B: number): string => `local ts${i}, tk${i} = now, ${B * W}
do
  local v
  ${FIRST('v', k, `'GET', ${k}`)}
  if v then
    local a, b = string.match(v, '^(%-?%d+) (%-?%d+)$')
    if a then ts${i}, tk${i} = tonumber(a), tonumber(b) else ${CORRUPT(k)} end
  end
  local elapsed = now - ts${i}
  if elapsed > 0 then
    local add = elapsed * ${L}
    if add >= ${B * W} - tk${i} then tk${i} = ${B * W} else tk${i} = tk${i} + add end
    ts${i} = now
  end
end`;

// Writes the bucket (ts, tokens) until it would be full again; the string written into `into`.
const STORE = (k: string, ts: string, tokens: string, W: number, L: number, B: number, into: string): string => `do
  local t, n = ${ts}, ${tokens}
  ${into} = sfmt('%d %d', t, n)
  local ttl = t + ceil((${B * W} - n) / ${L}) - now
  if ttl > 0 then redis.call('SET', ${k}, ${into}, 'PX', sfmt('%d', ttl + SLACK))
  else redis.call('DEL', ${k}) end
end`;

/**
 * Leasing a token bucket: a lease takes `g` tokens at once (`tokens −= g × W`). Its unit j may be
 * spent until the bucket, drained by the lease, would have refilled past it: `t0 + (b0 + j·W) / L`
 * (b0: tokens missing before the grant, × W), the same deadline as GCRA's slot. Unspent units go
 * back only when the bucket is exactly as the lease left it (no other process charged it since):
 * then the lease is undone as if it had been smaller. A grant reserves refill time before its
 * units as GCRA's does (see `GCRA_LEASE`).
 * @internal
 */
export const TOKEN_BUCKET_LEASE: LeaseTwin = {
  give: ({ i, k, W, L, B, b0Arg, stArg, rvArg }: LeaseRuleCode) => `do -- give back to rule ${i}
  local v = redis.pcall('GET', ${k})
  if type(v) == 'string' and v == ${stArg} then
    local ex = floor(((now - ot0) * ${L} - tonumber(${b0Arg})) / ${W})
    if ex < ok then ex = ok end
    local back = 0
    if on > ex then back = (on - ex) * ${W} end
    -- Nothing of this lease was admitted: it is undone whole, its reserve included.
    if ok == 0 then back = on * ${W} + tonumber(${rvArg}) end
    if back > 0 then
      ${LOAD('', k, W, L, B)}
      local n = tk + back
      if n > ${B * W} then n = ${B * W} end
      local _s
      ${STORE(k, 'ts', 'n', W, L, B, '_s')}
    end
  end
end`,
  evaluate: ({ i, k, W, L, B }: LeaseRuleCode) => `${LOAD(i, k, W, L, B)}
local g${i} = floor(tk${i} / ${W})
local a${i}, rm${i}, rs${i}, rt${i} = 1, g${i}, ceil((${B * W} - tk${i}) / ${L}), 0
if tk${i} < cost * ${W} then
  a${i}, rt${i} = 0, INF
  if cost <= ${B} then rt${i} = ceil((cost * ${W} - tk${i}) / ${L}) end
end`,
  take: ({ i, k, W, L, B }: LeaseRuleCode) => `local rv${i} = ${reserveTarget(W, L, B)} - (${B * W} - tk${i}) - g * ${W}
if rv${i} > tk${i} - g * ${W} then rv${i} = tk${i} - g * ${W} end
if rv${i} < 0 then rv${i} = 0 end
local b${i}, st${i} = ${B * W} - tk${i} + rv${i}, nil
${STORE(k, `ts${i}`, `tk${i} - g * ${W} - rv${i}`, W, L, B, `st${i}`)}
rm${i}, rs${i} = floor((tk${i} - g * ${W} - rv${i}) / ${W}), ceil((${B * W} - tk${i} + g * ${W} + rv${i}) / ${L})`,
};
