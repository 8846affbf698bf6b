import { anchoredWindow } from './anchored-window';
import { fixedWindow } from './fixed-window';
import { gcra } from './gcra';
import { slidingLog } from './sliding-log';
import { slidingWindow } from './sliding-window';
import { tokenBucket } from './token-bucket';
import type { AlgorithmDescriptor, AlgorithmImpl, BaseState } from './types';

/*
 * The algorithm registry: the one list of algorithms. Rule validation, derived rule ids, capacities,
 * the memory store, the Redis scripts and the test suites all read it.
 *
 * Adding an algorithm:
 * 1. `algorithms/<name>.ts`: its state, its pure functions and trade-offs, exported as one
 *    `defineAlgorithm({ name, idPrefix, takesBurst, capacity, impl })`; add it to the list below.
 * 2. `stores/redis/scripts/<name>.ts`: its Lua twin, functions `<idPrefix>_evaluate`, `_commit`,
 *    `_refund`; add it to `TWINS` in `stores/redis/scripts/driver.ts` (tsc fails until it is there).
 * 3. Its reference model in `test/algorithms/model.ts` `MODELS` (tsc fails until it is there), and
 *    `test/algorithms/<name>.test.ts` with its hand-checked tables. The store contract, Redis parity,
 *    model property and registry tests pick it up from this list.
 */
export const ALGORITHM_REGISTRY = [fixedWindow, slidingWindow, slidingLog, tokenBucket, gcra, anchoredWindow] as const;

/** The rate-limiting algorithms. See each file in `algorithms/` for its trade-offs. */
export type Algorithm = (typeof ALGORITHM_REGISTRY)[number]['name'];

function byName<T>(pick: (descriptor: AlgorithmDescriptor) => T): Readonly<Record<Algorithm, T>> {
  const out = {} as Record<Algorithm, T>;
  for (const d of ALGORITHM_REGISTRY) out[d.name] = pick(d);
  return Object.freeze(out);
}

/** @internal Each algorithm's descriptor, by name. */
export const ALGORITHM_DESCRIPTORS: Readonly<Record<Algorithm, AlgorithmDescriptor>> = byName((d) => d);

/** @internal The algorithm implementations by name. */
export const ALGORITHM_IMPLS: Readonly<Record<Algorithm, AlgorithmImpl<BaseState>>> = byName((d) => d.impl);
