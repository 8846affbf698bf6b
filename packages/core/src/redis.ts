// Entry point of `@ratekeeper/core/redis`: the only module that refers to a Redis client (types
// only), so memory-only users never load one.
export {
  type IoredisCompatibleClient,
  type NodeRedisClientLike,
  type NodeRedisClusterLike,
  type RedisClient,
  type RedisStoreClient,
  replaySafeClusterOptions,
  replaySafeRedisOptions,
} from './stores/redis/client';
export type { LeaseOptions } from './stores/redis/lease/options';
export { type RedisClock, RedisStore, type RedisStoreOptions } from './stores/redis/redis-store';
