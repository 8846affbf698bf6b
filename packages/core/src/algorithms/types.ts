import type { ResolvedRule } from '../rules';
import type { Algorithm } from './index';

/** What one rule says about one request. Filled in place to keep the hot path allocation-free. */
export interface Outcome {
  allowed: boolean;
  /** Units left after this request (allowed) or now (denied); never negative. */
  remaining: number;
  /** Milliseconds until the rule's quota is fully restored (fixed/sliding window: until the window ends). */
  resetMs: number;
  /** 0 when allowed; otherwise milliseconds until the same request would pass; `Infinity` if never. */
  retryAfterMs: number;
}

/** Fields every per-key state has: `blk` is the `blockFor` deadline (epoch ms, 0 = none). */
export interface BaseState {
  blk: number;
}

/**
 * One algorithm as pure functions over a small mutable state record. No I/O, no clock: `now` is
 * integer epoch milliseconds. Each algorithm has a Lua twin in `stores/redis/scripts/` that must
 * compute exactly the same numbers (parity is tested).
 */
export interface AlgorithmFunctions<S extends BaseState = BaseState> {
  /** A state equivalent to "no requests seen". */
  create(now: number, rule: ResolvedRule): S;
  /**
   * Decides a request of `cost` units as if it were to be consumed. May normalise `s` (roll a
   * window, refill a bucket, drop expired log entries): that never changes what `s` means.
   */
  evaluate(s: S, now: number, rule: ResolvedRule, cost: number, out: Outcome): void;
  /** Consumes `cost`; called right after `evaluate` allowed it, with the same `now`. */
  commit(s: S, now: number, rule: ResolvedRule, cost: number): void;
  /** Gives back `cost` charged at `chargedAt`, never below empty and never to a later window. */
  refund(s: S, now: number, rule: ResolvedRule, cost: number, chargedAt: number): void;
  /** From this epoch ms on, `s` (ignoring `blk`) equals an empty state and may be dropped. */
  expiresAt(s: S, rule: ResolvedRule): number;
}

/** The pure functions of one algorithm, with its name (what the stores call). */
export interface AlgorithmImpl<S extends BaseState = BaseState, N extends string = Algorithm> extends AlgorithmFunctions<S> {
  readonly name: N;
}

/**
 * Everything the rest of the library knows about one algorithm: each `algorithms/<name>.ts` exports
 * one, and `algorithms/index.ts` lists them.
 */
export interface AlgorithmDescriptor<N extends string = Algorithm, S extends BaseState = BaseState> {
  /** The value of a rule's `algorithm` option. */
  readonly name: N;
  /**
   * Start of the rule ids derived for unnamed rules (`sw-100-60000`), which are part of every storage
   * key: changing one orphans the state stored under the old keys. Unique among the algorithms; the
   * Lua twin's functions are named with it too (`sw_evaluate`).
   */
  readonly idPrefix: string;
  /** Whether a rule may set `burst` (the bucket capacity); other algorithms reject it. */
  readonly takesBurst: boolean;
  /** The most cost one request can ever be granted under `rule`. */
  capacity(rule: ResolvedRule): number;
  /** The pure implementation, as the memory store runs it. */
  readonly impl: AlgorithmImpl<S, N>;
}

/** Declares an algorithm: `impl` gets the descriptor's name, so the name is written once. */
export function defineAlgorithm<N extends string, S extends BaseState>(
  descriptor: Omit<AlgorithmDescriptor<N, S>, 'impl'> & { readonly impl: AlgorithmFunctions<S> },
): AlgorithmDescriptor<N, S> {
  const { name, impl } = descriptor;
  return Object.freeze({
    name,
    idPrefix: descriptor.idPrefix,
    takesBurst: descriptor.takesBurst,
    capacity: descriptor.capacity,
    // A literal with the same keys in the same order for every algorithm: the memory store's calls
    // through `impl` see one object shape.
    impl: { name, create: impl.create, evaluate: impl.evaluate, commit: impl.commit, refund: impl.refund, expiresAt: impl.expiresAt },
  });
}

/**
 * Start of the epoch-aligned window containing `t`. `floor(t / w) * w` instead of `t % w`: `%` on
 * non-Smi numbers is a slow fmod call, and for integer epoch ms the quotient cannot round across
 * an integer, so the result is exact (the Lua twins compute the same expression).
 */
export function windowStart(t: number, windowMs: number): number {
  return Math.floor(t / windowMs) * windowMs;
}
