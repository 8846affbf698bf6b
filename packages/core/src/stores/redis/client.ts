import type { Cluster, Redis } from 'ioredis';
import { StoreError } from '../../errors/store-error';
import type { Connection } from './connection';
import type { NodeRedisClientLike, NodeRedisClusterLike } from './connection/node-redis';

/** An ioredis standalone client or Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * A client of ioredis's API that is not ioredis itself: iovalkey's `Redis` and `Cluster` (the
 * Valkey fork of ioredis). Typed structurally, so no client package's types are needed.
 */
export interface IoredisCompatibleClient {
  readonly status: string;
  readonly isCluster: boolean;
  readonly options: object;
  evalsha(...args: never[]): Promise<unknown>;
  eval(...args: never[]): Promise<unknown>;
}

export type { NodeRedisClientLike, NodeRedisClusterLike };

/**
 * Every client `RedisStore` accepts: ioredis `Redis`/`Cluster` (Sentinel included), iovalkey, and a
 * node-redis (`redis` v5+) `createClient()` or `createCluster()`.
 */
export type RedisStoreClient = RedisClient | IoredisCompatibleClient | NodeRedisClientLike | NodeRedisClusterLike;

/**
 * ioredis options that stop it from re-sending a command whose connection closed before the reply
 * (it may already have run: a consume would count twice) and, through Sentinel, make it follow a
 * failover at once (`+switch-master`) instead of writing to the old master until Sentinel drops
 * the connection (~10 s: counts made there are lost). Spread them into `new Redis({...})`.
 */
export const replaySafeRedisOptions = Object.freeze({ autoResendUnfulfilledCommands: false as const, failoverDetector: true as const });

/** The Cluster equivalent of {@link replaySafeRedisOptions}: no retry of a command whose node connection closed. */
export const replaySafeClusterOptions = Object.freeze({ retryDelayOnFailover: 0 });

/** One 'ready' wait per connection, shared by every call arriving while it is not ready. */
const waits = new WeakMap<Connection, Promise<void>>();

function readyOrEnd(client: Connection): Promise<void> {
  let wait = waits.get(client);
  if (wait === undefined) {
    wait = new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        client.off('ready', onReady);
        client.off('end', onEnd);
        waits.delete(client);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error('Redis connection ended'));
      client.on('ready', onReady);
      client.on('end', onEnd);
    });
    // Callers that gave up must not leave the shared wait's rejection unhandled.
    wait.catch(() => {});
    waits.set(client, wait);
  }
  return wait;
}

/**
 * Resolves once the client can send (at once when it is ready: the hot path returns undefined).
 * Each call waits at most its own `timeoutMs`. Nothing is ever put in ioredis's offline queue: a
 * command queued while Redis is down would run long after the limiter answered by its
 * `onStoreError` policy. `lastError` names the real cause (e.g. WRONGPASS) in the failure.
 * @internal
 */
export function whenReady(
  client: Connection,
  op: StoreError['operation'],
  timeoutMs: number,
  lastError: () => unknown = () => undefined,
): Promise<void> | undefined {
  const status = client.status();
  if (status === 'ready') return undefined;
  if (status === 'end') return Promise.reject(new StoreError(op, 'Redis connection is closed (status "end")', { cause: lastError() }));
  if (status === 'wait') client.connect();
  const wait = readyOrEnd(client);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const cause = lastError();
      const why = cause instanceof Error ? `: ${cause.message}` : '';
      reject(new StoreError(op, `Redis not ready within ${timeoutMs} ms (status "${client.status()}")${why}`, { cause, timedOut: true }));
    }, timeoutMs);
    timer.unref?.();
    wait.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: Error) => {
        clearTimeout(timer);
        reject(new StoreError(op, error.message, { cause: lastError() ?? error }));
      },
    );
  });
}

/** True for Redis's "script not in cache" error, the only error after which a script is re-sent. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
