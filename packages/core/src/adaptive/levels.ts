import type { ResolvedRule } from '../rules';
import { type GuardOptions, isPromise } from '../store-guard';
import type { BoundStore, RawResult } from '../stores/types';
import type { SharedLoad } from './adaptive-load';

/**
 * Every rule scaled by `factor`: `limit` and `burst` × factor, rounded down, at least 1. The `id`
 * (the storage key) and everything else stay: every level reads and writes the same state, so a
 * key's used units carry over when the factor changes. Headers and decisions then show the
 * effective limit by themselves.
 * @internal
 */
export function scaleRules(rules: readonly ResolvedRule[], factor: number): readonly ResolvedRule[] {
  if (factor === 1) return rules;
  // The epsilon keeps 180 × 0.35 (62.99999999999999) and its kin from losing a unit to rounding.
  const scale = (n: number): number => Math.max(1, Math.floor(n * factor + 1e-9));
  return Object.freeze(rules.map((r) => Object.freeze({ ...r, limit: scale(r.limit), burst: scale(r.burst) })));
}

/**
 * One limiter's rules at each level of its {@link SharedLoad}, scaled when a level is first used
 * (at most 21 levels, so the copies stay bounded).
 * @internal
 */
class RuleLevels {
  readonly #load: SharedLoad;
  readonly #byLevel: (readonly ResolvedRule[] | undefined)[];

  constructor(load: SharedLoad, rules: readonly ResolvedRule[]) {
    this.#load = load;
    this.#byLevel = new Array(load.levels.length).fill(undefined);
    this.#byLevel[load.levels.length - 1] = rules;
  }

  /** The rules of the current level. */
  get current(): readonly ResolvedRule[] {
    return this.at(this.#load.level);
  }

  at(level: number): readonly ResolvedRule[] {
    let rules = this.#byLevel[level];
    if (rules === undefined) {
      rules = scaleRules(this.#byLevel[this.#byLevel.length - 1] as readonly ResolvedRule[], this.#load.levels[level] as number);
      this.#byLevel[level] = rules;
    }
    return rules;
  }
}

/** Binds a rule set (one level's) to a store with the limiter's prefix and bind options. */
type Binder = (rules: readonly ResolvedRule[]) => BoundStore;

/**
 * A bound store that sends each call to the store bound to the current level's rules (bound when
 * the level is first used).
 *
 * A reduced limit can be below what a key has already used: the algorithms then say "denied" with
 * the right wait, but some compute `remaining` as `limit − used` < 0, which is clamped to 0 here
 * (a Decision's `remaining` is never negative).
 * @internal
 */
class LevelStore implements BoundStore {
  readonly #load: SharedLoad;
  readonly #rules: RuleLevels;
  readonly #bind: Binder;
  readonly #byLevel: (BoundStore | undefined)[];
  /** Where the remaining counts sit in a raw result: 2, 6, 10, ... */
  readonly #end: number;

  constructor(load: SharedLoad, rules: RuleLevels, full: BoundStore, bind: Binder) {
    this.#load = load;
    this.#rules = rules;
    this.#bind = bind;
    this.#byLevel = new Array(load.levels.length).fill(undefined);
    this.#byLevel[load.levels.length - 1] = full;
    this.#end = 1 + 4 * rules.at(load.levels.length - 1).length;
  }

  #current(): BoundStore {
    const level = this.#load.level;
    let bound = this.#byLevel[level];
    if (bound === undefined) {
      bound = this.#bind(this.#rules.at(level));
      this.#byLevel[level] = bound;
    }
    return bound;
  }

  consume(key: string, cost: number, now: number): RawResult | Promise<RawResult> {
    const raw = this.#current().consume(key, cost, now);
    return isPromise(raw) ? raw.then(this.#clamp) : this.#clamp(raw);
  }

  peek(key: string, now: number): RawResult | Promise<RawResult> {
    const raw = this.#current().peek(key, now);
    return isPromise(raw) ? raw.then(this.#clamp) : this.#clamp(raw);
  }

  refund(key: string, cost: number, now: number, chargedAt: number): void | Promise<void> {
    return this.#current().refund(key, cost, now, chargedAt);
  }

  /**
   * Every level stores under the same ids and prefix, so one reset clears the state; each bound
   * level is reset so that what a store remembers beside the state (RedisStore's `blockedCache`)
   * is forgotten too. Resets are rare, and a limiter binds few levels.
   */
  reset(key: string | undefined): void | Promise<void> {
    const pending: Promise<void>[] = [];
    for (const bound of this.#byLevel) {
      const r = bound?.reset(key);
      if (r !== undefined && isPromise(r)) pending.push(r);
    }
    return pending.length === 0 ? undefined : Promise.all(pending).then(() => undefined);
  }

  readonly #clamp = (raw: RawResult): RawResult => {
    for (let j = 2; j < this.#end; j += 4) {
      if ((raw[j] as number) < 0) {
        // A copy: a store may hand out a result it reuses or does not expect to be written.
        const copy = Array.from(raw);
        for (let k = j; k < this.#end; k += 4) if ((copy[k] as number) < 0) copy[k] = 0;
        return copy;
      }
    }
    return raw;
  };
}

/**
 * The bound store and guard options of a limiter whose rules follow `load`: one StoreGuard (so an
 * outage is reported once, and a recovery announced once, whatever the level) in front of stores
 * that follow the level, with `rules` read as the current level's. The guard reads `rules` right
 * after the store call, in the same tick, so a decision always pairs a level's results with that
 * level's rules. Starts the load's sampling for `limiter` (until it is collected).
 * @internal
 */
export function followLoad(
  load: SharedLoad,
  limiter: object,
  guard: GuardOptions,
  bound: BoundStore,
  bind: { readonly store: Binder; readonly fallback: Binder | undefined },
): { bound: BoundStore; guard: GuardOptions } {
  load.attach(limiter);
  const levels = new RuleLevels(load, guard.rules);
  const fallback = bind.fallback && guard.fallback && new LevelStore(load, levels, guard.fallback, bind.fallback);
  return {
    bound: new LevelStore(load, levels, bound, bind.store),
    guard: Object.defineProperty({ ...guard, fallback }, 'rules', { get: () => levels.current, enumerable: true }),
  };
}
