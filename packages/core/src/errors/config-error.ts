import { MIGRATION_HINTS } from './migration-hints';
import { hasCode, RatekeeperError } from './ratekeeper-error';

/**
 * Thrown at construction when an option is invalid. The message names the option and the value,
 * e.g. ``Expected `limit` to be a positive integer, got 0``.
 */
export class ConfigError extends RatekeeperError {
  /** The option path that was rejected, e.g. `rules[1].window`. */
  readonly option: string;

  constructor(option: string, expected: string, value: unknown, message?: string) {
    super('ERR_RK_CONFIG', message ?? `Expected \`${option}\` to be ${expected}, got ${describe(value)}`);
    this.option = option;
  }
}

/**
 * Throws {@link ConfigError} for the first key of `options` not in `known`: a typo would otherwise
 * silently do nothing. `at` prefixes the option path (e.g. `rules[1]`).
 */
export function rejectUnknownOptions(options: object, known: ReadonlySet<string> | readonly string[], at = ''): void {
  const set: ReadonlySet<string> = known instanceof Set ? known : new Set(known as readonly string[]);
  for (const key of Object.keys(options)) {
    if (set.has(key)) continue;
    const path = at ? `${at}.${key}` : key;
    const migration = Object.hasOwn(MIGRATION_HINTS, key) ? MIGRATION_HINTS[key] : undefined;
    if (migration !== undefined) throw new ConfigError(path, '', undefined, `Unknown option \`${path}\`: ${migration}`);
    const guess = closest(key, set);
    const hint = guess ? `did you mean \`${guess}\`? ` : '';
    throw new ConfigError(
      path,
      '',
      undefined,
      `Unknown option \`${path}\`: ${hint}expected one of ${[...set].join(', ')}, got an unknown option`,
    );
  }
}

/** The known name within edit distance 2 of `name` (case-insensitive), if any. */
function closest(name: string, known: ReadonlySet<string>): string | undefined {
  const a = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(a, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** True when `value` is a {@link ConfigError}. */
export function isConfigError(value: unknown): value is ConfigError {
  return hasCode(value, 'ERR_RK_CONFIG');
}

/** Renders a rejected value for an error message: strings quoted, objects by type. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a ${typeof value}`;
}
