import { diag, type MeterProvider, metrics } from '@opentelemetry/api';
import { CHANNELS, ConfigError, type DecisionObserver, observeDecisions, type RecoverEvent, type StoreErrorEvent } from '@ratekeeper/core';
import { diagnostics } from './diagnostics';
import { INSTRUMENTATION_NAME, type Recorder, recorderFor } from './metrics';
import { annotateSpan } from './spans';

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Where the metrics go. Without it, the global provider (`metrics.setGlobalMeterProvider`, which
   * `NodeSDK.start()` calls) is looked up at each event, so `instrument()` may run before the SDK starts.
   * @default the global MeterProvider
   */
  meterProvider?: MeterProvider | undefined;
  /**
   * `true`: set `ratekeeper.*` attributes on the active span (the latest decision's: the one that
   * answered the request). `'events'`: also add a `ratekeeper.decision` event per decision, so every
   * decision of a request stays on its span (an event each). `false`: leave spans alone.
   * @default true
   */
  spans?: boolean | 'events' | undefined;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** Stops recording (the limiters stop counting for it; it leaves ratekeeper's channels). Idempotent; a no-op once a later `instrument()` replaced this one. */
  uninstrument(): void;
}

const OPTION_NAMES: ReadonlySet<string> = new Set(['meterProvider', 'spans']);

/**
 * One instrumentation per process, shared by every copy of this package (ESM and CommonJS, or two
 * installed versions) through a global symbol: a second copy must replace the first, not count
 * every decision twice.
 */
const ACTIVE = Symbol.for('@ratekeeper/otel:active');
type Slot = { [ACTIVE]?: { stop(): void } };

/**
 * Records ratekeeper's decisions, store errors and recoveries as OpenTelemetry metrics (and, unless
 * `spans: false`, as attributes of the active span, and events with `spans: 'events'`). The limiters
 * count decisions for it themselves (`observeDecisions`), and it subscribes to the store-error and
 * recovery channels. Until it is called, and after `uninstrument()`, the limiters do no work for it.
 *
 * There is one instrumentation per process: calling `instrument()` again replaces the previous one
 * (its options too), so nothing is counted twice. The metrics count every decision, `peek()`
 * included (as `@ratekeeper/prometheus` does); only `consume` decisions annotate spans. No metric
 * or span attribute holds a key, an address or a user.
 *
 * @example
 * ```ts
 * import { instrument } from '@ratekeeper/otel';
 *
 * const otel = instrument(); // the global MeterProvider and the active span
 * // ... on shutdown:
 * otel.uninstrument();
 * ```
 */
export function instrument(options: InstrumentOptions = {}): Instrumentation {
  validate(options);
  const { meterProvider, spans = true } = options;
  const dc = diagnostics();
  const slot = globalThis as Slot;
  slot[ACTIVE]?.stop();

  const failed = (error: unknown): void => diag.error(`${INSTRUMENTATION_NAME}: failed to record a ratekeeper event`, error);
  // The limiters count into the current provider's tally themselves (`observeDecisions`): a
  // diagnostics-channel event per decision, and a meter call per decision, would cost more than a
  // memory-store decision. Only decisions worth more than a count reach `decision` below: those
  // an asynchronous store answered (the duration histogram) and, while spans can be active, those
  // that annotate one.
  let provider: MeterProvider | undefined;
  let recorder: Recorder | undefined;
  const observer: DecisionObserver = { tally: undefined };
  const record = (): Recorder | undefined => {
    const current = meterProvider ?? metrics.getMeterProvider();
    if (current !== provider) {
      provider = current;
      try {
        recorder = recorderFor(current);
      } catch (error) {
        recorder = undefined;
        failed(error);
      }
      observer.tally = recorder?.tally;
    }
    return recorder;
  };
  record();
  let seenGlobal = otelGlobal()?.metrics;
  const spanning = spans !== false;
  // Asked for every decision: a decision made in the process (memory store) is wanted only while a
  // span can be active, which needs a context manager. A provider given in the options never
  // changes, so that case reads one property.
  observer.wants =
    meterProvider !== undefined
      ? spanning
        ? (timed) => timed || contextManaged()
        : (timed) => timed
      : (timed) => {
          const g = found !== undefined || watching ? found : otelGlobal();
          // The global provider changed (an SDK started after instrument()): count for the new one.
          if (g?.metrics !== seenGlobal) {
            seenGlobal = g?.metrics;
            record();
          }
          // Without a context manager no span is ever active: nothing to annotate.
          return timed || (spanning && g?.context !== undefined);
        };
  observer.decision = (e) => {
    try {
      // A peek answers no request: it would overwrite the span's account of the one that did.
      if (spanning && e.operation === 'consume') annotateSpan(e, spans === 'events');
      if (e.async) recorder?.timed(e);
    } catch (error) {
      failed(error);
    }
  };
  const observation = observeDecisions(observer);

  // A subscriber that throws would be rethrown by diagnostics_channel on the next tick, crashing
  // the application: report through OpenTelemetry's diagnostic logger instead.
  const guarded =
    <T>(handle: (event: T) => void) =>
    (message: unknown): void => {
      try {
        handle(message as T);
      } catch (error) {
        failed(error);
      }
    };
  const listeners = {
    [CHANNELS.storeError]: guarded<StoreErrorEvent>((e) => record()?.storeError(e)),
    [CHANNELS.recover]: guarded<RecoverEvent>((e) => record()?.recover(e)),
  };
  for (const [name, listener] of Object.entries(listeners)) dc?.subscribe(name, listener);

  const active = {
    stop(): void {
      if (slot[ACTIVE] !== active) return;
      delete slot[ACTIVE];
      observation.stop();
      for (const [name, listener] of Object.entries(listeners)) dc?.unsubscribe(name, listener);
    },
  };
  slot[ACTIVE] = active;
  return { uninstrument: () => active.stop() };
}

/** What the OpenTelemetry API registered, where its copies share it (API major 1). */
interface OtelGlobal {
  readonly metrics?: unknown;
  readonly context?: unknown;
}
const OTEL_API = Symbol.for('opentelemetry.js.api.1');

/** The API's object once it exists (it is created at the first registration and kept). */
let found: OtelGlobal | undefined;
/** True while this copy's setter waits for the API to create the object. */
let watching = false;

/**
 * The OpenTelemetry API's registrations, read where every copy of `@opentelemetry/api` 1.x keeps
 * them: a property read per decision, where `metrics.getMeterProvider()` and `trace.getActiveSpan()`
 * (version checks, context lookups) cost a tenth of a decision each. Until the API registers
 * anything the object does not exist, and looking a missing property up on the global object is
 * slow: a setter in its place hands it over the moment the API creates it.
 */
function otelGlobal(): OtelGlobal | undefined {
  if (found !== undefined || watching) return found;
  found = (globalThis as { [OTEL_API]?: OtelGlobal })[OTEL_API];
  if (found === undefined) watch();
  return found;
}

/** Whether a context manager is registered (without one no span is ever active). Runs per decision. */
function contextManaged(): boolean {
  if (found !== undefined) return found.context !== undefined;
  // Until the API's object exists nothing is registered; the setter installed by watch() says when.
  return !watching && otelGlobal()?.context !== undefined;
}

function watch(): void {
  // Another copy of this package watches already: read through its accessor (until the object exists).
  if (Object.getOwnPropertyDescriptor(globalThis, OTEL_API) !== undefined) return;
  try {
    Object.defineProperty(globalThis, OTEL_API, {
      configurable: true,
      enumerable: false,
      get: () => undefined,
      set(value: OtelGlobal) {
        // What the API's own assignment would have made: a plain data property.
        Object.defineProperty(globalThis, OTEL_API, { value, writable: true, enumerable: true, configurable: true });
        found = value;
        watching = false;
      },
    });
    watching = true;
  } catch {
    // A frozen global object: read it at each decision.
  }
}

function validate(options: unknown): asserts options is InstrumentOptions {
  if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.has(key)) {
      throw new ConfigError(key, '', undefined, `Unknown option \`${key}\`: expected one of ${[...OPTION_NAMES].join(', ')}`);
    }
  }
  const { meterProvider, spans } = options as Record<string, unknown>;
  if (meterProvider !== undefined && typeof (meterProvider as Partial<MeterProvider> | null)?.getMeter !== 'function') {
    throw new ConfigError('meterProvider', 'a MeterProvider (with getMeter())', meterProvider);
  }
  if (spans !== undefined && typeof spans !== 'boolean' && spans !== 'events')
    throw new ConfigError('spans', "a boolean or 'events'", spans);
}
