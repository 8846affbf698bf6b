import { ConfigError } from './errors/config-error';
import { durationHint } from './errors/migration-hints';

/** Milliseconds, or a number with a unit: `'500ms'`, `'1s'`, `'15m'`, `'1h'`, `'1d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Longest accepted duration: one year. Longer windows overflow TTLs and header integers. */
export const MAX_DURATION_MS = 365 * 86_400_000;

/**
 * Parses a {@link Duration} into whole milliseconds; throws {@link ConfigError} naming `option`.
 * `allowZero` admits 0 (e.g. for `blockFor`).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim());
    if (!match) {
      const hint = durationHint(value);
      throw new ConfigError(
        option,
        `a duration in milliseconds or a string such as '500ms', '1s', '15m', '1h', '1d'${hint ? ` (did you mean ${hint}?)` : ''}`,
        value,
      );
    }
    ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  } else {
    throw new ConfigError(option, "a duration in milliseconds or a string such as '15m'", value);
  }
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(ms) || ms < min || ms > MAX_DURATION_MS) {
    throw new ConfigError(option, `a whole number of milliseconds from ${min} to ${MAX_DURATION_MS} (one year)`, value);
  }
  return ms;
}

/** Short human form used in default policy names: `60000` -> `1min`, `3600000` -> `1hr`. */
export function humanDuration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}day`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}hr`;
  if (ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms % 1_000 === 0) return `${ms / 1_000}sec`;
  return `${ms}ms`;
}
