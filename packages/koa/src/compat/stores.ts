import { ConfigError, MemoryStore, type Rule, SLIDING_LOG_MAX_LIMIT } from '@ratekeeper/core';
import { RedisStore, type RedisStoreClient } from '@ratekeeper/core/redis';

/** koa-ratelimit 5.1+ shares one Map among the memory middlewares given no `db`: so does the compat. */
export const DEFAULT_DB = new Map<unknown, unknown>();

// One store per Map and per Redis client, so middlewares sharing a `db` share their counts, as
// they do on koa-ratelimit (and one Redis client gets one store, not a connection per middleware).
const memoryStores = new WeakMap<Map<unknown, unknown>, MemoryStore>();
const redisStores = new WeakMap<object, RedisStore>();
const clientClockStores = new WeakMap<object, RedisStore>();

/** The MemoryStore holding the counts of the windows kept in `db`. */
export function memoryStoreFor(db: Map<unknown, unknown>): MemoryStore {
  let store = memoryStores.get(db);
  if (store === undefined) {
    store = new MemoryStore();
    memoryStores.set(db, store);
  }
  return store;
}

/** The RedisStore on the app's client: on Redis time, or on the limiter's `now` when the app passes one. */
export function redisStoreFor(db: unknown, clientClock: boolean): RedisStore {
  const cache = clientClock ? clientClockStores : redisStores;
  let store = typeof db === 'object' && db !== null ? cache.get(db) : undefined;
  if (store === undefined) {
    try {
      store = new RedisStore({ client: db as RedisStoreClient, ...(clientClock ? { clock: 'client' as const } : {}) });
    } catch (error) {
      if (error instanceof ConfigError && error.option === 'client')
        throw new ConfigError('db', "an ioredis, iovalkey or node-redis client with driver 'redis'", db);
      throw error;
    }
    cache.set(db as object, store);
  }
  return store;
}

/**
 * The rule counting one memory-driver window, whose key names the window (so a new window starts
 * from zero, whatever the algorithm would carry over). Within the window every request must count
 * until its end: the sliding log keeps each one for `duration` after it was made, which is after
 * the window's end. Above the log's cap, a bucket of `max` tokens that gains one every `duration`
 * does the same in O(1): less than one token comes back before the window ends.
 */
export function memoryRule(max: number, durationMs: number): Rule {
  if (max <= SLIDING_LOG_MAX_LIMIT) return { algorithm: 'sliding-log', limit: max, window: durationMs };
  return { algorithm: 'token-bucket', limit: 1, window: durationMs, burst: max };
}
