const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const UNITS: readonly (readonly [number, string])[] = [
  [DAY, 'day'],
  [HOUR, 'hour'],
  [MINUTE, 'minute'],
  [SECOND, 'second'],
];

/**
 * Milliseconds in words, as the `ms` package's long form writes them (koa-ratelimit's default
 * message uses it): the largest unit the value reaches, rounded, plural from one and a half of it
 * (`90000` → `2 minutes`, `60000` → `1 minute`, `3599990` → `60 minutes`); below a second, `N ms`.
 */
export function longDuration(ms: number): string {
  const size = Math.abs(ms);
  for (const [unit, name] of UNITS) {
    if (size >= unit) return `${Math.round(ms / unit)} ${name}${size >= unit * 1.5 ? 's' : ''}`;
  }
  return `${ms} ms`;
}
