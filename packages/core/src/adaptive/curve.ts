/**
 * From load to factor: the curve, its quantisation to a bounded set of levels, and the hysteresis
 * that keeps the factor from flapping. Pure: no timers, no signals.
 */

/** The default curve: above 60 % load every limit ×0.75, above 80 % ×0.5. */
export const DEFAULT_STEPS: readonly (readonly [number, number])[] = Object.freeze([
  Object.freeze([0.6, 0.75] as const),
  Object.freeze([0.8, 0.5] as const),
]);

/** The `steps` value of the linear curve. */
export const SMOOTH = 'smooth';
/** `'smooth'`: factor 1 up to this load ... */
const SMOOTH_FROM = 0.5;
/** ... then straight down to `min` at this load. */
const SMOOTH_TO = 0.9;

/**
 * Factors are multiples of 1/QUANTUM (or `min` itself): a limiter keeps one bound rule set per
 * level, so there are at most QUANTUM + 1 of them, whatever the curve.
 */
const QUANTUM = 20;

/** The factor a curve gives for `load`, before quantisation. */
function curveAt(steps: readonly (readonly [number, number])[] | 'smooth', min: number, load: number): number {
  if (steps === SMOOTH) {
    if (load <= SMOOTH_FROM) return 1;
    if (load >= SMOOTH_TO) return min;
    return 1 - ((load - SMOOTH_FROM) / (SMOOTH_TO - SMOOTH_FROM)) * (1 - min);
  }
  let factor = 1;
  for (const [above, f] of steps) if (load > above) factor = f;
  return factor;
}

/**
 * The factors a load can produce for this `min`, ascending: `min`, then every multiple of 1/20 above
 * it, up to 1. Their index is the "level" limiters key their bound stores by.
 */
export function factorLevels(min: number): number[] {
  const levels = [min];
  for (let k = 1; k <= QUANTUM; k++) if (k / QUANTUM > min + 1e-9) levels.push(k / QUANTUM);
  return levels;
}

/**
 * Follows a load signal with a factor level. Down at once: the first sample whose load calls for a
 * smaller factor sets it. Up with hysteresis: only when `samples` samples in a row would give a
 * larger factor even with `margin` added to their load, and then to the smallest of those.
 * So a load oscillating around a threshold (within `margin`) keeps the lower factor.
 */
export class FactorController {
  /** The factors, ascending (see {@link factorLevels}). */
  readonly levels: readonly number[];
  /** Index into `levels` of the current factor. */
  level: number;
  readonly #steps: readonly (readonly [number, number])[] | 'smooth';
  readonly #min: number;
  readonly #margin: number;
  readonly #samples: number;
  /** Samples in a row that allowed a step up, and the smallest level they allowed. */
  #streak = 0;
  #upTo = 0;

  constructor(steps: readonly (readonly [number, number])[] | 'smooth', min: number, margin: number, samples: number) {
    this.#steps = steps;
    this.#min = min;
    this.#margin = margin;
    this.#samples = samples;
    this.levels = factorLevels(min);
    this.level = this.levels.length - 1;
  }

  get factor(): number {
    return this.levels[this.level] as number;
  }

  /** The level of `load`: the curve's factor rounded down to a level, never below `min`. */
  levelOf(load: number): number {
    const f = curveAt(this.#steps, this.#min, load);
    const levels = this.levels;
    let i = levels.length - 1;
    while (i > 0 && (levels[i] as number) > f + 1e-9) i--;
    return i;
  }

  /** Takes one load sample in [0, 1]; returns the (possibly new) level. */
  next(load: number): number {
    const down = this.levelOf(load);
    if (down < this.level) {
      this.level = down;
      this.#streak = 0;
      return down;
    }
    // The curve falls as load rises: `up` ≤ `down`, so a step up also needs `down` above the level.
    const up = this.levelOf(load + this.#margin);
    if (up <= this.level) {
      this.#streak = 0;
      return this.level;
    }
    this.#upTo = this.#streak === 0 ? up : Math.min(this.#upTo, up);
    if (++this.#streak >= this.#samples) {
      this.level = this.#upTo;
      this.#streak = 0;
    }
    return this.level;
  }

  /** Back to the full factor, as before any sample. */
  clear(): void {
    this.level = this.levels.length - 1;
    this.#streak = 0;
  }
}
