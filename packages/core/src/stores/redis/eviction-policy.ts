import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './client';

/**
 * Policies under which Redis may evict a limiter's keys before their TTL: a flood of fresh keys
 * would then evict a blocked client's counter or `blockFor` deadline and unblock it. `noeviction`
 * and `volatile-ttl` (evicts what expires soonest, i.e. what matters least) are safe.
 */
const EVICTING = new Set(['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random']);

/** Nodes already checked: one warning per Redis, however many stores share it. */
const checked = new WeakSet<object>();

/**
 * Reads `maxmemory-policy` from every master once and warns (a process warning, code
 * `RATEKEEPER_REDIS_EVICTION`) when Redis may evict limiter keys. Best effort: managed services
 * that disable `CONFIG` are skipped in silence; a Cluster master whose connection is not ready yet
 * is checked when it is; nothing is queued.
 * @internal
 */
export function warnIfEvicting(client: RedisClient): void {
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
  for (const node of nodes) {
    if (checked.has(node)) continue;
    checked.add(node);
    if (node.status === 'ready') check(node);
    else node.once('ready', () => check(node));
  }
}

function check(node: Redis): void {
  node.config('GET', 'maxmemory-policy').then(
    (reply) => {
      const policy = String((reply as unknown[])[1] ?? '');
      if (!EVICTING.has(policy)) return;
      process.emitWarning(
        `ratekeeper: Redis at ${node.options.host}:${node.options.port} has maxmemory-policy ${policy}, which can evict ` +
          "rate-limit keys before they expire (a flood of new keys could then unblock a blocked client). Use 'noeviction' " +
          "or 'volatile-ttl', or a dedicated Redis for rate limiting.",
        { code: 'RATEKEEPER_REDIS_EVICTION' },
      );
    },
    () => {},
  );
}
