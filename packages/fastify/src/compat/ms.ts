// Durations as @fastify/rate-limit reads and writes them (it uses @lukeed/ms): `timeWindow: '1 minute'`
// in, `'retry in 7 seconds'` out. Reimplemented from that package's documented behaviour so the
// compat entry point adds no dependency.

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** A Julian year, as @lukeed/ms counts it. */
const YEAR = 365.25 * DAY;

/** Each accepted spelling of a unit, in milliseconds. */
const UNIT_MS: ReadonlyMap<string, number> = new Map(
  (
    [
      [1, ['', 'ms', 'msec', 'msecs', 'millisecond', 'milliseconds']],
      [SECOND, ['s', 'sec', 'secs', 'second', 'seconds']],
      [MINUTE, ['m', 'min', 'mins', 'minute', 'minutes']],
      [HOUR, ['h', 'hr', 'hrs', 'hour', 'hours']],
      [DAY, ['d', 'day', 'days']],
      [7 * DAY, ['w', 'wk', 'wks', 'week', 'weeks']],
      [YEAR, ['y', 'yr', 'yrs', 'year', 'years']],
    ] as const
  ).flatMap(([ms, names]) => names.map((name) => [name, ms] as const)),
);

/** A number (signed, fractional, or `.5`), spaces, then a unit word (possibly empty). */
const AMOUNT_AND_UNIT = /^(-?\d*\.?\d+) *([a-z]*)$/;

/**
 * Milliseconds in a duration string (`'1s'`, `'10 seconds'`, `'2.5 hrs'`, `'500'`), or `undefined`
 * when it is not one, or is zero (as @lukeed/ms answers).
 */
export function parseMs(text: string): number | undefined {
  const match = AMOUNT_AND_UNIT.exec(text.toLowerCase());
  const unit = match === null ? undefined : UNIT_MS.get(match[2] as string);
  if (match === null || unit === undefined) return undefined;
  const amount = Number.parseFloat(match[1] as string);
  // Zero reads as "no duration" (the caller then uses its default), as in @lukeed/ms.
  return amount ? amount * unit : undefined;
}

/** `'1 second'`, `'7 seconds'`, `'1 minute'`: the count rounded half up, in the largest unit that is at least 1. */
export function formatMsLong(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < SECOND) return `${ms} ms`;
  if (abs < MINUTE) return counted(abs / SECOND, sign, 'second');
  if (abs < HOUR) return counted(abs / MINUTE, sign, 'minute');
  if (abs < DAY) return counted(abs / HOUR, sign, 'hour');
  if (abs < YEAR) return counted(abs / DAY, sign, 'day');
  return counted(abs / YEAR, sign, 'year');
}

function counted(value: number, sign: string, unit: string): string {
  const n = Number.isInteger(value) ? value : Math.floor(value + 0.5);
  return `${sign}${n} ${unit}${n === 1 ? '' : 's'}`;
}
