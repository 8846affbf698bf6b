import { replaySafeClusterOptions, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Cluster, Redis } from 'ioredis';

/** Port of the standalone redis-server started by the Jest global setup. */
export function redisPort(): number {
  const port = Number(process.env.RK_REDIS_PORT);
  if (!port) throw new Error('RK_REDIS_PORT is not set: the Jest global setup must start redis-server');
  return port;
}

/** Ports of the 3-master Cluster started by the Jest global setup. */
export function clusterPorts(): number[] {
  const ports = (process.env.RK_CLUSTER_PORTS ?? '').split(',').filter(Boolean).map(Number);
  if (ports.length === 0) throw new Error('RK_CLUSTER_PORTS is not set: the Jest global setup must start the Cluster');
  return ports;
}

/** A replay-safe client of the shared standalone server (or of `port`). */
export function newRedis(port = redisPort(), extra: Record<string, unknown> = {}): Redis {
  return new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions, ...extra });
}

/** A replay-safe client of the shared Cluster. */
export function newCluster(): Cluster {
  return new Cluster(
    clusterPorts().map((port) => ({ host: '127.0.0.1', port })),
    { ...replaySafeClusterOptions },
  );
}

/** A prefix no other test uses. */
let seq = 0;
export function uniquePrefix(name: string): string {
  seq++;
  return `t:${process.pid}:${Math.floor(Math.random() * 1e9).toString(36)}:${name}:${seq}:`;
}

/**
 * Polls `check` until it holds, for conditions outside the test's control (a restarted server
 * accepting connections, Redis expiring a key on its own clock). Polling, not a timed assertion:
 * a slow machine only makes it take longer, up to `attempts × intervalMs`.
 */
export async function pollUntil(check: () => boolean | Promise<boolean>, what: string, intervalMs = 10, attempts = 500): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await pause(intervalMs);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Resolves after `ms` without keeping the process alive. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
