import { StoreError } from '../../../errors/store-error';
import { capacityOf, type ResolvedRule } from '../../../rules';
import { markAnswered, type StoreHealth } from '../../health';
import type { BoundStore, RawResult } from '../../types';
import { autoSize, type Lease, leaseFrom, leaseResult, refundInto, spend, usableUnits } from './lease';
import type { LeaseRemote } from './lease-remote';
import type { LeaseReply } from './lease-script';
import type { ResolvedLease } from './options';

/** `'auto'`: a lease covers about this much of a key's local traffic. */
const TARGET_MS = 100;
/** `'auto'`: the most units one lease takes (and at most a tenth of the smallest capacity). */
const AUTO_MAX = 1000;
/** `'auto'`: the rate is measured over at least this long. */
const RATE_SPAN_MS = 5;
/**
 * Server clock: Redis time at local time l is at most `t0 + 1 + (l − l0) × DRIFT` (the grant ran
 * after it was sent; TIME is floored to the ms; clocks drift by less than 500 ppm). Leases are
 * checked against that bound, so a unit is never spent after it expired on Redis's clock.
 */
const DRIFT = 1.0005;

/** A denial a refill answered: its waiters with at least that cost are denied too. */
interface Denial {
  readonly cost: number;
  readonly raw: RawResult;
}

/** One key of this process. */
interface Entry {
  lease: Lease | undefined;
  /** The refill in flight: requests on the key wait for it (one refill at a time per key). */
  refill: Promise<Denial | undefined> | undefined;
  /** Local time of the last request. */
  used: number;
  /** Units asked since `mark` (local time), and the rate last measured (units per ms). */
  hits: number;
  mark: number;
  rate: number;
}

/** What a leased store needs besides its plain store and remote. @internal */
export interface LeasedStoreSettings {
  readonly rules: readonly ResolvedRule[];
  readonly lease: ResolvedLease;
  /** The limiter's `now` is Redis's time (`clock: 'client'`); else the local monotonic clock is used. */
  readonly clientClock: boolean;
  /** How long `close()` waits for Redis to take the units back. */
  readonly timeoutMs: number;
  readonly report: ((error: StoreError) => void) | undefined;
  /** The connection's health: while it is down, only the limiter's probe reaches the store. */
  readonly health: StoreHealth | undefined;
}

/**
 * Lease mode of a `RedisStore` (docs/redis.md, "Lease mode"): a request spends a unit of the
 * process's lease for its key when it has one, synchronously and without a round trip; otherwise
 * one script gives the old lease's unspent units back and takes a new lease (`size` units, at
 * least the request's cost) atomically, or denies without taking anything. Everything else (peek,
 * refunds beyond the lease, reset, and `'auto'` keys whose size is 1) goes to the plain store.
 * @internal
 */
export class LeasedStore implements BoundStore {
  readonly #plain: BoundStore;
  readonly #remote: LeaseRemote;
  readonly #rules: readonly ResolvedRule[];
  readonly #fixed: number | undefined;
  readonly #autoMax: number;
  readonly #ttlMs: number;
  readonly #maxKeys: number;
  readonly #clientClock: boolean;
  readonly #timeoutMs: number;
  readonly #report: ((error: StoreError) => void) | undefined;
  readonly #health: StoreHealth | undefined;
  readonly #entries = new Map<string, Entry>();
  /** Gives in flight, awaited by `close()`. */
  readonly #giving = new Set<Promise<void>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #swept = Number.NEGATIVE_INFINITY;
  /** The latest local time seen (client clock: the limiter's latest `now`). */
  #last = 0;
  #closed = false;

  constructor(plain: BoundStore, remote: LeaseRemote, settings: LeasedStoreSettings) {
    this.#plain = plain;
    this.#remote = remote;
    this.#rules = settings.rules;
    const size = settings.lease.size;
    this.#fixed = size === 'auto' ? undefined : size;
    const capacity = Math.min(...settings.rules.map(capacityOf));
    this.#autoMax = Math.max(1, Math.min(AUTO_MAX, Math.floor(capacity / 10)));
    this.#ttlMs = settings.lease.ttlMs;
    this.#maxKeys = settings.lease.maxKeys;
    this.#clientClock = settings.clientClock;
    this.#timeoutMs = settings.timeoutMs;
    this.#report = settings.report;
    this.#health = settings.health;
  }

  /** Keys this process tracks (for tests). @internal */
  get trackedKeys(): number {
    return this.#entries.size;
  }

  /** Units this process holds for `key`, usable now (for tests and docs). @internal */
  held(key: string, now: number): number {
    const lease = this.#entries.get(key)?.lease;
    if (lease === undefined) return 0;
    return usableUnits(lease, this.#server(lease, this.#local(now)));
  }

  consume(key: string, cost: number, now: number): RawResult | Promise<RawResult> {
    if (this.#closed) return this.#plain.consume(key, cost, now);
    const l = this.#local(now);
    this.#last = l;
    if (l - this.#swept >= this.#ttlMs) this.#sweep(l);
    let e = this.#entries.get(key);
    if (e === undefined) e = this.#add(key, l);
    e.used = l;
    e.hits += cost;
    const lease = e.lease;
    // While the connection is down the limiter sends only its probe here: that must reach Redis
    // (a refill), not be answered by the lease, or a local answer would count as Redis recovering.
    if (lease !== undefined && this.#health?.down !== true) {
      const s = this.#server(lease, l);
      if (spend(lease, cost, s)) return leaseResult(lease, this.#clientClock ? now : Math.floor(s));
    }
    if (e.refill !== undefined) return this.#wait(e, key, cost, now);
    const size = this.#size(e, l);
    // Cold keys ('auto' size 1) are decided by the plain script, exactly as without leases.
    if (size <= 1 && e.lease === undefined) return this.#plain.consume(key, cost, now);
    return this.#refill(e, key, cost, now, l, Math.max(size, cost));
  }

  peek(key: string, now: number): RawResult | Promise<RawResult> {
    return this.#plain.peek(key, now);
  }

  refund(key: string, cost: number, now: number, chargedAt: number): void | Promise<void> {
    const lease = this.#entries.get(key)?.lease;
    let left = cost;
    // Units charged from the live lease go back to it (it is where they came from); the rest to Redis.
    if (lease !== undefined && chargedAt >= lease.t0) left -= refundInto(lease, cost, this.#server(lease, this.#local(now)));
    if (left === 0) return;
    return this.#plain.refund(key, left, now, chargedAt);
  }

  reset(key: string | undefined): void | Promise<void> {
    // The reset state has no charge to give back to; other processes' leases stay theirs.
    if (key === undefined) this.#entries.clear();
    else this.#entries.delete(key);
    return this.#plain.reset(key);
  }

  /**
   * Gives every unspent unit back to Redis and stops leasing (later calls are plain); waits at
   * most the store's `timeoutMs` for Redis.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const refills = [...this.#entries.values()].flatMap((e) => (e.refill ? [e.refill.catch(() => undefined)] : []));
    const done = Promise.all(refills).then(() => {
      const l = this.#clientClock ? this.#last : performance.now();
      for (const [key, e] of this.#entries) {
        if (e.lease !== undefined && usableUnits(e.lease, this.#server(e.lease, l)) > 0) this.#giveBack(key, e.lease);
        e.lease = undefined;
      }
      this.#entries.clear();
      return Promise.all(this.#giving);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#timeoutMs);
      timer.unref?.();
    });
    await Promise.race([done, late]);
    clearTimeout(timer);
  }

  #local(now: number): number {
    return this.#clientClock ? now : performance.now();
  }

  /** Latest Redis time it may be at local time `l` (client clock: exactly `l`). */
  #server(lease: Lease, l: number): number {
    return this.#clientClock ? l : lease.t0 + 1 + (l - lease.l0) * DRIFT;
  }

  #size(e: Entry, l: number): number {
    if (this.#fixed !== undefined) return this.#fixed;
    const span = l - e.mark;
    if (span >= RATE_SPAN_MS) {
      e.rate = e.hits / span;
      e.hits = 0;
      e.mark = l;
    }
    return autoSize(e.rate, TARGET_MS, this.#autoMax);
  }

  #add(key: string, l: number): Entry {
    if (this.#entries.size >= this.#maxKeys) {
      // The least recently refilled key gives its lease back (a key waiting for a refill stays).
      for (const [k, old] of this.#entries) {
        if (old.refill !== undefined) continue;
        this.#entries.delete(k);
        if (old.lease !== undefined && usableUnits(old.lease, this.#server(old.lease, l)) > 0) this.#giveBack(k, old.lease);
        break;
      }
    }
    const e: Entry = { lease: undefined, refill: undefined, used: l, hits: 0, mark: l, rate: 0 };
    this.#entries.set(key, e);
    return e;
  }

  #wait(e: Entry, key: string, cost: number, now: number): Promise<RawResult> {
    return (e.refill as Promise<Denial | undefined>).then((denial) =>
      denial !== undefined && cost >= denial.cost ? denial.raw : this.consume(key, cost, now),
    );
  }

  #refill(e: Entry, key: string, cost: number, now: number, l: number, want: number): Promise<RawResult> {
    const old = e.lease;
    e.lease = undefined;
    // The old lease's units still valid go back in the same call (nothing to give once expired).
    const give = old !== undefined && usableUnits(old, this.#server(old, l)) > 0 ? old : undefined;
    const result = this.#remote.lease(key, now, want, cost, give).then(
      (reply) => {
        e.refill = undefined;
        if (reply === undefined) {
          throw markAnswered(
            new StoreError('consume', 'Redis ran this lease after the limiter had answered it by policy: nothing was charged', {
              timedOut: true,
            }),
          );
        }
        if (reply.repaired > 0) this.#repaired(reply.repaired);
        if (reply.granted === 0) return { raw: denialOf(reply), denial: { cost, raw: denialOf(reply) } };
        const lease = leaseFrom(this.#rules, reply, cost, l);
        if (this.#closed || this.#entries.get(key) !== e) this.#giveBack(key, lease);
        else {
          e.lease = lease;
          // Most recently refilled last: the first to give back when the map is full.
          this.#entries.delete(key);
          this.#entries.set(key, e);
          this.#arm();
        }
        return { raw: leaseResult(lease, reply.at), denial: undefined };
      },
      (error: unknown) => {
        e.refill = undefined;
        throw error;
      },
    );
    const refill = result.then((r) => r.denial);
    refill.catch(() => {});
    e.refill = refill;
    return result.then((r) => r.raw);
  }

  #giveBack(key: string, lease: Lease): void {
    const p = this.#remote.give(key, this.#last, lease).then(
      (repaired) => {
        if (repaired > 0) this.#repaired(repaired);
      },
      (error: unknown) => {
        // Not given back: the units stay charged until their window or slots pass (never over-admits).
        this.#report?.(
          new StoreError('refund', `Lease mode could not give ${lease.n - lease.spent} unspent unit(s) back to Redis`, { cause: error }),
        );
      },
    );
    this.#giving.add(p);
    void p.then(() => this.#giving.delete(p));
  }

  /** Gives back leases idle for `ttl`, drops dead ones and keys idle that long. */
  #sweep(l: number): void {
    this.#swept = l;
    for (const [key, e] of this.#entries) {
      if (e.refill !== undefined) continue;
      const idle = l - e.used >= this.#ttlMs;
      const lease = e.lease;
      if (lease !== undefined && (idle || usableUnits(lease, this.#server(lease, l)) <= 0)) {
        e.lease = undefined;
        if (usableUnits(lease, this.#server(lease, l)) > 0) this.#giveBack(key, lease);
      }
      if (idle && e.lease === undefined) this.#entries.delete(key);
    }
    if (this.#entries.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Sweeps every `ttl` while leases exist, also when no request comes (an unref'd timer). */
  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#sweep(this.#clientClock ? this.#last : performance.now()), this.#ttlMs);
    this.#timer.unref?.();
  }

  #repaired(count: number): void {
    this.#report?.(
      new StoreError(
        'consume',
        `Redis held ${count} foreign or corrupt value(s) under this limiter's keys (wrong type or not a number): treated as empty and overwritten`,
      ),
    );
  }
}

/** The raw result of a denied refill: every rule's own answer. */
function denialOf(reply: LeaseReply): RawResult {
  const raw = [reply.at];
  for (const r of reply.rules) raw.push(r.allowed, r.remaining, r.resetMs, r.retryAfterMs);
  return raw;
}
