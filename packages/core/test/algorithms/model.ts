import fc from 'fast-check';
import { ALGORITHM_DESCRIPTORS, ALGORITHM_IMPLS } from '../../src/algorithms/index';
import type { BaseState, Outcome } from '../../src/algorithms/types';
import { type Algorithm, capacityOf, type ResolvedRule, resolveRule } from '../../src/rules';

/**
 * Simple reference models of the algorithms, written for obviousness rather than speed:
 * whole histories (Maps of window counts, lists of timestamps) and exact BigInt arithmetic.
 * `retryAfterMs` is not computed by formula but searched: the smallest wait after which the same
 * request passes absent other traffic (every model is monotone in time when left alone).
 */
export interface Model {
  /** The decision for `cost` at `t`, without consuming. */
  probe(t: number, cost: number): { allowed: boolean; remaining: number; resetMs: number };
  commit(t: number, cost: number): void;
  refund(t: number, cost: number, chargedAt: number): void;
}

const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const ceilDiv = (a: bigint, b: bigint): bigint => -floorDiv(-a, b);
const big = BigInt;

/** Fixed window: window index → count. */
export function fixedWindowModel(rule: ResolvedRule): Model {
  const W = rule.windowMs;
  const L = rule.limit;
  const counts = new Map<number, number>();
  const index = (t: number) => Math.floor(t / W);
  return {
    probe(t, cost) {
      const n = counts.get(index(t)) ?? 0;
      const resetMs = (index(t) + 1) * W - t;
      return n + cost <= L ? { allowed: true, remaining: L - n - cost, resetMs } : { allowed: false, remaining: L - n, resetMs };
    },
    commit(t, cost) {
      counts.set(index(t), (counts.get(index(t)) ?? 0) + cost);
    },
    refund(t, cost, chargedAt) {
      if (index(chargedAt) !== index(t)) return;
      counts.set(index(t), Math.max(0, (counts.get(index(t)) ?? 0) - cost));
    },
  };
}

/**
 * Anchored window: the start of the key's current window (its first charge) and its count; a
 * window lasts while `t < start + W`.
 */
export function anchoredWindowModel(rule: ResolvedRule): Model {
  const W = rule.windowMs;
  const L = rule.limit;
  let start: number | undefined;
  let count = 0;
  const live = (t: number) => start !== undefined && t < start + W;
  return {
    probe(t, cost) {
      const n = live(t) ? count : 0;
      const resetMs = live(t) ? (start as number) + W - t : W;
      return n + cost <= L ? { allowed: true, remaining: L - n - cost, resetMs } : { allowed: false, remaining: L - n, resetMs };
    },
    commit(t, cost) {
      if (!live(t)) {
        start = t;
        count = 0;
      }
      count += cost;
    },
    refund(t, cost, chargedAt) {
      if (live(t) && chargedAt >= (start as number)) count = Math.max(0, count - cost);
    },
  };
}

/** Sliding window: window index → count; `used = prev × (W − elapsed) / W + cur`, exact. */
export function slidingWindowModel(rule: ResolvedRule): Model {
  const W = rule.windowMs;
  const L = rule.limit;
  const counts = new Map<number, number>();
  const index = (t: number) => Math.floor(t / W);
  return {
    probe(t, cost) {
      const i = index(t);
      const elapsed = t - i * W;
      const usedW = big(counts.get(i - 1) ?? 0) * big(W - elapsed) + big(counts.get(i) ?? 0) * big(W);
      const LW = big(L) * big(W);
      const costW = big(cost) * big(W);
      const resetMs = (i + 1) * W - t;
      if (usedW + costW <= LW) return { allowed: true, remaining: Number(floorDiv(LW - usedW - costW, big(W))), resetMs };
      const left = floorDiv(LW - usedW, big(W));
      return { allowed: false, remaining: Number(left < 0n ? 0n : left), resetMs };
    },
    commit(t, cost) {
      counts.set(index(t), (counts.get(index(t)) ?? 0) + cost);
    },
    refund(t, cost, chargedAt) {
      const c = index(chargedAt);
      if (c !== index(t) && c !== index(t) - 1) return;
      counts.set(c, Math.max(0, (counts.get(c) ?? 0) - cost));
    },
  };
}

/** Sliding log: every timestamp ever logged; an entry at `ts` counts while `t < ts + W`. */
export function slidingLogModel(rule: ResolvedRule): Model {
  const W = rule.windowMs;
  const L = rule.limit;
  let log: number[] = [];
  const live = (t: number) => log.filter((ts) => ts + W > t);
  return {
    probe(t, cost) {
      const entries = live(t);
      const n = entries.length;
      if (n + cost <= L) return { allowed: true, remaining: L - n - cost, resetMs: W };
      return { allowed: false, remaining: L - n, resetMs: n === 0 ? 0 : Math.max(...entries) + W - t };
    },
    commit(t, cost) {
      for (let i = 0; i < cost; i++) log.push(t);
    },
    refund(t, cost, chargedAt) {
      // Drop the `cost` newest live entries logged at or before the charge.
      const candidates = log
        .map((ts, i) => ({ ts, i }))
        .filter(({ ts }) => ts + W > t && ts <= chargedAt)
        .sort((a, b) => b.ts - a.ts || b.i - a.i)
        .slice(0, cost);
      const drop = new Set(candidates.map(({ i }) => i));
      log = log.filter((_, i) => !drop.has(i));
    },
  };
}

/**
 * Token bucket and GCRA: the same bucket. `debt` (units × W, exact) drains at `limit` per ms;
 * a request passes iff `debt + cost × W ≤ burst × W`.
 */
export function bucketModel(rule: ResolvedRule): Model {
  const W = big(rule.windowMs);
  const L = big(rule.limit);
  const cap = big(rule.burst) * W;
  let debt = 0n;
  let last = Number.NEGATIVE_INFINITY;
  const debtAt = (t: number) => {
    if (last === Number.NEGATIVE_INFINITY) return 0n;
    const d = debt - big(t - last) * L;
    return d > 0n ? d : 0n;
  };
  return {
    probe(t, cost) {
      const d = debtAt(t);
      const need = big(cost) * W;
      if (d + need <= cap) return { allowed: true, remaining: Number((cap - d - need) / W), resetMs: Number(ceilDiv(d + need, L)) };
      return { allowed: false, remaining: Number((cap - d) / W), resetMs: Number(ceilDiv(d, L)) };
    },
    commit(t, cost) {
      debt = debtAt(t) + big(cost) * W;
      last = t;
    },
    refund(t, cost, chargedAt) {
      // A charge older than a full refill has been repaid already.
      if (big(t - chargedAt) * L >= cap) return;
      const d = debtAt(t) - big(cost) * W;
      debt = d > 0n ? d : 0n;
      last = t;
    },
  };
}

/** One model per registered algorithm: a new algorithm fails to compile until it has one. */
export const MODELS: Record<Algorithm, (rule: ResolvedRule) => Model> = {
  'fixed-window': fixedWindowModel,
  'sliding-window': slidingWindowModel,
  'sliding-log': slidingLogModel,
  'token-bucket': bucketModel,
  gcra: bucketModel,
  'anchored-window': anchoredWindowModel,
};

/** The full outcome of a consume (or peek, `cost` 1) according to the model; commits when allowed. */
export function modelDecide(model: Model, rule: ResolvedRule, t: number, cost: number, commit: boolean): Outcome {
  const p = model.probe(t, cost);
  if (p.allowed) {
    if (commit) model.commit(t, cost);
    return { ...p, remaining: commit ? p.remaining : p.remaining + cost, retryAfterMs: 0 };
  }
  if (cost > capacityOf(rule)) return { ...p, retryAfterMs: Number.POSITIVE_INFINITY };
  // Every model only gets better with time when left alone: binary search the first passing wait.
  let lo = 0;
  let hi = 1;
  while (!model.probe(t + hi, cost).allowed) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (model.probe(t + mid, cost).allowed) hi = mid;
    else lo = mid;
  }
  return { ...p, retryAfterMs: hi };
}

/**
 * Drives one algorithm implementation the way a store does: state created on first use, and (in
 * `store` mode) replaced by a fresh one once `expiresAt` has passed, refunds skipped on absent
 * state. `pure` mode keeps one state forever, so `expiresAt` is checked by comparing the two.
 */
export class Driver {
  readonly impl;
  #state: BaseState | undefined;
  readonly #out: Outcome = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(
    readonly rule: ResolvedRule,
    readonly mode: 'store' | 'pure',
  ) {
    this.impl = ALGORITHM_IMPLS[rule.algorithm];
  }

  #load(t: number): BaseState {
    if (this.#state === undefined || (this.mode === 'store' && this.impl.expiresAt(this.#state, this.rule) <= t)) {
      this.#state = this.impl.create(t, this.rule);
    }
    return this.#state;
  }

  consume(t: number, cost: number): Outcome {
    const s = this.#load(t);
    this.impl.evaluate(s, t, this.rule, cost, this.#out);
    if (this.#out.allowed) this.impl.commit(s, t, this.rule, cost);
    return { ...this.#out };
  }

  peek(t: number): Outcome {
    const s = this.#load(t);
    this.impl.evaluate(s, t, this.rule, 1, this.#out);
    const out = { ...this.#out };
    if (out.allowed) out.remaining += 1;
    return out;
  }

  refund(t: number, cost: number, chargedAt: number): void {
    if (this.#state === undefined) return;
    if (this.mode === 'store' && this.impl.expiresAt(this.#state, this.rule) <= t) return;
    this.impl.refund(this.#state, t, this.rule, cost, chargedAt);
  }
}

/** One step of a random scenario. */
export interface Step {
  /** Clock advance before the step (ms). */
  dt: number;
  kind: 'consume' | 'peek' | 'refund';
  cost: number;
  /** Picks the refund's `chargedAt` among earlier allowed decisions (or now). */
  pick: number;
}

export const ruleArb = (algorithm: Algorithm) =>
  fc
    .record({
      limit: fc.integer({ min: 1, max: algorithm === 'sliding-log' ? 12 : 20 }),
      window: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.constantFrom(7, 100, 997, 1000, 60_000)),
      burst: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
    })
    .map(({ limit, window, burst }) =>
      resolveRule({
        limit,
        window,
        algorithm,
        ...(burst !== undefined && ALGORITHM_DESCRIPTORS[algorithm].takesBurst ? { burst } : {}),
      }),
    );

export const stepsArb = (rule: ResolvedRule) => {
  const W = rule.windowMs;
  const cap = capacityOf(rule);
  return fc.array(
    fc.record({
      dt: fc.oneof(
        { weight: 4, arbitrary: fc.constant(0) },
        { weight: 3, arbitrary: fc.integer({ min: 1, max: Math.max(1, Math.ceil(W / rule.limit)) }) },
        { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 * W }) },
      ),
      kind: fc.constantFrom<Step['kind']>('consume', 'consume', 'consume', 'peek', 'refund'),
      cost: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: cap + 1 }) }),
      pick: fc.nat(),
    }),
    { maxLength: 60 },
  );
};

/** Runs `steps` through the implementation (both modes) and the model; returns the first mismatch. */
export function compare(rule: ResolvedRule, start: number, steps: readonly Step[]): string | undefined {
  const model = MODELS[rule.algorithm](rule);
  const drivers = [new Driver(rule, 'store'), new Driver(rule, 'pure')];
  const charges: number[] = [];
  let t = start;
  for (const [i, step] of steps.entries()) {
    t += step.dt;
    if (step.kind === 'refund') {
      const at = step.pick % (charges.length + 1) === charges.length ? t : (charges[step.pick % (charges.length + 1)] as number);
      model.refund(t, step.cost, at);
      for (const d of drivers) d.refund(t, step.cost, at);
      continue;
    }
    const commit = step.kind === 'consume';
    const cost = commit ? step.cost : 1;
    const expected = modelDecide(model, rule, t, cost, commit);
    if (commit && expected.allowed) charges.push(t);
    for (const d of drivers) {
      const actual = commit ? d.consume(t, cost) : d.peek(t);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        return `step ${i} (${step.kind} cost ${cost} at start+${t - start}, ${d.mode} mode): expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
      }
    }
  }
  return undefined;
}
