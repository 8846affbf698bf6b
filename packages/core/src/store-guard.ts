import { type Decision, decide, policyDecision } from './decision';
import { isStoreError, StoreError } from './errors/store-error';
import type { RateLimitLogger } from './logger';
import { decisionChannel, recoverChannel, storeErrorChannel } from './observe/channels';
import type { DecisionEvent, DecisionOutcome, DecisionSource } from './observe/events';
import { type DecisionObserver, observers } from './observe/observers';
import { type DecisionTally, OUTCOME_ORDER } from './observe/tally';
import type { ResolvedRule } from './rules';
import { StoreHealth, wasAnswered } from './stores/health';
import type { BoundStore, RawResult } from './stores/types';
import { emitWarning } from './warn';

/** What the guard does when the store fails: answer by policy, or ask an insurance store. */
export interface GuardOptions {
  /** The limiter's name, for the diagnostics channels. */
  readonly name: string;
  readonly rules: readonly ResolvedRule[];
  readonly policy: 'allow' | 'deny' | 'fallback';
  readonly fallback: BoundStore | undefined;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly onError: ((error: StoreError) => void) | undefined;
  readonly onRecover: (() => void) | undefined;
  /** Where the once-per-outage warning goes without `onError` (else a process warning). */
  readonly logger: RateLimitLogger | undefined;
}

type Op = 'consume' | 'peek';

/**
 * The decisions an insurance store made, so that an observer can tell them from the primary's
 * (a policy's decisions carry their `error`). Only decisions made while the primary failed.
 */
const FROM_FALLBACK = new WeakSet<Decision>();
/** Who decided, by outcome index (OUTCOME_ORDER). */
const SOURCES: readonly DecisionSource[] = ['store', 'store', 'policy', 'policy', 'fallback'];

export function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** An observer's `wants`; a throw counts as no (an observer must never fail a decision). */
function wants(o: DecisionObserver, timed: boolean): boolean {
  try {
    return o.wants?.(timed) === true;
  } catch {
    return false;
  }
}

/** Hands `event` to an observer; a throw is dropped (an observer must never fail a decision). */
function deliver(o: DecisionObserver, event: DecisionEvent): void {
  try {
    o.decision?.(event);
  } catch {
    // Dropped, as documented on DecisionObserver.decision.
  }
}

/** True when every rule of a raw result allowed (so a consume charged every rule). */
function charged(raw: RawResult): boolean {
  for (let j = 1; j < raw.length; j += 4) if (raw[j] !== 1) return false;
  return raw.length > 1;
}

/**
 * The limiter's side of store failure: bounds every call by `timeoutMs`, answers by the
 * `onStoreError` policy (or the insurance store) while the store is down, and keeps what the
 * policy answered true afterwards.
 *
 * - While the store's shared {@link StoreHealth} is down, nothing is sent but one probe at a time,
 *   so the commands in flight to a store that does not answer stop growing at the first timeout.
 * - A consume that timed out may still run later. Redis scripts refuse to write past the call's
 *   deadline; a reply that still arrives after the request was answered by policy and says it
 *   charged is refunded at once, so a request answered by the policy is never charged.
 * @internal
 */
export class StoreGuard {
  readonly #bound: BoundStore;
  readonly #health: StoreHealth;
  readonly #o: GuardOptions;
  #seenRecoveries: number;
  /** The outage this limiter last reported: each one reaches `onError` at least once. */
  #seenOutages: number;
  /** How many decisions the insurance store made (0: no decision needs a FROM_FALLBACK lookup). */
  #fallbackAnswers = 0;
  #namesOf: readonly ResolvedRule[] | undefined;
  #ruleNames: readonly string[] = [];
  // The counts array of the series this guard counted last (tally, binding rule): most decisions
  // count the same one, and an increment in place costs a tenth of a call into the tally.
  // TypeScript-private: V8 (Node 20) reads and writes `#` fields slower on this per-decision path.
  private countTally: DecisionTally | undefined;
  private countRule: ResolvedRule | undefined;
  private countRow: number[] = [];

  constructor(bound: BoundStore, health: StoreHealth | undefined, options: GuardOptions) {
    this.#bound = bound;
    this.#health = health ?? new StoreHealth();
    this.#o = options;
    this.#seenRecoveries = this.#health.recoveries;
    this.#seenOutages = this.#health.outages;
  }

  /** Decides synchronously when the store answers synchronously (memory store): no promise hop. */
  run(op: Op, key: string, cost: number, now: number): Decision | Promise<Decision> {
    // Nobody listening (the common case) costs two property reads; the observed path is its own
    // method, so this one stays small enough to inline.
    if (!decisionChannel.hasSubscribers && observers.list.length === 0) return this.#run(op, key, cost, now);
    return this.#observed(op, key, cost, now);
  }

  #observed(op: Op, key: string, cost: number, now: number): Decision | Promise<Decision> {
    const d = this.#run(op, key, cost, now);
    // A decision made in the process did no I/O: it is not timed (a clock read costs about as much
    // as the decision). An asynchronous answer is timed from the moment the call returned, which
    // the command was written in: the wait for the store is what the time measures.
    if (!isPromise(d)) {
      this.#observe(op, key, cost, d, -1);
      return d;
    }
    const t0 = performance.now();
    return d.then((decision) => {
      this.#observe(op, key, cost, decision, t0);
      return decision;
    });
  }

  /** `t0`: when the asynchronous call was made; -1 for a decision made synchronously. */
  #observe(op: Op, key: string, cost: number, decision: Decision, t0: number): void {
    // The outcome's index in OUTCOME_ORDER: a policy's decisions carry their error; the insurance
    // store's answers are all 'fallback'.
    let at = decision.allowed ? 0 : 1;
    if (decision.error !== undefined) at += 2;
    else if (this.#fallbackAnswers !== 0 && FROM_FALLBACK.has(decision)) at = 4;
    const timed = t0 >= 0;
    let event: DecisionEvent | undefined;
    // An indexed loop without try/catch: with a for-of and try/catch in the loop this path cost
    // ~13 % of a memory-store decision in instructions (bench/ir-observe.ts), without ~1.5 %.
    // Observers' own code runs in the two small functions below.
    const list = observers.list;
    const limiter = this.#o.name;
    const rule = decision.rule;
    for (let i = 0; i < list.length; i++) {
      const o = list[i] as DecisionObserver;
      // `wants` first: it may swap the tally (a metrics provider registered since the last decision).
      const wanted = o.decision !== undefined && (o.wants === undefined || wants(o, timed));
      const tally = o.tally;
      if (tally !== undefined) {
        if (tally !== this.countTally || rule !== this.countRule) {
          this.countTally = tally;
          this.countRule = rule;
          this.countRow = tally.countsOf(limiter, rule.name);
        }
        (this.countRow[at] as number)++;
      }
      if (!wanted) continue;
      event ??= this.#event(op, key, cost, decision, at, t0);
      deliver(o, event);
    }
    if (decisionChannel.hasSubscribers) decisionChannel.publish(event ?? this.#event(op, key, cost, decision, at, t0));
  }

  #event(op: Op, key: string, cost: number, decision: Decision, at: number, t0: number): DecisionEvent {
    const rules = this.#o.rules;
    // The names are the same for every decision of these rules: build the array once.
    if (this.#namesOf !== rules) {
      this.#namesOf = rules;
      this.#ruleNames = Object.freeze(rules.map((r) => r.name));
    }
    return {
      limiter: this.#o.name,
      operation: op,
      key,
      cost,
      allowed: decision.allowed,
      outcome: OUTCOME_ORDER[at] as DecisionOutcome,
      source: SOURCES[at] as DecisionSource,
      rules: this.#ruleNames,
      rule: decision.rule.name,
      remaining: decision.remaining,
      retryAfterMs: decision.retryAfterMs,
      durationMs: t0 < 0 ? 0 : performance.now() - t0,
      async: t0 >= 0,
      decision,
    };
  }

  #run(op: Op, key: string, cost: number, now: number): Decision | Promise<Decision> {
    // Up (the common case) costs one field read; the circuit is consulted only while down.
    const health = this.#health;
    const route = health.down ? health.route(now) : 'store';
    if (route === 'policy') {
      // Down without a failed call of this limiter (the connection dropped, another limiter's call
      // failed): this limiter's onError still hears of the outage, once.
      let error: StoreError | undefined;
      if (this.#seenOutages !== this.#health.outages) {
        this.#seenOutages = this.#health.outages;
        error = this.report(new StoreError(op, this.#unavailable(), { cause: this.#health.lastError }), op, true);
      }
      return this.#degraded(op, key, cost, now, error);
    }
    const probe = route === 'probe';
    let raw: RawResult | Promise<RawResult>;
    try {
      raw = op === 'consume' ? this.#bound.consume(key, cost, now) : this.#bound.peek(key, now);
    } catch (error) {
      return this.#degraded(op, key, cost, now, this.#fail(op, error, now, probe));
    }
    const rules = this.#o.rules;
    if (!isPromise(raw)) {
      if (probe || this.#seenRecoveries !== this.#health.recoveries) this.#answered();
      return decide(rules, raw);
    }
    return this.#settle(op, raw, probe, op === 'consume' ? key : undefined, cost).then(
      (r) => {
        this.#answered();
        return decide(rules, r);
      },
      (error: unknown) => this.#degraded(op, key, cost, now, this.#fail(op, error, now, probe)),
    );
  }

  /** A failed refund is reported, not thrown: the request it belongs to has already been answered. */
  refund(key: string, cost: number, now: number, at: number): Promise<void> {
    const fallback = this.#o.fallback;
    const down = this.#health.down;
    if (down && fallback !== undefined) return settleSync(() => fallback.refund(key, cost, now, at));
    if (down) {
      // Nothing is queued for a store that does not answer; the units stay charged (never over-admits).
      this.report(new StoreError('refund', this.#unavailable()), 'refund');
      return Promise.resolve();
    }
    try {
      const r = this.#bound.refund(key, cost, now, at);
      if (!isPromise(r)) return Promise.resolve();
      return this.#settle('refund', r, false, undefined, 0).catch((e: unknown) => {
        this.report(e, 'refund');
      });
    } catch (e) {
      this.report(e, 'refund');
      return Promise.resolve();
    }
  }

  /**
   * Forgets a key (or all) on the store and the insurance store. Settles within `timeoutMs`:
   * rejects with a `StoreError` (also reported through `onError`) when the store fails, is slow,
   * or is down, because the caller must know the state was not cleared.
   */
  reset(key: string | undefined): Promise<void> {
    let fallback: void | Promise<void>;
    try {
      fallback = this.#o.fallback?.reset(key);
    } catch (e) {
      return Promise.reject(e);
    }
    const primary = this.#health.down ? Promise.reject(new StoreError('reset', this.#unavailable())) : this.#resetPrimary(key);
    return Promise.all([primary, fallback]).then(
      () => undefined,
      (e: unknown) => {
        throw this.report(e, 'reset');
      },
    );
  }

  #resetPrimary(key: string | undefined): Promise<void> {
    try {
      const r = this.#bound.reset(key);
      return isPromise(r) ? this.#settle('reset', r, false, undefined, 0) : Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Bounds `pending` by `timeoutMs`. What arrives after the timeout still counts as evidence the
   * store lives; a consume that charged although its request was answered by policy is refunded.
   */
  #settle<T>(op: StoreError['operation'], pending: Promise<T>, probe: boolean, consumedKey: string | undefined, cost: number): Promise<T> {
    const ms = this.#o.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        // The connection's latest error (e.g. WRONGPASS) says why, where a bare timeout would not.
        const cause = this.#health.lastError;
        const why = cause instanceof Error ? ` (last store error: ${cause.message})` : '';
        reject(new StoreError(op, `Store ${op} did not answer within ${ms} ms${why}`, { cause, timedOut: true }));
      }, ms);
      timer.unref?.();
      pending.then(
        (v) => {
          if (!late) {
            clearTimeout(timer);
            resolve(v);
            return;
          }
          if (probe) this.#health.probeSettled();
          this.#health.up();
          if (consumedKey !== undefined && charged(v as RawResult)) this.#undoLate(consumedKey, cost, v as RawResult);
        },
        (e: unknown) => {
          if (!late) {
            clearTimeout(timer);
            reject(e);
            return;
          }
          if (probe) this.#health.probeSettled();
          if (wasAnswered(e)) this.#health.up();
        },
      );
    });
  }

  #undoLate(key: string, cost: number, raw: RawResult): void {
    const at = raw[0] as number;
    try {
      const r = this.#bound.refund(key, cost, at, at);
      if (isPromise(r)) r.catch((e: unknown) => this.report(e, 'refund'));
    } catch (e) {
      this.report(e, 'refund');
    }
  }

  #fail(op: StoreError['operation'], cause: unknown, now: number, probe: boolean): StoreError {
    const error = this.report(cause, op);
    if (wasAnswered(cause)) {
      // The store answered (a script refused to write past its deadline): it works, this call was just late.
      if (probe) this.#health.succeeded();
      return error;
    }
    this.#health.failed(error, now, this.#o.retryMs, probe);
    this.#seenOutages = this.#health.outages;
    // A probe that timed out is still on its way: no second one until it settles.
    if (probe && error.timedOut) this.#health.probeStillPending();
    return error;
  }

  #answered(): void {
    this.#health.succeeded();
    if (this.#seenRecoveries !== this.#health.recoveries) {
      this.#seenRecoveries = this.#health.recoveries;
      if (recoverChannel.hasSubscribers) recoverChannel.publish({ limiter: this.#o.name, outageMs: this.#health.lastOutageMs });
      this.#o.onRecover?.();
    }
  }

  #unavailable(): string {
    const last = this.#health.lastError;
    const why = last instanceof Error ? `; last error: ${last.message}` : '';
    const state = this.#health.connected ? 'waiting for it to answer again after a failure' : 'its connection is not ready';
    return `Store unavailable (${state}${why})`;
  }

  /** Reports a failure and answers by the `onStoreError` policy or the insurance store. */
  #degraded(op: Op, key: string, cost: number, now: number, cause: unknown): Decision | Promise<Decision> {
    const fallback = this.#o.fallback;
    if (fallback !== undefined) {
      try {
        const raw = op === 'consume' ? fallback.consume(key, cost, now) : fallback.peek(key, now);
        if (!isPromise(raw)) return this.#fromFallback(raw);
        return raw.then((r) => this.#fromFallback(r));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const error = isStoreError(cause) ? cause : new StoreError(op, this.#unavailable(), { cause: this.#health.lastError });
    return policyDecision(this.#o.rules, this.#o.policy === 'allow', now, error);
  }

  #fromFallback(raw: RawResult): Decision {
    const d = decide(this.#o.rules, raw);
    FROM_FALLBACK.add(d);
    this.#fallbackAnswers++;
    return d;
  }

  /** Wraps `cause` as a StoreError and hands it to `onError`; without one, `warn` emits a process warning (once per outage). */
  report(cause: unknown, op: StoreError['operation'] = 'consume', warn = !this.#health.down): StoreError {
    const error = isStoreError(cause)
      ? cause
      : new StoreError(op, `Store ${op} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    if (storeErrorChannel.hasSubscribers) {
      storeErrorChannel.publish({ limiter: this.#o.name, operation: error.operation, error, policy: this.#o.policy });
    }
    if (this.#o.onError) {
      try {
        this.#o.onError(error);
      } catch {
        // A throwing hook must not turn a handled store failure into a failed request.
      }
    } else if (warn) {
      const message = `ratekeeper: ${error.message}; applying onStoreError policy until the store answers again`;
      const logger = this.#o.logger;
      if (logger === undefined) emitWarning(message, error.code);
      else {
        try {
          logger.warn(message);
        } catch {
          // A throwing logger must not turn a handled store failure into a failed request.
        }
      }
    }
    return error;
  }
}

function settleSync(fn: () => void | Promise<void>): Promise<void> {
  try {
    const r = fn();
    return isPromise(r) ? r : Promise.resolve();
  } catch (e) {
    return Promise.reject(e);
  }
}
