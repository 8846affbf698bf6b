import type { Meter, MeterProvider } from '@opentelemetry/api';
import { type DecisionEvent, DecisionTally, type RecoverEvent, type StoreErrorEvent } from '@ratekeeper/core';

/** The instrumentation scope: the meter's name. */
export const INSTRUMENTATION_NAME = '@ratekeeper/otel';
/** The meter's version: this package's (a test keeps it equal to package.json's). */
export const VERSION = '0.1.0';

/** Names of the metrics `instrument()` records. */
export const METRICS = Object.freeze({
  /**
   * Counter (observable, cumulative), `{decision}`: every decision (`consume`, `peek`, HTTP), by
   * `outcome`, `rule` and `limiter`.
   */
  decisions: 'ratekeeper.decisions',
  /**
   * Histogram, seconds: the time to the answer of every decision that went to an asynchronous store
   * (Redis; a timeout included), by `limiter` and `outcome`. Decisions made in the process (memory
   * store, an open circuit's policy) are not recorded: they do no I/O.
   */
  storeDuration: 'ratekeeper.store.duration',
  /** Counter, `{error}`: every store failure, by `limiter`, `operation` and `policy`. */
  storeErrors: 'ratekeeper.store.errors',
  /** Counter, `{recovery}`: a limiter's store answering again after an outage, by `limiter`. */
  storeRecoveries: 'ratekeeper.store.recoveries',
} as const);

// Store round trips take microseconds (memory) to milliseconds (Redis); a timed-out call takes
// `timeoutMs` (250 ms by default). The SDK's default boundaries (0 to 10,000) are meant for
// milliseconds and would put every one of these into the first bucket.
// The same boundaries as @ratekeeper/prometheus's, so one dashboard reads either.
const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** Records ratekeeper's events on one meter. */
export interface Recorder {
  /** The provider's decision counts: the limiters add to it themselves (`observeDecisions`), the counter reads it. */
  readonly tally: DecisionTally;
  /** A decision an asynchronous store answered: its time goes to the duration histogram. */
  timed(event: DecisionEvent): void;
  storeError(event: StoreErrorEvent): void;
  recover(event: RecoverEvent): void;
}

/**
 * The recorders, per provider, of every copy of this package in the process (ESM and CommonJS, or
 * two installed versions), through a global symbol: a copy's own map would let a second copy that
 * replaces the first observe its own tallies (from 0) for the same series beside the first copy's
 * callback, and the cumulative count would drop. Versioned, in case `Recorder` ever changes.
 */
const RECORDERS = Symbol.for('@ratekeeper/otel:recorders@1');
const shared = globalThis as { [RECORDERS]?: WeakMap<MeterProvider, Recorder> };
shared[RECORDERS] ??= new WeakMap();
const recorders: WeakMap<MeterProvider, Recorder> = shared[RECORDERS];

/**
 * The recorder of `provider`'s ratekeeper meter, created once per provider: the decision counter
 * is observed from this process's tallies, so a later `instrument()` on the same provider must
 * continue those counts, not start a second series that would hide the first.
 */
export function recorderFor(provider: MeterProvider): Recorder {
  let recorder = recorders.get(provider);
  if (recorder === undefined) {
    recorder = createRecorder(provider);
    recorders.set(provider, recorder);
  }
  return recorder;
}

/** Creates the instruments on `provider`'s ratekeeper meter. No attribute is ever a key or an address. */
function createRecorder(provider: MeterProvider): Recorder {
  const meter: Meter = provider.getMeter(INSTRUMENTATION_NAME, VERSION);
  // Counted in this process and read at collection: cumulative, as a synchronous counter would report.
  const tallies = new DecisionTally();
  const decisions = meter.createObservableCounter(METRICS.decisions, {
    description: 'Rate-limit decisions, by outcome, binding rule and limiter.',
    unit: '{decision}',
  });
  decisions.addCallback((result) => {
    tallies.each((n, attributes) => {
      result.observe(n, attributes);
    });
  });
  const duration = meter.createHistogram(METRICS.storeDuration, {
    description: 'Time from sending a decision to the store to its answer (or to the failure policy, when the store failed).',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BUCKETS },
  });
  const errors = meter.createCounter(METRICS.storeErrors, {
    description: 'Store failures seen by rate limiters, by operation and the policy that answered meanwhile.',
    unit: '{error}',
  });
  const recoveries = meter.createCounter(METRICS.storeRecoveries, {
    description: "Outages after which a limiter's store answered again.",
    unit: '{recovery}',
  });
  return {
    tally: tallies,
    timed(e) {
      duration.record(e.durationMs / 1000, { limiter: e.limiter, outcome: e.outcome });
    },
    storeError(e) {
      errors.add(1, { limiter: e.limiter, operation: e.operation, policy: e.policy });
    },
    recover(e) {
      recoveries.add(1, { limiter: e.limiter });
    },
  };
}
