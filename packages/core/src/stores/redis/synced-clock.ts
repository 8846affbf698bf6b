import type { Connection, ServerNode } from './connection';

/** How often the offset is measured again while the store is in use. */
export const SYNC_EVERY_MS = 5_000;
/** An offset older than this (three missed syncs) is not used: drift is no longer bounded tightly. */
export const STALE_AFTER_MS = 15_000;
/**
 * A sample whose round trip took longer is discarded (its error could reach half of it); the
 * previous offset stays in use until it is stale.
 */
export const MAX_SAMPLE_RTT_MS = 100;
/** One clock per connection, shared by every store on it (one sync and one listener pair each). */
const shared = new WeakMap<object, SyncedClock>();

/** The latest accepted sample, for diagnostics and tests. @internal */
export interface ClockSample {
  /** serverTime − local epoch time (fractional ms). */
  readonly offsetMs: number;
  /** Round trip of the `TIME` command that produced it (ms). */
  readonly rttMs: number;
  /** Local monotonic time (`performance.now()` scale) when the reply arrived. */
  readonly at: number;
}

/**
 * Redis server time estimated locally: `TIME` is read once (its round trip measured) and then
 * every {@link SYNC_EVERY_MS} in the background, and `now()` returns local monotonic time plus the
 * measured offset. Error ≤ rtt/2 of the sample in use + 1 ms (integer rounding) + drift of the
 * local monotonic clock against Redis's clock since that sample. `now()` is undefined before the
 * first sample, after a failed sync, after a reconnect until the next sample, and when the sample
 * is older than {@link STALE_AFTER_MS}: the caller then lets the script read `TIME` itself.
 * @internal
 */
export class SyncedClock {
  readonly #client: Connection;
  readonly #monotonic: () => number;
  readonly #origin: number;
  #sample: ClockSample | undefined;
  #pending: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #users = 0;
  readonly #onReady = (): void => {
    // A reconnect may reach another server (failover, restart elsewhere): measure again first.
    this.#sample = undefined;
    if (this.#timer !== undefined) void this.sync();
  };
  readonly #onEnd = (): void => {
    this.#sample = undefined;
    this.#stopTimer();
  };

  constructor(client: Connection, monotonic: () => number = () => performance.now(), origin = performance.timeOrigin) {
    this.#client = client;
    this.#monotonic = monotonic;
    this.#origin = origin;
    client.on('ready', this.#onReady);
    client.on('end', this.#onEnd);
  }

  /** The clock shared by every store on `client`; each caller must `release()` it once. */
  static acquire(client: Connection): SyncedClock {
    let clock = shared.get(client.client);
    if (clock === undefined || clock.#closed) {
      clock = new SyncedClock(client);
      shared.set(client.client, clock);
    }
    clock.#users++;
    return clock;
  }

  /** Drops one user of a shared clock; the last one closes it. */
  release(): void {
    if (--this.#users > 0) return;
    if (shared.get(this.#client.client) === this) shared.delete(this.#client.client);
    this.close();
  }

  /** Estimated Redis time in integer epoch ms, or undefined when no fresh sample exists (starts a sync). */
  now(): number | undefined {
    if (this.#timer === undefined && !this.#closed && this.#client.status() !== 'end') this.#startTimer();
    const s = this.#sample;
    if (s !== undefined) {
      const t = this.#monotonic();
      if (t - s.at <= STALE_AFTER_MS) return Math.floor(this.#origin + t + s.offsetMs);
    }
    void this.sync();
    return undefined;
  }

  /**
   * The latest Redis time that is surely before `ms` from now: the estimate minus its error bound
   * (half the sample's round trip, 1 ms of rounding, and 500 ppm drift since the sample). Undefined
   * without a fresh sample, or when the error would eat the whole interval.
   */
  deadline(ms: number): number | undefined {
    const now = this.now();
    const s = this.#sample;
    if (now === undefined || s === undefined) return undefined;
    const error = Math.ceil(s.rttMs / 2 + 1 + (this.#monotonic() - s.at) * 0.0005);
    return error < ms ? now + ms - error : undefined;
  }

  /** The sample in use (undefined before the first one or after it was invalidated). */
  get sample(): ClockSample | undefined {
    return this.#sample;
  }

  /** True while the background re-sync timer runs (from first use until `close()` or the client ends). */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Measures the offset once (joins the measurement in flight; does nothing when the connection
   * is not ready: nothing is queued). Resolves when the measurement is done; never rejects.
   */
  sync(): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    if (this.#closed) return Promise.resolve();
    const node = this.#node();
    if (node === undefined || !node.ready()) {
      this.#sample = undefined;
      // A Cluster connects to a node lazily, on its first command: connect without queueing TIME
      // (it would measure the connection set-up); a later call measures once it is ready.
      node?.connect();
      return Promise.resolve();
    }
    const t0 = this.#monotonic();
    this.#pending = node.command(['TIME']).then(
      (r) => {
        const reply = r as [string, string];
        this.#pending = undefined;
        const t1 = this.#monotonic();
        const rtt = t1 - t0;
        if (rtt > MAX_SAMPLE_RTT_MS) return;
        const server = Number(reply[0]) * 1000 + Number(reply[1]) / 1000;
        // The server read its clock somewhere between t0 and t1: the midpoint errs by ≤ rtt/2.
        this.#sample = { offsetMs: server - (this.#origin + (t0 + t1) / 2), rttMs: rtt, at: t1 };
      },
      () => {
        this.#pending = undefined;
        this.#sample = undefined;
      },
    );
    return this.#pending;
  }

  /** Stops the background sync and detaches from the client. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
    this.#client.off('ready', this.#onReady);
    this.#client.off('end', this.#onEnd);
  }

  /**
   * The connection `TIME` is read from. On a Cluster, one master (the owner of slot 0) is the time
   * base for every key: decisions of all keys and of all app servers then share one clock, as they
   * would with a single Redis, and one sync serves the whole store. Masters' own clocks still
   * expire keys, which the TTL slack covers.
   */
  #node(): ServerNode | undefined {
    return this.#client.timeNode();
  }

  #startTimer(): void {
    const timer = setInterval(() => void this.sync(), SYNC_EVERY_MS);
    // Never keeps the process alive: an app that closed everything else exits.
    timer.unref?.();
    this.#timer = timer;
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
