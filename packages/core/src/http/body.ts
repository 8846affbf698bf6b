import type { Decision } from '../decision';
import { ConfigError } from '../errors/config-error';

/** A serialised body for the limited response. */
export interface LimitedBody {
  readonly body: string;
  readonly contentType: string;
}

/** Default text of the limited response. */
export const DEFAULT_MESSAGE = 'Too many requests, please try again later.';

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** Strings are sent as text; anything else as JSON. */
export function serializeBody(value: unknown): LimitedBody {
  if (typeof value === 'string') return { body: value, contentType: TEXT };
  if (value === undefined) return { body: DEFAULT_MESSAGE, contentType: TEXT };
  return { body: JSON.stringify(value), contentType: JSON_TYPE };
}

/**
 * @internal A static body is serialised once; a function runs per limited request, and the
 * pipeline awaits what it returns (a thenable included) and serialises that.
 */
export type BodyFactory<Req> = LimitedBody | ((req: Req, decision: Decision) => unknown);

/** @internal Validates `message` once. */
export function compileMessage<Req>(message: unknown): BodyFactory<Req> {
  if (typeof message === 'function') return message as (req: Req, decision: Decision) => unknown;
  if (message === undefined || typeof message === 'string' || (typeof message === 'object' && message !== null))
    return serializeBody(message);
  throw new ConfigError('message', 'a string, an object or a function', message);
}

/** @internal Validates `statusCode`. */
export function resolveStatusCode(value: unknown, option = 'statusCode'): number {
  if (value === undefined) return 429;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 400 || value > 599)
    throw new ConfigError(option, 'an integer HTTP error status from 400 to 599', value);
  return value;
}
