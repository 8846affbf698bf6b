import { emitWarning } from '../warn';
import type { ResolvedAdaptive } from './options';
import { type LoadReader, openSignal } from './signals';

/** Receives each load sample, in [0, 1]. */
type Listener = (load: number) => void;

/**
 * Samples one signal on one timer and hands each sample to its listeners. The timer runs only
 * while there is a listener, and never keeps the process alive (`unref`). A built-in signal has
 * one sampler per interval (and scale) in the process, however many loads and limiters follow it;
 * a function signal has its own.
 * @internal
 */
export class Sampler {
  readonly #open: () => LoadReader;
  /** Whether a read means "now" (memory, a function) rather than "since the last read": read at once on start. */
  readonly #instant: boolean;
  readonly #intervalMs: number;
  readonly #listeners = new Set<Listener>();
  #reader: LoadReader | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: number | undefined;
  #warned = false;

  constructor(open: () => LoadReader, instant: boolean, intervalMs: number) {
    this.#open = open;
    this.#instant = instant;
    this.#intervalMs = intervalMs;
  }

  /** Whether the timer runs. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  add(listener: Listener): void {
    if (this.#listeners.has(listener)) return;
    this.#listeners.add(listener);
    if (this.#timer === undefined) {
      this.#reader = this.#open();
      this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
      // Sampling must never be what keeps an app (or a test runner) from exiting.
      (this.#timer as { unref?: () => void }).unref?.();
      if (this.#instant) this.#tick();
    } else if (this.#last !== undefined) listener(this.#last);
  }

  delete(listener: Listener): void {
    if (!this.#listeners.delete(listener) || this.#listeners.size > 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#reader?.close();
    this.#reader = undefined;
    this.#last = undefined;
  }

  #tick(): void {
    let load: unknown;
    try {
      load = this.#reader?.read();
    } catch (error) {
      load = error;
    }
    if (typeof load !== 'number' || Number.isNaN(load)) {
      // A signal that fails keeps the factor where it is; the app hears of it once.
      if (!this.#warned) {
        this.#warned = true;
        const why = load instanceof Error ? `threw ${load.message}` : `returned ${String(load)}`;
        emitWarning(
          `ratekeeper: the adaptive load signal ${why}; the factor stays as it was until a sample succeeds`,
          'RATEKEEPER_ADAPTIVE_SIGNAL',
        );
      }
      return;
    }
    const clamped = load < 0 ? 0 : load > 1 ? 1 : load;
    this.#last = clamped;
    for (const listener of this.#listeners) listener(clamped);
  }
}

/**
 * The samplers of built-in signals, by signal, interval and scale: a handful at most, kept (idle
 * when unused) so that every load with the same settings always shares the one sampler.
 */
const shared = new Map<string, Sampler>();

/** The sampler for these options: shared for a built-in signal, a new one for a function. @internal */
export function samplerFor(o: ResolvedAdaptive): Sampler {
  const signal = o.signal;
  if (typeof signal === 'function') return new Sampler(() => ({ read: signal, close: () => {} }), true, o.intervalMs);
  const key = `${signal}:${o.intervalMs}:${signal === 'event-loop-delay' ? o.maxDelayMs : ''}:${o.maxRss ?? ''}`;
  let sampler = shared.get(key);
  if (sampler === undefined) {
    const instant = signal === 'heap' || signal === 'rss';
    sampler = new Sampler(() => openSignal(signal, o), instant, o.intervalMs);
    shared.set(key, sampler);
  }
  return sampler;
}
