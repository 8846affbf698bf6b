import { RedisStore } from '@ratekeeper/core/redis';
import { describeStoreContract } from '../store-contract';
import { newCluster, newRedis } from './helpers';

const redis = newRedis();
const cluster = newCluster();
afterAll(async () => {
  await Promise.all([redis.quit(), cluster.quit()]);
});

describeStoreContract('RedisStore (standalone, client clock)', () => new RedisStore({ client: redis, clock: 'client' }));
describeStoreContract('RedisStore (Cluster, client clock)', () => new RedisStore({ client: cluster, clock: 'client' }));
