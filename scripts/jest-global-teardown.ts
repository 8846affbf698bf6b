// Stops the Redis servers started by jest-global-setup.ts (by PID).
import './jest-global-setup';

export default async function teardown(): Promise<void> {
  const servers = globalThis.__RK_REDIS__;
  globalThis.__RK_REDIS__ = undefined;
  if (servers) await Promise.all([servers.standalone.stop(), servers.cluster.stop()]);
}
