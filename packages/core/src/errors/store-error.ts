import { hasCode, RatekeeperError } from './ratekeeper-error';

/** A store call failed or exceeded `timeoutMs`. The original error is in `cause`. */
export class StoreError extends RatekeeperError {
  /** The store operation that failed. */
  readonly operation: 'consume' | 'peek' | 'refund' | 'reset';
  /** True when the call did not answer within `timeoutMs`. */
  readonly timedOut: boolean;

  constructor(operation: StoreError['operation'], message: string, options: { cause?: unknown; timedOut?: boolean } = {}) {
    super('ERR_RK_STORE', message, { cause: options.cause });
    this.operation = operation;
    this.timedOut = options.timedOut ?? false;
  }
}

/** True when `value` is a {@link StoreError}. */
export function isStoreError(value: unknown): value is StoreError {
  return hasCode(value, 'ERR_RK_STORE');
}
