import { type Duration, parseDuration } from '../../../duration';
import { ConfigError, rejectUnknownOptions } from '../../../errors/config-error';

/** Options of lease mode (`RedisStore({ lease })`); see docs/redis.md, "Lease mode". */
export interface LeaseOptions {
  /**
   * Units one process takes from Redis per round trip and spends locally: a number (1 is plain
   * mode), or `'auto'`: from each key's observed rate in this process, about 100 ms of its traffic,
   * 1 for cold keys, at most 1,000 and at most a tenth of the smallest rule capacity.
   */
  size: number | 'auto';
  /** A lease nobody spent from for this long is given back to Redis. @default '1s' */
  ttl?: Duration;
  /** Keys tracked per limiter (leases and rates); the least recently refilled is given back first. @default 10000 */
  maxKeys?: number;
}

/** @internal */
export interface ResolvedLease {
  readonly size: number | 'auto';
  readonly ttlMs: number;
  readonly maxKeys: number;
}

const KEYS: ReadonlySet<string> = new Set(['size', 'ttl', 'maxKeys']);

/** Validates `lease` (a {@link ConfigError} names the option and the value); undefined when absent. @internal */
export function resolveLease(value: unknown): ResolvedLease | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null) throw new ConfigError('lease', "an object such as { size: 'auto' }", value);
  rejectUnknownOptions(value, KEYS, 'lease');
  const o = value as Record<string, unknown>;
  const size = o.size;
  if (size !== 'auto' && !(typeof size === 'number' && Number.isSafeInteger(size) && size >= 1))
    throw new ConfigError('lease.size', "a positive integer or 'auto'", size);
  const ttlMs = o.ttl === undefined ? 1000 : parseDuration(o.ttl, 'lease.ttl');
  const maxKeys = o.maxKeys ?? 10_000;
  if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1)
    throw new ConfigError('lease.maxKeys', 'a positive integer', maxKeys);
  return { size, ttlMs, maxKeys };
}
