import type { ConcurrencySlots, SlotResult } from './types';

/**
 * Concurrency slots in this process: per key, the holders and their lease expiries. A key's entry
 * exists only while it has leases (an expired one is dropped at the key's next use), so memory
 * follows what is held, never what was seen.
 */
export class MemorySlots implements ConcurrencySlots {
  readonly #held = new Map<string, Map<string, number>>();
  readonly #prefix: string;
  readonly #max: number;
  readonly #leaseMs: number;

  constructor(prefix: string, max: number, leaseMs: number) {
    this.#prefix = prefix;
    this.#max = max;
    this.#leaseMs = leaseMs;
  }

  acquire(key: string, holder: string, now: number): SlotResult {
    const k = this.#prefix + key;
    let leases = this.#held.get(k);
    if (leases === undefined) {
      leases = new Map();
      this.#held.set(k, leases);
    } else expire(leases, now);
    if (leases.has(holder) || leases.size < this.#max) {
      leases.set(holder, now + this.#leaseMs);
      return [1, leases.size, -1];
    }
    let next = Number.POSITIVE_INFINITY;
    for (const at of leases.values()) if (at < next) next = at;
    return [0, leases.size, next - now];
  }

  release(key: string, holder: string): void {
    const k = this.#prefix + key;
    const leases = this.#held.get(k);
    if (leases === undefined) return;
    leases.delete(holder);
    if (leases.size === 0) this.#held.delete(k);
  }

  extend(key: string, holder: string, now: number): boolean {
    const leases = this.#held.get(this.#prefix + key);
    const at = leases?.get(holder);
    if (leases === undefined || at === undefined || at <= now) return false;
    leases.set(holder, now + this.#leaseMs);
    return true;
  }
}

function expire(leases: Map<string, number>, now: number): void {
  for (const [holder, at] of leases) if (at <= now) leases.delete(holder);
}
