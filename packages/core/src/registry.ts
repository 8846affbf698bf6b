import type { Limiter } from './limiter';

// Every limiter of the process, weakly: `@ratekeeper/core/testing`'s `resetAllLimiters()` resets
// them between tests without the app having to hand them over. Dropped limiters are collected and
// pruned when the list is read.
const live = new Set<WeakRef<Limiter>>();

/** @internal Called once per limiter, when it is created. */
export function trackLimiter(limiter: Limiter): void {
  live.add(new WeakRef(limiter));
}

/** @internal The limiters still alive, oldest first. */
export function liveLimiters(): Limiter[] {
  const out: Limiter[] = [];
  for (const ref of live) {
    const limiter = ref.deref();
    if (limiter === undefined) live.delete(ref);
    else out.push(limiter);
  }
  return out;
}
