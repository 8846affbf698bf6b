// Entry point of `@ratekeeper/prometheus`: ratekeeper's diagnostics channels as prom-client metrics.
// The names mirror @ratekeeper/otel's (`ratekeeper.decisions` → `ratekeeper_decisions_total`, ...).

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  CHANNELS,
  ConfigError,
  type DecisionLabels,
  type DecisionObservation,
  DecisionTally,
  observeDecisions,
  type RecoverEvent,
  type StoreErrorEvent,
} from '@ratekeeper/core';
import {
  Counter,
  register as globalRegister,
  Histogram,
  type OpenMetricsContentType,
  type PrometheusContentType,
  type Registry,
} from 'prom-client';

/** A prom-client registry, in either exposition format (Prometheus text or OpenMetrics). */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/**
 * Upper bounds (seconds) of the `store_duration_seconds` buckets: 0.1 ms (a local Redis) to
 * 1 s (past any sensible `timeoutMs`), so p50 and p99 of a near and a remote Redis both resolve.
 */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** The registry the metrics are registered on. @default prom-client's global `register` */
  registry?: MetricsRegistry;
  /** Prefix of every metric name (a valid Prometheus name prefix). @default 'ratekeeper_' */
  prefix?: string;
  /** Bucket upper bounds (seconds, increasing) of `<prefix>store_duration_seconds`. @default {@link DEFAULT_BUCKETS} */
  buckets?: readonly number[];
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /**
   * Stops counting for this call of `instrument`. When no other call still instruments the same
   * registry and prefix, stops the limiters counting for it, unsubscribes from the channels and
   * removes the metrics from the registry.
   * Calling it again does nothing.
   */
  uninstrument(): void;
}

/** The four metrics of one registry and prefix, and the channel subscriptions feeding them. */
interface Instrumented {
  readonly names: readonly string[];
  readonly metrics: readonly (Counter<string> | Histogram<string>)[];
  readonly buckets: readonly number[];
  readonly listeners: readonly (readonly [channel: string, listener: (message: unknown) => void])[];
  /** The limiters counting into this registry's tally. */
  readonly observation: DecisionObservation;
  /** Calls of `instrument` not yet undone. */
  users: number;
}

const OPTION_NAMES: readonly string[] = ['registry', 'prefix', 'buckets'];

/** Per registry, per prefix: so a second `instrument` shares the first's metrics instead of colliding. */
const instrumented = new WeakMap<MetricsRegistry, Map<string, Instrumented>>();

/**
 * Counts every decision, store error and store recovery of every ratekeeper limiter in the process
 * (read from `node:diagnostics_channel`) as prom-client metrics:
 *
 * - `ratekeeper_decisions_total{outcome, rule, limiter}`: counter, one per decision (`consume`,
 *   `peek`, HTTP); `outcome` is `allowed`, `limited`, `failed_open`, `failed_closed` or `fallback`.
 * - `ratekeeper_store_duration_seconds{limiter, outcome}`: histogram, time to the answer of each
 *   decision an asynchronous store (Redis) made; decisions made in the process (memory store, an open
 *   circuit's policy) do no I/O and are not observed.
 * - `ratekeeper_store_errors_total{limiter, operation, policy}`: counter, store failures.
 * - `ratekeeper_store_recoveries_total{limiter}`: counter, stores answering again after an outage.
 *
 * The key (a client IP, a user id) is never a label: unbounded cardinality, and personal data.
 *
 * Calling it again for the same registry and prefix neither throws nor counts twice: it shares the
 * metrics already registered (their buckets must then be the same), and they stay until every call
 * has been undone with `uninstrument()`.
 * @throws ConfigError on a bad option, or when a metric of the same name that this package did not
 *   register is on the registry.
 * @example
 * import { instrument } from '@ratekeeper/prometheus';
 * import { Registry } from 'prom-client';
 *
 * const registry = new Registry();
 * const metrics = instrument({ registry });
 * // GET /metrics: res.set('Content-Type', registry.contentType).send(await registry.metrics())
 * metrics.uninstrument(); // on shutdown, or between tests
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.includes(name)) {
      throw new ConfigError(
        name,
        '',
        undefined,
        `Unknown option \`${name}\`: expected one of ${OPTION_NAMES.join(', ')}, got an unknown option`,
      );
    }
  }
  const registry = options.registry ?? globalRegister;
  if (typeof registry?.registerMetric !== 'function') throw new ConfigError('registry', 'a prom-client Registry', registry);
  const prefix = options.prefix ?? 'ratekeeper_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new ConfigError('prefix', 'a Prometheus metric name prefix (letters, digits, `_` or `:`, not starting with a digit)', prefix);
  }
  const buckets = options.buckets === undefined ? undefined : checkBuckets(options.buckets);

  let byPrefix = instrumented.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instrumented.set(registry, byPrefix);
  }
  let state = byPrefix.get(prefix);
  if (state !== undefined && registered(registry, state) < state.names.length) {
    // The registry was cleared since (`registry.clear()`, common between tests): start afresh. The
    // earlier calls' handles still unsubscribe their own listeners.
    unregister(registry, state);
    state = undefined;
  }
  if (state === undefined) {
    state = create(registry, prefix, buckets ?? DEFAULT_BUCKETS);
    byPrefix.set(prefix, state);
  } else {
    const shared = state.buckets;
    if (buckets !== undefined && (buckets.length !== shared.length || buckets.some((b, i) => b !== shared[i]))) {
      throw new ConfigError('buckets', `the buckets this registry is already instrumented with (${shared.join(', ')})`, buckets);
    }
  }
  state.users++;

  const current = state;
  let done = false;
  return {
    uninstrument() {
      if (done) return;
      done = true;
      if (--current.users > 0) return;
      for (const [channel, listener] of current.listeners) unsubscribe(channel, listener);
      current.observation.stop();
      unregister(registry, current);
      if (byPrefix?.get(prefix) === current) byPrefix.delete(prefix);
    },
  };
}

/** How many of `state`'s metrics the registry still holds. */
function registered(registry: MetricsRegistry, state: Instrumented): number {
  return state.names.filter((name, i) => registry.getSingleMetric(name) === state.metrics[i]).length;
}

/** Removes `state`'s metrics, and only them: a metric registered under a name after `registry.clear()` stays. */
function unregister(registry: MetricsRegistry, state: Instrumented): void {
  for (const [i, name] of state.names.entries()) if (registry.getSingleMetric(name) === state.metrics[i]) registry.removeSingleMetric(name);
}

function checkBuckets(buckets: unknown): readonly number[] {
  const ok =
    Array.isArray(buckets) &&
    buckets.length > 0 &&
    buckets.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > (buckets[i - 1] as number)));
  if (!ok) throw new ConfigError('buckets', 'a non-empty array of increasing positive finite numbers (seconds)', buckets);
  return Object.freeze([...(buckets as number[])]);
}

function create(registry: MetricsRegistry, prefix: string, buckets: readonly number[]): Instrumented {
  const names = [
    `${prefix}decisions_total`,
    `${prefix}store_duration_seconds`,
    `${prefix}store_errors_total`,
    `${prefix}store_recoveries_total`,
  ];
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new ConfigError(
        'prefix',
        'a prefix whose metric names are free on the registry',
        prefix,
        `A metric named ${name} is already registered on this registry, not by this copy of @ratekeeper/prometheus: pass another \`prefix\`, or instrument once`,
      );
    }
  }
  const [decisionsName = '', durationName = '', errorsName = '', recoveriesName = ''] = names;
  // `registers: []`, then registerMetric: nothing is registered until every metric could be built.
  const tallies = new DecisionTally();
  // What each series has been given so far. Only the increase since the last scrape is added: the
  // counter's own value stays the sum, so `reset()` (`registry.resetMetrics()`) zeroes it like every
  // other counter, instead of the next scrape restoring the whole tally.
  const copied = new Map<DecisionLabels, number>();
  const decisions = new Counter({
    name: decisionsName,
    help: 'Rate-limit decisions, by outcome (allowed, limited, failed_open, failed_closed, fallback), binding rule and limiter.',
    labelNames: ['outcome', 'rule', 'limiter'] as const,
    registers: [],
    // Counted in plain numbers per decision, copied in at each scrape.
    collect() {
      tallies.each((n, labels) => {
        const before = copied.get(labels) ?? 0;
        if (n > before) {
          this.inc(labels, n - before);
          copied.set(labels, n);
        }
      });
    },
  });
  const duration = new Histogram({
    name: durationName,
    help: "Seconds from asking the limiter's store to its answer (or the onStoreError policy's, when the call failed), per decision that went to an asynchronous store such as Redis.",
    labelNames: ['limiter', 'outcome'] as const,
    buckets: [...buckets],
    registers: [],
  });
  const errors = new Counter({
    name: errorsName,
    help: 'Store failures seen by a limiter, by store operation and the policy that answered meanwhile (allow, deny, fallback).',
    labelNames: ['limiter', 'operation', 'policy'] as const,
    registers: [],
  });
  const recoveries = new Counter({
    name: recoveriesName,
    help: "A limiter's store answering again after an outage.",
    labelNames: ['limiter'] as const,
    registers: [],
  });
  const metrics = [decisions, duration, errors, recoveries];
  for (const metric of metrics) registry.registerMetric(metric);

  // A subscriber that throws would surface as an uncaught exception in the application (Node
  // rethrows it on the next tick): metrics must never take a request down, so failures are dropped.
  // The limiters count into `tallies` themselves (a diagnostics-channel event per decision would
  // cost more than a memory-store decision); only decisions an asynchronous store (Redis) answered
  // come here, for the histogram: a decision made in the process does no I/O.
  const observation = observeDecisions({
    tally: tallies,
    wants: (timed) => timed,
    decision(e) {
      try {
        duration.observe({ limiter: e.limiter, outcome: e.outcome }, e.durationMs / 1000);
      } catch {}
    },
  });
  const onStoreError = (message: unknown): void => {
    try {
      const e = message as StoreErrorEvent;
      errors.inc({ limiter: e.limiter, operation: e.operation, policy: e.policy });
    } catch {}
  };
  const onRecover = (message: unknown): void => {
    try {
      recoveries.inc({ limiter: (message as RecoverEvent).limiter });
    } catch {}
  };
  const listeners = [
    [CHANNELS.storeError, onStoreError],
    [CHANNELS.recover, onRecover],
  ] as const;
  for (const [channel, listener] of listeners) subscribe(channel, listener);
  return { names, metrics, buckets, listeners, observation, users: 0 };
}
