import type { DecisionEvent } from './events';
import type { DecisionTally } from './tally';

/**
 * A metrics package's hook into every limiter of the process, for what a diagnostics channel costs
 * too much per decision: the limiter counts into `tally` itself (no event is built), and builds the
 * full {@link DecisionEvent} only for the decisions `wants` asks for. Channel subscribers still get
 * every event; an observer is an addition for code that counts every decision.
 */
export interface DecisionObserver {
  /**
   * Where the limiters count this observer's decisions, per (limiter, rule, outcome). Read at each
   * decision, so it may be swapped (a new metrics provider). Leave it undefined to count nothing.
   */
  tally?: DecisionTally | undefined;
  /**
   * Whether {@link decision} wants this decision's event. `timed`: an asynchronous store (Redis)
   * answered it, and `durationMs` is its wait. Called for every decision: keep it to a few loads.
   * Without it, every decision's event goes to `decision`.
   */
  wants?(timed: boolean): boolean;
  /** A decision's event, when {@link wants} said yes. It must not throw (a throw is dropped). */
  decision?(event: DecisionEvent): void;
}

/** What {@link observeDecisions} returns. */
export interface DecisionObservation {
  /** Stops the limiters calling this observer. Idempotent. */
  stop(): void;
}

interface Registry {
  /** Replaced, never mutated, so a limiter may iterate the array it read while one is added. */
  list: readonly DecisionObserver[];
}

// Shared by every copy of @ratekeeper/core in the process (ESM and CommonJS, two versions), as the
// diagnostics channels are: a metrics package loading the other copy must still see every limiter.
const KEY = Symbol.for('@ratekeeper/core:decision-observers@1');
const slot = globalThis as { [KEY]?: Registry };

slot[KEY] ??= { list: [] };
/** @internal Every observer of the process; `list` is empty when nobody observes. */
export const observers: Registry = slot[KEY];

/**
 * Makes every limiter of the process (those created later too) count its decisions into
 * `observer.tally` and hand the events `observer.wants` to `observer.decision`, until `stop()`.
 * Used by `@ratekeeper/otel` and `@ratekeeper/prometheus`; with none, a limiter does no work for it.
 */
export function observeDecisions(observer: DecisionObserver): DecisionObservation {
  observers.list = [...observers.list, observer];
  return {
    stop() {
      observers.list = observers.list.filter((o) => o !== observer);
    },
  };
}
