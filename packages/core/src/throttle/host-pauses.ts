import { MinHeap } from '../acquire/min-heap';

interface Expiry {
  readonly host: string;
  readonly until: number;
}

/**
 * @internal The pauses servers asked for, per host: host → end of the pause. An elapsed pause is dropped
 * at the next call of any method, not only when its own host is asked again, so a crawler that met
 * 429s from a million hosts does not keep a million entries. Each call checks the soonest end first
 * (a heap), so pruning costs O(log n) per pause ever set and nothing while none has elapsed.
 */
export class HostPauses {
  readonly #until = new Map<string, number>();
  // One entry per `extend`; an entry superseded by a longer pause of its host is skipped when it surfaces.
  readonly #expiries = new MinHeap<Expiry>((e) => e.until);

  /** Hosts currently paused (after the last prune). */
  get size(): number {
    return this.#until.size;
  }

  /** Heap entries, superseded ones included; at most twice the hosts, plus 16. */
  get entries(): number {
    return this.#expiries.size;
  }

  /** Pauses `host` until `until`; never shortens an existing pause. */
  extend(host: string, until: number, now: number): void {
    this.prune(now);
    if (until <= now || (this.#until.get(host) ?? Number.NEGATIVE_INFINITY) >= until) return;
    this.#until.set(host, until);
    this.#expiries.push({ host, until });
    // Repeated 429s from one host each leave an entry: drop the superseded ones before they pile up.
    if (this.#expiries.size > 2 * this.#until.size + 16) this.#expiries.retain((e) => this.#until.get(e.host) === e.until);
  }

  /** Milliseconds until `host` may be asked again; `undefined` when it is not paused. */
  remainingMs(host: string, now: number): number | undefined {
    this.prune(now);
    const until = this.#until.get(host);
    return until === undefined ? undefined : until - now;
  }

  /** Forgets every pause that has ended by `now`. */
  prune(now: number): void {
    for (let top = this.#expiries.peek(); top !== undefined && top.until <= now; top = this.#expiries.peek()) {
      this.#expiries.pop();
      if (this.#until.get(top.host) === top.until) this.#until.delete(top.host);
    }
  }
}
