import type { Cluster, Redis } from 'ioredis';
import { ioredisConnection, isIoredisLike } from './ioredis';
import { isNodeRedisLike, type NodeRedisClientLike, type NodeRedisClusterLike, nodeRedisConnection } from './node-redis';
import type { Connection } from './types';

/** Connections over clients the store does not own, one per client: shared listeners and state. */
const shared = new WeakMap<object, Connection>();

/** True for a client of a supported family (nothing is opened). @internal */
export function isSupportedClient(client: unknown): boolean {
  return typeof client === 'object' && client !== null && (isIoredisLike(client) || isNodeRedisLike(client));
}

/**
 * The store's connection over any supported client, or undefined when `client` is none of them.
 * A store that opened its own duplicate gets a connection of its own. @internal
 */
export function toConnection(client: unknown): Connection | undefined {
  if (typeof client !== 'object' || client === null) return undefined;
  const known = shared.get(client);
  if (known !== undefined) return known;
  let connection: Connection;
  if (isIoredisLike(client)) connection = ioredisConnection(client as Redis | Cluster);
  else if (isNodeRedisLike(client)) connection = nodeRedisConnection(client as NodeRedisClientLike | NodeRedisClusterLike);
  else return undefined;
  if (!connection.owned) shared.set(client, connection);
  return connection;
}

export type { Connection, ServerNode } from './types';
