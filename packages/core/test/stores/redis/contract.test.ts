import { RedisStore } from '@ratekeeper/core/redis';
import { describeStoreContract } from '@ratekeeper/core/testing';
import { ClientPool, FAMILY_TOPOLOGIES } from './clients';

// The store contract for every client family on standalone and Cluster (replay-safe clients: the
// store shares each as it is). Clients are made by the first test of each run.

const pool = new ClientPool();
afterAll(() => pool.closeAll());

for (const [name, topology, family] of FAMILY_TOPOLOGIES) {
  describeStoreContract(
    { describe, it },
    `RedisStore (${name}, ${topology === 'cluster' ? 'Cluster' : 'standalone'}, client clock)`,
    async () => new RedisStore({ client: await pool.make(family, topology), clock: 'client' }),
  );
}
