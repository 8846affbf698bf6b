import type { Cluster, Redis } from 'ioredis';
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

/** True when ioredis will not re-send a script whose connection closed before the reply. @internal */
export function isReplaySafe(client: RedisClient): boolean {
  if (client.isCluster) {
    const o = (client as Cluster).options;
    if ((o.retryDelayOnFailover ?? 100) !== 0) return false;
    return !(typeof o.clusterNodeRetryStrategy === 'function' && o.redisOptions?.autoResendUnfulfilledCommands !== false);
  }
  return (client as Redis).options.autoResendUnfulfilledCommands === false;
}

/**
 * The connection a store sends on: the given client when it is replay-safe, else a replay-safe
 * duplicate of it (same address and options), so a consume that ran before a reconnect is never
 * re-sent and counted twice. The duplicate ends when the given client ends, so it never keeps a
 * process alive that its owner shut down. @internal
 */
export function replaySafeConnection(client: RedisClient): { connection: RedisClient; owned: boolean } {
  if (isReplaySafe(client)) return { connection: client, owned: false };
  let connection: RedisClient;
  // The duplicate stops reconnecting once its owner was closed: ioredis emits no 'end' for a client
  // disconnected while it was reconnecting, and a duplicate retrying forever keeps the process alive.
  const ownerClosed = (): boolean =>
    client.status === 'end' || (client as unknown as { manuallyClosing?: boolean }).manuallyClosing === true;
  if (client.isCluster) {
    const o = (client as Cluster).options;
    const retry = o.clusterRetryStrategy;
    const override = {
      ...replaySafeClusterOptions,
      redisOptions: { ...o.redisOptions, autoResendUnfulfilledCommands: false },
      clusterRetryStrategy: (times: number, reason?: Error) =>
        ownerClosed() ? null : retry ? retry(times, reason) : Math.min(100 + times * 2, 2000),
    };
    connection = (client as Cluster).duplicate(undefined, override as Parameters<Cluster['duplicate']>[1]);
  } else {
    const retry = (client as Redis).options.retryStrategy;
    connection = (client as Redis).duplicate({
      ...replaySafeRedisOptions,
      retryStrategy: (times: number) => (ownerClosed() ? null : retry ? retry(times) : Math.min(times * 50, 2000)),
    });
  }
  client.once('end', () => connection.disconnect());
  return { connection, owned: true };
}

/** One 'ready' wait per client, shared by every call arriving while the client is not ready. */
const waits = new WeakMap<RedisClient, Promise<void>>();

function readyOrEnd(client: RedisClient): Promise<void> {
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
  client: RedisClient,
  op: StoreError['operation'],
  timeoutMs: number,
  lastError: () => unknown = () => undefined,
): Promise<void> | undefined {
  const status = client.status;
  if (status === 'ready') return undefined;
  if (status === 'end') return Promise.reject(new StoreError(op, 'Redis connection is closed (status "end")', { cause: lastError() }));
  if (status === 'wait') (client as Redis).connect().catch(() => {});
  const wait = readyOrEnd(client);
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const cause = lastError();
      const why = cause instanceof Error ? `: ${cause.message}` : '';
      reject(new StoreError(op, `Redis not ready within ${timeoutMs} ms (status "${client.status}")${why}`, { cause, timedOut: true }));
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
