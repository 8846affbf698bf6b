const BRAND = Symbol.for('ratekeeper.error');

/** Stable machine-readable codes carried by every ratekeeper error. */
export type RatekeeperErrorCode = 'ERR_RK_CONFIG' | 'ERR_RK_RATE_LIMITED' | 'ERR_RK_STORE';

/**
 * Base class of every error ratekeeper throws. Check with the `is*Error()` guards rather than
 * `instanceof`: the guards recognise errors from another installed copy of the package too.
 */
export class RatekeeperError extends Error {
  /** Stable code, e.g. `ERR_RK_CONFIG`. */
  readonly code: RatekeeperErrorCode;

  constructor(code: RatekeeperErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: code });
  }
}

/** True when `value` is any ratekeeper error (from this or another copy of the package). */
export function isRatekeeperError(value: unknown): value is RatekeeperError {
  return typeof value === 'object' && value !== null && BRAND in value;
}

/** @internal brand check for one code. */
export function hasCode(value: unknown, code: RatekeeperErrorCode): boolean {
  return isRatekeeperError(value) && (value as unknown as Record<symbol, unknown>)[BRAND] === code;
}
