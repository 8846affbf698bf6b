import { ConfigError } from '../errors/config-error';
import { FactorController } from './curve';
import { type AdaptiveOptions, resolveAdaptiveOptions } from './options';
import { type Sampler, samplerFor } from './sampler';

/**
 * A load signal turned into a factor, which every limiter using it multiplies its limits by.
 * Create one with {@link adaptiveLoad} to share it between limiters (one curve, one hysteresis);
 * `adaptive: { ... }` on a limiter makes one per options object.
 */
export interface AdaptiveLoad {
  /** The factor limits are multiplied by now: in [`min`, 1], a multiple of 1/20 (or `min`). 1 until the first sample. */
  readonly factor: number;
  /** The last load sample, in [0, 1]; `undefined` before the first (or while no limiter uses it). */
  readonly load: number | undefined;
  /** Stops sampling for good: the factor is 1 again, and no limiter may start using this load. */
  close(): void;
}

/** Detaches a load from a limiter that was garbage-collected (limiters have no `close`). */
const collected = new FinalizationRegistry<SharedLoad>((load) => load.release());

/** @internal The implementation of {@link AdaptiveLoad}, with what limiters use. */
export class SharedLoad implements AdaptiveLoad {
  /**
   * Index of the current factor in `levels`: what a limiter reads on every decision (a plain field,
   * written only by samples).
   */
  level: number;
  readonly levels: readonly number[];
  readonly #controller: FactorController;
  readonly #sampler: Sampler;
  readonly #listener = (load: number): void => {
    this.#load = load;
    this.level = this.#controller.next(load);
  };
  #load: number | undefined;
  #users = 0;
  #closed = false;

  constructor(options: AdaptiveOptions, at: string) {
    const o = resolveAdaptiveOptions(options, at);
    this.#controller = new FactorController(o.steps, o.min, o.margin, o.samples);
    this.levels = this.#controller.levels;
    this.level = this.#controller.level;
    this.#sampler = samplerFor(o);
  }

  get factor(): number {
    return this.levels[this.level] as number;
  }

  get load(): number | undefined {
    return this.#load;
  }

  /** Throws the ConfigError of a closed load given as an `adaptive` option. */
  assertOpen(): void {
    if (this.#closed) throw new ConfigError('adaptive', 'an open adaptiveLoad() (this one was closed)', 'a closed adaptiveLoad');
  }

  /** A limiter starts using this load: sampling runs while at least one does. */
  attach(limiter: object): void {
    this.assertOpen();
    collected.register(limiter, this);
    if (this.#users++ === 0) this.#sampler.add(this.#listener);
  }

  /** A limiter using this load is gone: the last one stops the sampling. */
  release(): void {
    if (this.#users === 0 || --this.#users > 0 || this.#closed) return;
    this.#stop();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
  }

  #stop(): void {
    this.#sampler.delete(this.#listener);
    this.#controller.clear();
    this.level = this.#controller.level;
    this.#load = undefined;
  }
}

/**
 * A load signal and its curve, shareable by several limiters (and HTTP middlewares): pass it as
 * their `adaptive` option. Validated now; a ConfigError names the option. Sampling starts with the
 * first limiter that uses it and stops when none is left (or at `close()`); its timer never keeps
 * the process alive.
 * @example
 * const load = adaptiveLoad({ signal: 'event-loop-delay', min: 0.25 });
 * const api = createLimiter({ limit: 100, window: '1m', adaptive: load });
 * const search = createLimiter({ limit: 10, window: '1m', adaptive: load });
 */
export function adaptiveLoad(options: AdaptiveOptions): AdaptiveLoad {
  return new SharedLoad(options, '');
}

/** Loads made from `adaptive: { ... }` options, per options object: every limiter made from one options object shares one. */
const fromOptions = new WeakMap<object, SharedLoad>();

/** The load of an `adaptive` option (validated; a ConfigError names `adaptive.*`). @internal */
export function loadOf(value: unknown): SharedLoad {
  if (value instanceof SharedLoad) {
    value.assertOpen();
    return value;
  }
  if (typeof value === 'object' && value !== null) {
    const known = fromOptions.get(value);
    if (known !== undefined) return known;
  }
  const load = new SharedLoad(value as AdaptiveOptions, 'adaptive');
  fromOptions.set(value as object, load);
  return load;
}
