import { RedisStore } from '@ratekeeper/core/redis';
import { describeStoreContract } from '@ratekeeper/core/testing';
import { newCluster, newRedis } from './helpers';

const redis = newRedis();
const cluster = newCluster();
afterAll(async () => {
  await Promise.all([redis.quit(), cluster.quit()]);
});

describeStoreContract({ describe, it }, 'RedisStore (standalone, client clock)', () => new RedisStore({ client: redis, clock: 'client' }));
describeStoreContract({ describe, it }, 'RedisStore (Cluster, client clock)', () => new RedisStore({ client: cluster, clock: 'client' }));
