import type { ResolvedRule } from '../../../rules';
import type { ScriptClock } from '../scripts/driver';
import { FIXED_WINDOW_LEASE } from './scripts/fixed-window';
import { GCRA_LEASE } from './scripts/gcra';
import { TOKEN_BUCKET_LEASE } from './scripts/token-bucket';
import type { LeaseRuleCode, LeaseTwin } from './scripts/types';

/** The algorithms a lease can take units from exactly (see docs/redis.md, "Lease mode"). */
export const LEASE_TWINS: Readonly<Partial<Record<ResolvedRule['algorithm'], LeaseTwin>>> = {
  'fixed-window': FIXED_WINDOW_LEASE,
  'token-bucket': TOKEN_BUCKET_LEASE,
  gcra: GCRA_LEASE,
};

/** Most rules of one leasing limiter: each rule takes about ten of the 200 locals Lua allows. */
export const MAX_LEASE_RULES = 16;

// Fixed ARGV slots; each rule i then has three: the old lease's b0, the state string it wrote and
// the refill it reserved.
const FIXED_ARGS = 7;
const RULE_ARGS = 3;

/**
 * Builds the lease script of one limiter's rules (all of them leasing algorithms). One call first
 * gives the unspent units of the caller's old lease back (when it has one), then, when `want > 0`,
 * grants `g = min(want, what every rule has left)` units to every rule, or nothing at all when
 * `g < cost` (a denied request consumes nothing).
 *
 * - `KEYS[i]`: rule i's state key (as the plain scripts').
 * - `ARGV[1]`: now (client clock; else unused); `ARGV[2]`: want (0: only give back);
 *   `ARGV[3]`: cost; `ARGV[4]`: deadline (−1: none); `ARGV[5]`, `ARGV[6]`, `ARGV[7]`: the old
 *   lease's units, units spent, grant time (0 0 0: none); per rule three more (see `FIXED_ARGS`).
 *
 * Reply: the repair count when `want` is 0; `'-1'` past the deadline; else one string,
 * `now g` then per rule `allowed remaining reset retry b0 state₁ state₂ reserved` (remaining: what
 * Redis has left after the grant; `b0`, the state and the reserve: what the lease must send back to
 * give units back).
 * @internal
 */
export function buildLeaseScript(rules: readonly ResolvedRule[], clock: ScriptClock, slackMs: number): string {
  const code: LeaseRuleCode[] = rules.map((r, index) => ({
    i: index + 1,
    k: `KEYS[${index + 1}]`,
    W: r.windowMs,
    L: r.limit,
    B: r.burst,
    b0Arg: `ARGV[${FIXED_ARGS + RULE_ARGS * index + 1}]`,
    stArg: `ARGV[${FIXED_ARGS + RULE_ARGS * index + 2}]`,
    rvArg: `ARGV[${FIXED_ARGS + RULE_ARGS * index + 3}]`,
  }));
  const twin = (r: ResolvedRule): LeaseTwin => {
    const t = LEASE_TWINS[r.algorithm];
    if (t === undefined) throw new Error(`no lease twin for ${r.algorithm}`);
    return t;
  };
  const now =
    clock === 'argv'
      ? 'local now = tonumber(ARGV[1])'
      : `local now\ndo\n  local tm = redis.call('TIME')\n  now = tonumber(tm[1]) * 1000 + floor(tonumber(tm[2]) / 1000)\nend`;
  const perRule = (r: LeaseRuleCode): string => `a${r.i}, rm${r.i}, rs${r.i}, rt${r.i}`;
  const granted = code.map((r) => `sfmt('%d %d %d %d %d %s %d', 1, rm${r.i}, rs${r.i}, 0, b${r.i}, st${r.i}, rv${r.i})`);
  const denied = code.map((r) => `sfmt('%d %d %d %d 0 0 0 0', ${perRule(r)})`);
  return `local INF = -1
local floor, ceil, sfmt, tonumber, type = math.floor, math.ceil, string.format, tonumber, type
local REPAIRED = 0
local SLACK = ${slackMs}
${now}
local want, cost = tonumber(ARGV[2]), tonumber(ARGV[3])
-- A refill that reaches Redis after the limiter answered by policy must not charge anything.
if want > 0 and ARGV[4] ~= '-1' and now > tonumber(ARGV[4]) then return '-1' end
local on, ok, ot0 = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if on > ok then
${code.map((r, j) => twin(rules[j] as ResolvedRule).give(r)).join('\n')}
end
if want == 0 then return REPAIRED end
local g = want
${code.map((r, j) => `${twin(rules[j] as ResolvedRule).evaluate(r)}\nif g${r.i} < g then g = g${r.i} end`).join('\n')}
if g >= cost and ${code.map((r) => `a${r.i} == 1`).join(' and ')} then
${code.map((r, j) => twin(rules[j] as ResolvedRule).take(r)).join('\n')}
  return table.concat({sfmt('%d %d %d', now, g, REPAIRED), ${granted.join(', ')}}, ' ')
end
return table.concat({sfmt('%d %d %d', now, 0, REPAIRED), ${denied.join(', ')}}, ' ')
`;
}

/** One rule's part of a lease reply. @internal */
export interface LeaseRuleReply {
  allowed: number;
  /** Units Redis has left after the grant (when denied: before it). */
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
  /** The backlog before the grant's first unit (× limit, its reserve included), for slot algorithms. */
  b0: number;
  /** The state string the grant wrote (slot algorithms), to give units back only onto it. */
  state: string;
  /** Refill the grant reserved before its units (× limit; slot algorithms). */
  reserved: number;
}

/** A lease reply, decoded. @internal */
export interface LeaseReply {
  /** Redis time of the grant (ms). */
  at: number;
  /** Units granted (0: denied). */
  granted: number;
  /** Foreign or corrupt values repaired. */
  repaired: number;
  rules: LeaseRuleReply[];
}

/** Decodes the reply of a lease script that asked for units; `undefined` for the `'-1'` of a late call. */
export function decodeLeaseReply(reply: unknown, ruleCount: number): LeaseReply | undefined {
  if (reply === '-1') return undefined;
  if (typeof reply !== 'string') throw new Error(`unexpected lease reply: ${String(reply)}`);
  const p = reply.split(' ');
  const rules: LeaseRuleReply[] = [];
  for (let i = 0, j = 3; i < ruleCount; i++, j += 8) {
    rules.push({
      allowed: Number(p[j]),
      remaining: Number(p[j + 1]),
      resetMs: Number(p[j + 2]),
      retryAfterMs: Number(p[j + 3]),
      b0: Number(p[j + 4]),
      state: `${p[j + 5]} ${p[j + 6]}`,
      reserved: Number(p[j + 7]),
    });
  }
  return { at: Number(p[0]), granted: Number(p[1]), repaired: Number(p[2]), rules };
}
