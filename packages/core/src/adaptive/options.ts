import { ConfigError, rejectUnknownOptions } from '../errors/config-error';
import { DEFAULT_STEPS, SMOOTH } from './curve';
import { BUILTIN_SIGNALS, type BuiltinSignal, missingFor } from './signals';

/**
 * Where the load comes from: a built-in signal of the process (Node, and runtimes with Node's
 * `process.getBuiltinModule`), or your own function returning the load in [0, 1] (any runtime).
 * - `'event-loop-delay'`: the mean event-loop delay over the interval, as a share of `maxDelayMs`.
 * - `'event-loop-utilization'`: the share of the interval the event loop was busy.
 * - `'heap'`: V8 heap used / the heap's size limit.
 * - `'rss'`: resident set size / `maxRss`.
 * - `'cpu'`: process CPU time (user + system) over the interval / (interval × cores).
 */
export type LoadSignal = BuiltinSignal | (() => number);

/**
 * The curve from load to factor: `[load, factor]` pairs (load above `load` multiplies every limit by
 * `factor`; loads rising, factors falling), or `'smooth'`: 1 up to load 0.5, then straight down to
 * `min` at load 0.9.
 */
export type AdaptiveSteps = readonly (readonly [load: number, factor: number])[] | 'smooth';

/** When a reduced limit may grow again (a reduction always happens at the first sample that calls for it). */
export interface AdaptiveHysteresis {
  /** A step up needs the load this far below the step's threshold. In [0, 1). @default 0.1 */
  margin?: number;
  /** ... for this many samples in a row. A positive integer. @default 3 */
  samples?: number;
}

/**
 * The `adaptive` option of a limiter (and of every HTTP adapter): multiply every rule's limit by a
 * factor in [`min`, 1] that follows a load signal.
 * @example
 * createLimiter({ limit: 100, window: '1m', adaptive: { signal: 'event-loop-delay' } });
 */
export interface AdaptiveOptions {
  /** What the load is. */
  signal: LoadSignal;
  /** The smallest factor: a limit is never reduced below `min × limit` (nor below 1). In (0, 1]. @default 0.5 */
  min?: number;
  /** The curve from load to factor. @default [[0.6, 0.75], [0.8, 0.5]]: above 60 % load ×0.75, above 80 % ×0.5 */
  steps?: AdaptiveSteps;
  /** How often the signal is sampled (one timer, which never keeps the process alive). @default 1000 */
  intervalMs?: number;
  /** When a reduced limit may grow again. `{ margin: 0, samples: 1 }` follows the load at once. @default { margin: 0.1, samples: 3 } */
  hysteresis?: AdaptiveHysteresis;
  /** `'event-loop-delay'` only: the mean delay (ms) that counts as full load. @default 100 */
  maxDelayMs?: number;
  /** `'rss'` only: the resident set size (bytes) that counts as full load. @default the process's memory limit (cgroup), else the machine's memory */
  maxRss?: number;
}

/** Validated {@link AdaptiveOptions}. @internal */
export interface ResolvedAdaptive {
  readonly signal: LoadSignal;
  readonly min: number;
  /** Loads rising, factors falling; empty for `'smooth'`. */
  readonly steps: readonly (readonly [number, number])[] | 'smooth';
  readonly intervalMs: number;
  readonly margin: number;
  readonly samples: number;
  readonly maxDelayMs: number;
  readonly maxRss: number | undefined;
}

const KEYS = ['signal', 'min', 'steps', 'intervalMs', 'hysteresis', 'maxDelayMs', 'maxRss'];
/** setInterval turns a longer delay into 1 ms (with a warning). */
const MAX_INTERVAL_MS = 2 ** 31 - 1;

/**
 * Validates `adaptive` options; every {@link ConfigError} names its path under `at` (`adaptive.min`;
 * `min` for `adaptiveLoad()`, whose `at` is ''). @internal
 */
export function resolveAdaptiveOptions(options: unknown, at: string): ResolvedAdaptive {
  const p = (field: string): string => (at ? `${at}.${field}` : field);
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new ConfigError(at || 'options', "an object such as { signal: 'event-loop-delay' }, or an adaptiveLoad()", options);
  rejectUnknownOptions(options, KEYS, at);
  const o = options as Record<string, unknown>;
  const signal = o.signal;
  if (typeof signal !== 'function') {
    if (!BUILTIN_SIGNALS.includes(signal as BuiltinSignal))
      throw new ConfigError(
        p('signal'),
        `${BUILTIN_SIGNALS.map((s) => `'${s}'`).join(', ')} or a function returning the load in [0, 1]`,
        signal,
      );
    const missing = missingFor(signal as BuiltinSignal);
    if (missing !== undefined)
      throw new ConfigError(p('signal'), `a function returning the load in [0, 1] on this runtime (${missing})`, signal);
  }
  const min = o.min ?? 0.5;
  if (typeof min !== 'number' || !(min > 0 && min <= 1)) throw new ConfigError(p('min'), 'a number greater than 0 and at most 1', min);
  const intervalMs = o.intervalMs ?? 1000;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 1 || intervalMs > MAX_INTERVAL_MS)
    throw new ConfigError(p('intervalMs'), `a number of milliseconds from 1 to ${MAX_INTERVAL_MS}`, intervalMs);
  const { margin, samples } = resolveHysteresis(o.hysteresis, p('hysteresis'));
  const maxDelayMs = o.maxDelayMs ?? 100;
  if (o.maxDelayMs !== undefined && signal !== 'event-loop-delay')
    throw new ConfigError(p('maxDelayMs'), "undefined unless `signal` is 'event-loop-delay'", o.maxDelayMs);
  if (typeof maxDelayMs !== 'number' || !Number.isFinite(maxDelayMs) || maxDelayMs <= 0)
    throw new ConfigError(p('maxDelayMs'), 'a positive number of milliseconds', maxDelayMs);
  const maxRss = o.maxRss;
  if (maxRss !== undefined && signal !== 'rss') throw new ConfigError(p('maxRss'), "undefined unless `signal` is 'rss'", maxRss);
  if (maxRss !== undefined && (typeof maxRss !== 'number' || !Number.isSafeInteger(maxRss) || maxRss < 1))
    throw new ConfigError(p('maxRss'), 'a positive integer (bytes)', maxRss);
  return {
    signal: signal as LoadSignal,
    min,
    steps: resolveSteps(o.steps, p('steps')),
    intervalMs,
    margin,
    samples,
    maxDelayMs,
    maxRss: maxRss as number | undefined,
  };
}

function resolveHysteresis(value: unknown, at: string): { margin: number; samples: number } {
  if (value === undefined) return { margin: 0.1, samples: 3 };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(at, 'an object such as { margin: 0.1, samples: 3 }', value);
  rejectUnknownOptions(value, ['margin', 'samples'], at);
  const h = value as Record<string, unknown>;
  const margin = h.margin ?? 0.1;
  if (typeof margin !== 'number' || !(margin >= 0 && margin < 1))
    throw new ConfigError(`${at}.margin`, 'a number from 0 to below 1', margin);
  const samples = h.samples ?? 3;
  if (typeof samples !== 'number' || !Number.isSafeInteger(samples) || samples < 1)
    throw new ConfigError(`${at}.samples`, 'a positive integer', samples);
  return { margin, samples };
}

function resolveSteps(value: unknown, at: string): ResolvedAdaptive['steps'] {
  if (value === undefined) return DEFAULT_STEPS;
  if (value === SMOOTH) return SMOOTH;
  if (!Array.isArray(value) || value.length === 0)
    throw new ConfigError(at, "'smooth' or a non-empty array of [load, factor] pairs such as [[0.6, 0.75], [0.8, 0.5]]", value);
  const steps: [number, number][] = [];
  for (const [i, pair] of value.entries()) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new ConfigError(`${at}[${i}]`, 'a [load, factor] pair', pair);
    const [load, factor] = pair as unknown[];
    const previous = steps[i - 1];
    if (typeof load !== 'number' || !(load >= 0 && load < 1) || (previous !== undefined && load <= previous[0]))
      throw new ConfigError(
        `${at}[${i}][0]`,
        `a load from 0 to below 1${previous ? `, above the previous step's ${previous[0]}` : ''}`,
        load,
      );
    if (typeof factor !== 'number' || !(factor > 0 && factor < 1) || (previous !== undefined && factor >= previous[1]))
      throw new ConfigError(
        `${at}[${i}][1]`,
        `a factor between 0 and 1 (exclusive)${previous ? `, below the previous step's ${previous[1]}` : ''}`,
        factor,
      );
    steps.push([load, factor]);
  }
  return steps;
}
