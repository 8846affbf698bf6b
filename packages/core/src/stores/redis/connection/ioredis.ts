import type { Cluster, Redis } from 'ioredis';
import type { Connection, ConnectionStatus, ScriptArgs, ServerNode } from './types';

type IoClient = Redis | Cluster;
type Send = (...args: ScriptArgs) => Promise<unknown>;

/** Cluster slot whose master is the time base: every app server picks the same one. */
const CLOCK_SLOT = 0;

/** Methods of an ioredis `Redis` and `Cluster` the connection calls (`duplicate` for a client that is not replay-safe). */
const METHODS = ['evalsha', 'eval', 'call', 'on', 'off', 'once', 'duplicate', 'connect', 'disconnect', 'quit'] as const;

/**
 * True for an ioredis (or iovalkey, its fork) `Redis` or `Cluster`: every method the connection
 * calls, so a look-alike missing one is a ConfigError naming `client`, not a TypeError later. @internal
 */
export function isIoredisLike(value: object): boolean {
  const c = value as Record<string, unknown>;
  if (typeof c.status !== 'string' || typeof c.options !== 'object' || c.options === null || typeof c.isCluster !== 'boolean') return false;
  for (const m of METHODS) if (typeof c[m] !== 'function') return false;
  return !c.isCluster || typeof c.nodes === 'function';
}

/**
 * True when the client will not re-send a script whose connection closed before the reply and,
 * through Sentinel, follows a failover at once. Without `failoverDetector` an ioredis Sentinel
 * client keeps writing to the old master until Sentinel demotes it and drops its clients (~10 s
 * after a `SENTINEL FAILOVER`, measured on Redis 7.0): every count made there is lost. @internal
 */
export function isReplaySafe(client: IoClient): boolean {
  if (client.isCluster) {
    const o = (client as Cluster).options;
    if ((o.retryDelayOnFailover ?? 100) !== 0) return false;
    return !(typeof o.clusterNodeRetryStrategy === 'function' && o.redisOptions?.autoResendUnfulfilledCommands !== false);
  }
  const o = (client as Redis).options;
  return o.autoResendUnfulfilledCommands === false && (!viaSentinel(client) || o.failoverDetector === true);
}

/** True for a standalone client that finds its master through Sentinel. */
function viaSentinel(client: IoClient): boolean {
  return !client.isCluster && Array.isArray((client as Redis).options.sentinels);
}

/**
 * The client the store sends on: the given one when it is replay-safe, else a replay-safe
 * duplicate (same address and options), so a consume that ran before a reconnect is never re-sent
 * and counted twice. The duplicate ends when the given client ends, so it never keeps a process
 * alive that its owner shut down; through Sentinel it also listens for `+switch-master`
 * (`failoverDetector`), so it follows a failover at once.
 */
function replaySafe(client: IoClient): { connection: IoClient; owned: boolean } {
  if (isReplaySafe(client)) return { connection: client, owned: false };
  let connection: IoClient;
  // The duplicate stops reconnecting once its owner was closed: ioredis emits no 'end' for a client
  // disconnected while it was reconnecting, and a duplicate retrying forever keeps the process alive.
  const ownerClosed = (): boolean =>
    client.status === 'end' || (client as unknown as { manuallyClosing?: boolean }).manuallyClosing === true;
  if (client.isCluster) {
    const o = (client as Cluster).options;
    const retry = o.clusterRetryStrategy;
    const override = {
      retryDelayOnFailover: 0,
      redisOptions: { ...o.redisOptions, autoResendUnfulfilledCommands: false },
      clusterRetryStrategy: (times: number, reason?: Error) =>
        ownerClosed() ? null : retry ? retry(times, reason) : Math.min(100 + times * 2, 2000),
    };
    connection = (client as Cluster).duplicate(undefined, override as Parameters<Cluster['duplicate']>[1]);
  } else {
    const retry = (client as Redis).options.retryStrategy;
    connection = (client as Redis).duplicate({
      autoResendUnfulfilledCommands: false,
      ...(viaSentinel(client) ? { failoverDetector: true } : {}),
      retryStrategy: (times: number) => (ownerClosed() ? null : retry ? retry(times) : Math.min(times * 50, 2000)),
    });
  }
  // (An owner closed while it waited to reconnect emits no 'end' either: its duplicate then ends
  // with `store.close()`, or at its own next reconnect attempt, which `ownerClosed` stops.)
  client.once('end', () => endOwned(connection));
  return { connection, owned: true };
}

/**
 * Duplicates that ended: ioredis said 'end', or the store ended it because ioredis would not (see
 * `endOwned`). Their status is 'end' for good: an ended Cluster's nodes may still report closing
 * afterwards, which sets its status back to 'close' (seen with ioredis 6), and the store never
 * reconnects a duplicate.
 */
const abandoned = new WeakSet<IoClient>();

/**
 * Disconnects a client the store owns and makes sure it ends. Not when it already ended (the store
 * was closed first): ioredis's disconnect() on a closed socket arms a referenced 2 s destroy timer
 * that never clears, delaying the app's exit. Between reconnect attempts a client has no socket
 * left to close, and ioredis then emits no 'end' (its status stays 'reconnecting' or
 * 'disconnecting' for good): disconnect() cancels the next attempt and the store emits the 'end'
 * itself, so its clock sync and health see a connection that ended.
 */
function endOwned(client: IoClient): void {
  const s = client.status;
  if (s === 'end' || abandoned.has(client)) return;
  const socketless = client.isCluster ? (client as Cluster).nodes('all').length === 0 : s === 'reconnecting';
  client.disconnect();
  // disconnect() may have ended it already (a client that never connected ends at once).
  if (socketless && (client.status as string) !== 'end') {
    abandoned.add(client);
    client.emit('end');
  }
}

function node(redis: Redis): ServerNode {
  return {
    id: redis,
    address: `${redis.options.host}:${redis.options.port}`,
    ready: () => redis.status === 'ready',
    onceReady: (fn) => {
      if (redis.status === 'ready') fn();
      else redis.once('ready', fn);
    },
    connect: () => {
      if (redis.status === 'wait') redis.connect().catch(() => {});
    },
    command: (args) => redis.call(args[0] as string, ...args.slice(1)),
  };
}

/** The store's connection over an ioredis or iovalkey client. @internal */
export function ioredisConnection(given: IoClient): Connection {
  const { connection: client, owned } = replaySafe(given);
  if (owned) client.once('end', () => abandoned.add(client));
  const evalsha = client.evalsha as unknown as Send;
  const evalScript = client.eval as unknown as Send;
  const nodes = new WeakMap<Redis, ServerNode>();
  const nodeOf = (redis: Redis): ServerNode => {
    let n = nodes.get(redis);
    if (n === undefined) {
      n = node(redis);
      nodes.set(redis, n);
    }
    return n;
  };
  return {
    family: 'ioredis',
    client,
    owned,
    cluster: client.isCluster,
    status: () => {
      const s = client.status;
      if (abandoned.has(client)) return 'end';
      return s === 'ready' || s === 'wait' || s === 'end' ? s : ('connecting' as ConnectionStatus);
    },
    connect: () => {
      if (client.status === 'wait') client.connect().catch(() => {});
    },
    on: (event, fn) => void client.on(event, fn),
    off: (event, fn) => void client.off(event, fn),
    evalsha: (args) => evalsha.apply(client, args),
    eval: (args) => evalScript.apply(client, args),
    masters: () => (client.isCluster ? (client as Cluster).nodes('master') : [client as Redis]).map(nodeOf),
    timeNode: () => {
      if (!client.isCluster) return nodeOf(client as Redis);
      const cluster = client as Cluster;
      const owner = cluster.slots[CLOCK_SLOT]?.[0];
      const masters = cluster.nodes('master');
      const found = masters.find((n) => `${n.options.host}:${n.options.port}` === owner) ?? masters[0];
      return found === undefined ? undefined : nodeOf(found);
    },
    close: async () => {
      if (!owned || client.status === 'end') return;
      // QUIT only on a ready connection: a connecting Cluster would hold it until it is ready.
      if (client.status === 'ready') await client.quit().catch(() => endOwned(client));
      else endOwned(client);
    },
  };
}
