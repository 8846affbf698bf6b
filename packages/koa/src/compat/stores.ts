import { ConfigError, MemoryStore, type Rule } from '@ratekeeper/core';
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
 * The rule counting one memory-driver window: ratekeeper's anchored window, which starts at the
 * id's first request and lasts `duration`, as koa-ratelimit's memory driver counts (any `max`, in
 * O(1)). Its key names the Map's window too, so a window the app cleared from the Map starts from
 * zero.
 */
export function memoryRule(max: number, durationMs: number): Rule {
  return { algorithm: 'anchored-window', limit: max, window: durationMs };
}
