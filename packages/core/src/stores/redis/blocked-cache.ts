import type { RawResult } from '../types';

interface Entry {
  /** Local clock time until which requests of at least `cost` are denied. */
  until: number;
  cost: number;
  /** Local clock time the denial was measured from, and the raw result then. */
  since: number;
  raw: number[];
}

/**
 * Keys known to be denied until some time, answered without a round trip. Only denials are cached,
 * and only until the earliest time the same request could pass absent other traffic, so a cached
 * answer can be wrong in one direction only: it may deny a request another process's refund or
 * reset would have let through. Bounded: the oldest entry goes first when full.
 * @internal
 */
export class BlockedCache {
  readonly #max: number;
  readonly #map = new Map<string, Entry>();

  constructor(maxKeys: number) {
    this.#max = maxKeys;
  }

  /** A cached denial for `key` and `cost` at local time `t`, or undefined. */
  get(key: string, cost: number, t: number, at: (entryAt: number, elapsed: number) => number): RawResult | undefined {
    const e = this.#map.get(key);
    if (e === undefined) return undefined;
    if (t >= e.until) {
      this.#map.delete(key);
      return undefined;
    }
    if (cost < e.cost) return undefined;
    const elapsed = t - e.since;
    const raw = e.raw.slice();
    raw[0] = at(raw[0] as number, elapsed);
    for (let j = 1; j < raw.length; j += 4) {
      raw[j + 2] = Math.max(0, (raw[j + 2] as number) - elapsed);
      const retry = raw[j + 3] as number;
      if (retry > 0) raw[j + 3] = Math.max(1, retry - elapsed);
    }
    return raw;
  }

  /** Remembers `raw` (a denial measured at local time `t` for `cost`) when it is cacheable. */
  remember(key: string, cost: number, t: number, raw: ArrayLike<number>): void {
    let wait = 0;
    for (let j = 1; j < raw.length; j += 4) {
      if (raw[j] === 1) continue;
      const retry = raw[j + 3] as number;
      // Never: `Infinity` for this cost only; smaller costs may pass, so do not cache.
      if (retry < 0 || !Number.isFinite(retry)) return;
      if (retry > wait) wait = retry;
    }
    if (wait <= 0) return;
    if (this.#map.size >= this.#max && !this.#map.has(key)) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
    this.#map.set(key, { until: t + wait, cost, since: t, raw: Array.from(raw) });
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
