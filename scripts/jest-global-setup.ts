// Starts the shared Redis servers once per Jest run: a standalone redis-server and a 3-master
// Cluster. Workers find them through RK_REDIS_PORT and RK_CLUSTER_PORTS; teardown kills them by PID.
import { type RedisCluster, type RedisServer, startCluster, startRedis } from './redis-server';

declare global {
  // eslint-disable-next-line no-var
  var __RK_REDIS__: { standalone: RedisServer; cluster: RedisCluster } | undefined;
}

export default async function setup(): Promise<void> {
  const [standalone, cluster] = await Promise.all([startRedis(), startCluster()]);
  globalThis.__RK_REDIS__ = { standalone, cluster };
  process.env.RK_REDIS_PORT = String(standalone.port);
  process.env.RK_CLUSTER_PORTS = cluster.ports.join(',');
}
