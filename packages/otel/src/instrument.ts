import { diag, type MeterProvider, metrics } from '@opentelemetry/api';
import { CHANNELS, ConfigError, type DecisionEvent, type RecoverEvent, type StoreErrorEvent } from '@ratekeeper/core';
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
  /** Stops recording (unsubscribes from ratekeeper's channels). Idempotent; a no-op once a later `instrument()` replaced this one. */
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
 * `spans: false`, as attributes of the active span, and events with `spans: 'events'`), by subscribing to the
 * `node:diagnostics_channel` channels `@ratekeeper/core` publishes on. Until it is called, and after
 * `uninstrument()`, the limiters do no work for it.
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

  let provider: MeterProvider | undefined;
  let recorder: Recorder | undefined;
  const record = (): Recorder => {
    const current = meterProvider ?? metrics.getMeterProvider();
    if (current !== provider || recorder === undefined) {
      provider = current;
      recorder = recorderFor(current);
    }
    return recorder;
  };

  // A subscriber that throws would be rethrown by diagnostics_channel on the next tick, crashing
  // the application: report through OpenTelemetry's diagnostic logger instead.
  const guarded =
    <T>(handle: (event: T) => void) =>
    (message: unknown): void => {
      try {
        handle(message as T);
      } catch (error) {
        diag.error(`${INSTRUMENTATION_NAME}: failed to record a ratekeeper event`, error);
      }
    };
  const listeners = {
    [CHANNELS.decision]: guarded<DecisionEvent>((e) => {
      // A peek answers no request: it would overwrite the span's account of the one that did.
      if (spans !== false && e.operation === 'consume') annotateSpan(e, spans === 'events');
      record().decision(e);
    }),
    [CHANNELS.storeError]: guarded<StoreErrorEvent>((e) => record().storeError(e)),
    [CHANNELS.recover]: guarded<RecoverEvent>((e) => record().recover(e)),
  };
  for (const [name, listener] of Object.entries(listeners)) dc?.subscribe(name, listener);

  const active = {
    stop(): void {
      if (slot[ACTIVE] !== active) return;
      delete slot[ACTIVE];
      for (const [name, listener] of Object.entries(listeners)) dc?.unsubscribe(name, listener);
    },
  };
  slot[ACTIVE] = active;
  return { uninstrument: () => active.stop() };
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
