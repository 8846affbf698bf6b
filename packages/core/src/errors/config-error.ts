import { hasCode, RatekeeperError } from './ratekeeper-error';

/**
 * Thrown at construction when an option is invalid. The message names the option and the value,
 * e.g. ``Expected `limit` to be a positive integer, got 0``.
 */
export class ConfigError extends RatekeeperError {
  /** The option path that was rejected, e.g. `rules[1].window`. */
  readonly option: string;

  constructor(option: string, expected: string, value: unknown) {
    super('ERR_RK_CONFIG', `Expected \`${option}\` to be ${expected}, got ${describe(value)}`);
    this.option = option;
  }
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
