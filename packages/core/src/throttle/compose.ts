import { type Acquired, type AcquireOptions, acquire } from '../acquire/acquire';
import type { ConcurrencyLimiter } from '../concurrency/concurrency-limiter';
import { bindingOf, combineDecisions, type Decision, reviseDecision } from '../decision';
import { ConfigError } from '../errors/config-error';
import type { ConsumeOptions, Limiter, RefundOptions } from '../limiter';
import type { ResolvedRule } from '../rules';
import { createGated, type GatedLimiter, isConcurrencyLimiter } from './gated';

/** A decision of {@link allOf} / {@link anyOf}: the binding member's numbers, plus what each member said. */
export interface CompositeDecision extends Decision {
  /**
   * Each member's decision, in member order; `undefined` for members that were not asked (`anyOf` stops
   * at the first that allows). Members that allowed a refused `allOf` request have been refunded.
   */
  readonly members: readonly (Decision | undefined)[];
}

/** Options of a composite's `refund`. */
export interface CompositeRefundOptions extends RefundOptions {
  /** A decision this composite granted: the units go back to exactly the members that took them, each at its own `at`. */
  decision?: Decision;
}

/** A limiter made of limiters; usable wherever a {@link Limiter} is. */
export interface CompositeLimiter extends Limiter {
  /** The members, in order. */
  readonly limiters: readonly Limiter[];
  consume(key: string, options?: ConsumeOptions): Promise<CompositeDecision>;
  peek(key: string): Promise<CompositeDecision>;
  /**
   * Gives units back. With `{ decision }` (or via `acquire(...).refund()`) exactly the members that
   * took them are refunded. Without it, `allOf` refunds every member and `anyOf` rejects with
   * `ConfigError`, since it cannot know which member granted the request.
   */
  refund(key: string, cost?: number, options?: CompositeRefundOptions): Promise<void>;
}

/**
 * A limiter that allows a request only when every member allows it, and then takes `cost` from all of
 * them: all or none. Members are asked in parallel; when one refuses, the units the others granted are
 * refunded (in the window they were charged in). Members may live in different stores, so this is not
 * atomic but compensating: for a moment the refunded units look used to other callers. Nothing is lost.
 * @example
 * const api = allOf(createLimiter({ limit: 10, window: '1s' }), createLimiter({ limit: 5000, window: '1h', store }));
 * await api.acquire('github');
 */
export function allOf(...limiters: Limiter[]): CompositeLimiter;
/**
 * With concurrency limiters among the members: a call takes a slot of each (in order), then its turn of
 * the rate members, and holds the slots until `release()` — Bottleneck's `maxConcurrent` + `minTime`.
 * @example
 * const gateway = allOf(createLimiter({ limit: 5, window: '1s' }), createConcurrencyLimiter({ max: 2 }));
 * const answer = await gateway.run(tenant, () => callModel(prompt));
 */
export function allOf<const M extends readonly (Limiter | ConcurrencyLimiter)[]>(...members: M): AllOf<M>;
export function allOf(...members: (Limiter | ConcurrencyLimiter)[]): CompositeLimiter | GatedLimiter {
  if (!members.some(isConcurrencyLimiter)) return new Composite('allOf', members as Limiter[]);
  members.forEach((m, i) => {
    if (!isConcurrencyLimiter(m) && !isLimiter(m))
      throw new ConfigError(`allOf(...limiters)[${i}]`, 'a limiter (createLimiter, allOf, anyOf or createConcurrencyLimiter)', m);
  });
  const rates = members.filter((m): m is Limiter => !isConcurrencyLimiter(m));
  const slots = members.filter(isConcurrencyLimiter);
  if (rates.length === 0)
    throw new ConfigError(
      'allOf(...limiters)',
      'at least one rate limiter beside the concurrency limiters (or use the concurrency limiter alone)',
      'none',
    );
  return createGated(rates.length === 1 ? (rates[0] as Limiter) : new Composite('allOf', rates), slots);
}

/**
 * What `allOf(...members)` returns: a `GatedLimiter` when a member is a concurrency limiter, else a
 * `CompositeLimiter`; either, for an array whose contents the compiler cannot see.
 */
export type AllOf<M extends readonly unknown[]> = number extends M['length']
  ? [Extract<M[number], ConcurrencyLimiter>] extends [never]
    ? CompositeLimiter
    : CompositeLimiter | GatedLimiter
  : [Extract<M[number], ConcurrencyLimiter>] extends [never]
    ? CompositeLimiter
    : GatedLimiter;

/**
 * A limiter that allows a request when any one member allows it; members are tried in order and only the
 * first that allows is charged. When all refuse, the wait is the shortest of theirs.
 * @example
 * const pool = anyOf(createLimiter({ limit: 100, window: '1m', name: 'key-a' }), createLimiter({ limit: 100, window: '1m', name: 'key-b' }));
 */
export function anyOf(...limiters: Limiter[]): CompositeLimiter {
  return new Composite('anyOf', limiters);
}

class Composite implements CompositeLimiter {
  readonly limiters: readonly Limiter[];
  readonly rules: readonly ResolvedRule[];
  readonly now: () => number;
  readonly #mode: 'allOf' | 'anyOf';

  constructor(mode: 'allOf' | 'anyOf', limiters: Limiter[]) {
    if (limiters.length === 0) throw new ConfigError(`${mode}(...limiters)`, 'at least one limiter', 'none');
    limiters.forEach((l, i) => {
      if (!isLimiter(l)) throw new ConfigError(`${mode}(...limiters)[${i}]`, 'a limiter (createLimiter, allOf or anyOf)', l);
    });
    this.#mode = mode;
    this.limiters = Object.freeze([...limiters]);
    this.rules = Object.freeze(limiters.flatMap((l) => l.rules));
    const first = limiters[0] as Limiter;
    this.now = first.now;
  }

  consume(key: string, options?: ConsumeOptions): Promise<CompositeDecision> {
    return this.#mode === 'allOf' ? this.#consumeAll(key, options) : this.#consumeAny(key, options);
  }

  async #consumeAll(key: string, options: ConsumeOptions | undefined): Promise<CompositeDecision> {
    const cost = options?.cost ?? 1;
    const settled = await Promise.allSettled(this.limiters.map((l) => l.consume(key, options)));
    const members = settled.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const allowed = !failed && members.every((d) => d?.allowed === true);
    if (!allowed) {
      // Compensate: whatever a member granted to a request that does not go is handed back.
      await Promise.all(
        this.limiters.map((l, i) => {
          const d = members[i];
          return d?.allowed ? l.refund(key, cost, refundOptions(d)) : undefined;
        }),
      );
      if (failed) throw failed.reason;
    }
    return this.#combine(members as Decision[], allowed);
  }

  async #consumeAny(key: string, options: ConsumeOptions | undefined): Promise<CompositeDecision> {
    const members: (Decision | undefined)[] = this.limiters.map(() => undefined);
    for (const [i, l] of this.limiters.entries()) {
      const d = await l.consume(key, options);
      members[i] = d;
      if (d.allowed) return this.#combine(members, true);
    }
    return this.#combine(members, false);
  }

  /** Composites ask their members in turn or in parallel, so they always answer asynchronously. */
  consumeSync(): never {
    throw new ConfigError('consumeSync', `not used on ${this.#mode}(...) (a composite answers asynchronously); use consume()`, 'called');
  }

  async peek(key: string): Promise<CompositeDecision> {
    const members = await Promise.all(this.limiters.map((l) => l.peek(key)));
    const allowed = this.#mode === 'allOf' ? members.every((d) => d.allowed) : members.some((d) => d.allowed);
    return this.#combine(members, allowed);
  }

  refund(key: string, cost = 1, options?: CompositeRefundOptions): Promise<void> {
    const decision = options?.decision;
    const members = decision?.allowed ? (decision as Partial<CompositeDecision>).members : undefined;
    // A granted composite decision (or the Acquired copy of one) says which members took the units.
    if (Array.isArray(members) && members.length === this.limiters.length) {
      return Promise.all(
        this.limiters.map((l, i) => {
          const d = members[i] as Decision | undefined;
          return d?.allowed ? l.refund(key, cost, refundOptions(d)) : undefined;
        }),
      ).then(() => undefined);
    }
    if (this.#mode === 'anyOf') {
      return Promise.reject(
        new ConfigError('decision', 'a decision granted by this anyOf (it alone tells which member to refund)', decision),
      );
    }
    const at = options?.at;
    return Promise.all(this.limiters.map((l) => l.refund(key, cost, at === undefined ? undefined : { at }))).then(() => undefined);
  }

  reset(key?: string): Promise<void> {
    return Promise.all(this.limiters.map((l) => l.reset(key))).then(() => undefined);
  }

  acquire(key: string, options?: AcquireOptions): Promise<Acquired> {
    return acquire(this, key, options);
  }

  #combine(members: readonly (Decision | undefined)[], allowed: boolean): CompositeDecision {
    const asked = members.filter((d): d is Decision => d !== undefined);
    // allOf binds like the rules of one limiter (all must pass). anyOf: the member that granted, or
    // when all refused, the shortest wait (the earliest any one can pass).
    const bind = this.#mode === 'allOf' ? bindingOf(asked, allowed) : anyBinding(asked, allowed);
    const rules = asked.flatMap((d) => d.rules);
    return reviseDecision(combineDecisions(allowed, bind, rules), { members });
  }
}

function isLimiter(l: unknown): l is Limiter {
  return typeof l === 'object' && l !== null && typeof (l as Limiter).consume === 'function' && typeof (l as Limiter).refund === 'function';
}

function anyBinding(asked: readonly Decision[], allowed: boolean): Decision {
  let bind = asked[0] as Decision;
  for (const d of asked) if (allowed ? d.allowed && !bind.allowed : d.retryAfterMs < bind.retryAfterMs) bind = d;
  return bind;
}

function refundOptions(d: Decision): CompositeRefundOptions {
  return { at: d.at, decision: d };
}
