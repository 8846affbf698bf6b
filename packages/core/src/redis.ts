// Entry point of `@ratekeeper/core/redis`: the only module that refers to ioredis (types only), so
// memory-only users never load it.
export { type RedisClient, replaySafeClusterOptions, replaySafeRedisOptions } from './stores/redis/client';
export { type RedisClock, RedisStore, type RedisStoreOptions } from './stores/redis/redis-store';
