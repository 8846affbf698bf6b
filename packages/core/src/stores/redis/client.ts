import type { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../../errors/config-error';
import { StoreError } from '../../errors/store-error';

/** An ioredis standalone client or Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * ioredis options that stop it from re-sending a command whose connection closed before the reply
 * (it may already have run: a consume would count twice). Spread them into `new Redis({...})`.
 */
export const replaySafeRedisOptions = Object.freeze({ autoResendUnfulfilledCommands: false as const });

/** The Cluster equivalent of {@link replaySafeRedisOptions}: no retry of a command whose node connection closed. */
export const replaySafeClusterOptions = Object.freeze({ retryDelayOnFailover: 0 });

/** @internal */
export function isRedisClient(value: unknown): value is RedisClient {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return typeof c.evalsha === 'function' && typeof c.eval === 'function' && typeof c.status === 'string' && typeof c.options === 'object';
}

/**
 * Refuses clients that would replay a mutating script after a connection error (pitfall: double
 * counting). Checked once at construction; the message names the ioredis option to set.
 * @internal
 */
export function assertReplaySafe(client: RedisClient): void {
  if (client.isCluster) {
    const o = (client as Cluster).options;
    const failover = o.retryDelayOnFailover ?? 100;
    if (failover !== 0)
      throw new ConfigError(
        'client.options.retryDelayOnFailover',
        '0 (ioredis would re-send a script whose node connection closed, counting a consume twice; spread `replaySafeClusterOptions` into the Cluster options)',
        failover,
      );
    if (typeof o.clusterNodeRetryStrategy === 'function' && o.redisOptions?.autoResendUnfulfilledCommands !== false)
      throw new ConfigError(
        'client.options.redisOptions.autoResendUnfulfilledCommands',
        'false when `clusterNodeRetryStrategy` is set (ioredis would re-send unanswered scripts after reconnecting)',
        o.redisOptions?.autoResendUnfulfilledCommands,
      );
    return;
  }
  const resend = (client as Redis).options.autoResendUnfulfilledCommands;
  if (resend !== false)
    throw new ConfigError(
      'client.options.autoResendUnfulfilledCommands',
      'false (ioredis would re-send an unanswered script after reconnecting, counting a consume twice; spread `replaySafeRedisOptions` into the Redis options)',
      resend,
    );
}

/** One wait per client, shared by every call arriving while the client is not ready. */
const waits = new WeakMap<RedisClient, Promise<void>>();

/**
 * Resolves once the client can send (at once when it is ready: the hot path returns undefined).
 * Nothing is ever put in ioredis's offline queue: a command queued while Redis is down would run
 * long after the limiter answered by its `onStoreError` policy.
 * @internal
 */
export function whenReady(client: RedisClient, op: StoreError['operation'], timeoutMs: number): Promise<void> | undefined {
  const status = client.status;
  if (status === 'ready') return undefined;
  if (status === 'end') return Promise.reject(new StoreError(op, 'Redis connection is closed (status "end")'));
  let wait = waits.get(client);
  if (wait === undefined) {
    if (status === 'wait') (client as Redis).connect().catch(() => {});
    wait = new Promise<void>((resolve, reject) => {
      const done = (error?: Error) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('end', onEnd);
        waits.delete(client);
        if (error) reject(error);
        else resolve();
      };
      const onReady = () => done();
      const onEnd = () => done(new Error('Redis connection ended'));
      const timer = setTimeout(() => done(new Error(`Redis not ready within ${timeoutMs} ms (status "${client.status}")`)), timeoutMs);
      timer.unref?.();
      client.on('ready', onReady);
      client.on('end', onEnd);
    });
    waits.set(client, wait);
  }
  return wait.catch((error: Error) => {
    throw new StoreError(op, error.message, { cause: error, timedOut: error.message.includes('not ready') });
  });
}

/** True for Redis's "script not in cache" error, the only error after which a script is re-sent. */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
