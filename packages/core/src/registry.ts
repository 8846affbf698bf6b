import type { Limiter } from './limiter';

// Every limiter of the process, weakly: `@ratekeeper/core/testing`'s `resetAllLimiters()` resets
// them between tests without the app having to hand them over. An app that keeps creating limiters
// (a rules function with ever-new rule sets) must not grow this list: dead entries are pruned
// whenever it doubles since the last pruning, so it stays within twice the live limiters.
const live = new Set<WeakRef<Limiter>>();
let pruneAt = 64;

function prune(): void {
  for (const ref of live) if (ref.deref() === undefined) live.delete(ref);
  pruneAt = Math.max(64, 2 * live.size);
}

/** @internal Called once per limiter, when it is created. */
export function trackLimiter(limiter: Limiter): void {
  live.add(new WeakRef(limiter));
  if (live.size >= pruneAt) prune();
}

/** @internal The limiters still alive, oldest first. */
export function liveLimiters(): Limiter[] {
  prune();
  const out: Limiter[] = [];
  for (const ref of live) {
    const limiter = ref.deref();
    if (limiter !== undefined) out.push(limiter);
  }
  return out;
}

/** @public Entries held (live or not yet pruned): read by the registry test, in a child process. */
export function trackedCount(): number {
  return live.size;
}
