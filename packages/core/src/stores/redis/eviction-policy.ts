import type { Connection, ServerNode } from './connection';

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
export function warnIfEvicting(connection: Connection): void {
  for (const node of connection.masters()) {
    if (checked.has(node.id)) continue;
    checked.add(node.id);
    node.onceReady(() => check(node));
  }
}

/** The value of a one-parameter `CONFIG GET` reply: a flat array (RESP2), a Map or an object (RESP3). */
function configValue(reply: unknown): string {
  if (Array.isArray(reply)) return String(reply[1] ?? '');
  if (reply instanceof Map) return String([...reply.values()][0] ?? '');
  if (typeof reply === 'object' && reply !== null) return String(Object.values(reply)[0] ?? '');
  return '';
}

function check(node: ServerNode): void {
  node.command(['CONFIG', 'GET', 'maxmemory-policy']).then(
    (reply) => {
      const policy = configValue(reply);
      if (!EVICTING.has(policy)) return;
      process.emitWarning(
        `ratekeeper: Redis at ${node.address} has maxmemory-policy ${policy}, which can evict ` +
          "rate-limit keys before they expire (a flood of new keys could then unblock a blocked client). Use 'noeviction' " +
          "or 'volatile-ttl', or a dedicated Redis for rate limiting.",
        { code: 'RATEKEEPER_REDIS_EVICTION' },
      );
    },
    () => {},
  );
}
