import { createHash } from 'node:crypto';
import type { ConcurrencySlots, SlotResult } from '../types';
import { isNoScript, whenReady } from './client';
import type { Connection } from './connection';
import type { ScriptArgs } from './connection/types';
import { hashTag } from './keys';

/**
 * One sorted set per key: holder → lease expiry (ms). Acquire drops expired leases, then adds the
 * holder when fewer than `max` remain (a holder already present is renewed: a replayed acquire can
 * never take two slots); the key's TTL always covers its latest lease, so an abandoned key expires.
 * ARGV: op ('a' acquire, 'r' release, 'e' extend), holder, max, leaseMs, now (0: Redis TIME).
 */
const SCRIPT = `local key = KEYS[1]
local op = ARGV[1]
local holder = ARGV[2]
if op == 'r' then
  redis.call('ZREM', key, holder)
  return 0
end
local max = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if op == 'e' then
  if not redis.call('ZSCORE', key, holder) then return 0 end
  redis.call('ZADD', key, now + lease, holder)
  redis.call('PEXPIRE', key, lease)
  return 1
end
local n = redis.call('ZCARD', key)
if n < max or redis.call('ZSCORE', key, holder) then
  redis.call('ZADD', key, now + lease, holder)
  redis.call('PEXPIRE', key, lease)
  return {1, redis.call('ZCARD', key), -1}
end
local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
return {0, n, tonumber(first[2]) - now}
`;
const SHA = createHash('sha1').update(SCRIPT).digest('hex');

/**
 * Concurrency slots on Redis (standalone or Cluster: one key per user key, so one slot): one
 * `EVALSHA` per acquire, release and extend. Leases carry Redis time (or the limiter's clock with
 * `clock: 'client'`), so a crashed process's slots come back after `leaseMs` whatever the clocks of
 * the app servers. @internal
 */
export class RedisSlots implements ConcurrencySlots {
  readonly #connection: Connection;
  readonly #prefix: string;
  readonly #max: string;
  readonly #leaseMs: string;
  readonly #clientClock: boolean;
  readonly #timeoutMs: number;
  readonly #lastError: () => unknown;

  constructor(
    connection: Connection,
    prefix: string,
    max: number,
    leaseMs: number,
    options: { clientClock: boolean; timeoutMs: number; lastError: () => unknown },
  ) {
    this.#connection = connection;
    this.#prefix = prefix;
    this.#max = String(max);
    this.#leaseMs = String(leaseMs);
    this.#clientClock = options.clientClock;
    this.#timeoutMs = options.timeoutMs;
    this.#lastError = options.lastError;
  }

  acquire(key: string, holder: string, now: number): Promise<SlotResult> {
    return this.#call(key, 'a', holder, now).then((r) => r as SlotResult);
  }

  release(key: string, holder: string, now: number): Promise<void> {
    return this.#call(key, 'r', holder, now).then(() => undefined);
  }

  extend(key: string, holder: string, now: number): Promise<boolean> {
    return this.#call(key, 'e', holder, now).then((r) => r === 1);
  }

  #call(key: string, op: 'a' | 'r' | 'e', holder: string, now: number): Promise<unknown> {
    const args: ScriptArgs = [
      SHA,
      1,
      `${this.#prefix}{${hashTag(key)}}`,
      op,
      holder,
      this.#max,
      this.#leaseMs,
      this.#clientClock ? now : 0,
    ];
    const operation = op === 'r' ? 'refund' : 'consume';
    const ready = whenReady(this.#connection, operation, this.#timeoutMs, this.#lastError);
    return ready === undefined ? this.#send(args) : ready.then(() => this.#send(args));
  }

  #send(args: ScriptArgs): Promise<unknown> {
    const connection = this.#connection;
    return connection.evalsha(args).catch((error: unknown) => {
      // Only NOSCRIPT proves the script did not run.
      if (!isNoScript(error)) throw error;
      args[0] = SCRIPT;
      return connection.eval(args);
    });
  }
}
