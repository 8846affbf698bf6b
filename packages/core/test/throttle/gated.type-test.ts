// Type test, checked by `npx tsc -p tsconfig.json --noEmit` (not run by jest): what allOf returns
// follows its members. Each `@ts-expect-error` fails the check if the line below it compiles.
import {
  allOf,
  type CompositeLimiter,
  type ConcurrencyLimiter,
  createConcurrencyLimiter,
  createLimiter,
  type GatedLimiter,
  type Limiter,
} from '@ratekeeper/core';

const rate = createLimiter({ limit: 5, window: '1s' });
const slots = createConcurrencyLimiter({ max: 2 });

// Rate limiters only: a composite limiter.
export const composite: CompositeLimiter = allOf(rate, createLimiter({ limit: 100, window: '1m' }));
// @ts-expect-error a composite of rate limiters has no slots to release
composite.run('k', () => 1);

// A concurrency limiter among the members: gated, in any position.
export const gated: GatedLimiter = allOf(rate, slots);
export const gatedFirst: GatedLimiter = allOf(slots, rate, rate);
gated.run('k', () => 1);
// @ts-expect-error a gated limiter is not a Limiter (it holds slots until release)
const notLimiter: Limiter = gated;
void notLimiter;

// An array whose contents the compiler cannot see: either, so `.run` needs a check.
declare const members: (Limiter | ConcurrencyLimiter)[];
const either = allOf(...members);
// @ts-expect-error it may be a composite
either.run('k', () => 1);
if ('concurrency' in either) either.run('k', () => 1);
