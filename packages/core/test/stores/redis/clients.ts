import { type RedisStoreClient, replaySafeClusterOptions, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Cluster as IoCluster, Redis as IoRedis } from 'ioredis';
import { Redis as Valkey, Cluster as ValkeyCluster } from 'iovalkey';
import { createClient, createCluster } from 'redis';
import { clusterPorts, redisPort } from './helpers';

// Every client family RedisStore accepts, with factories for a client of the servers the Jest
// global setup starts (or of a suite's own servers): suites run once per family and topology.

export type FamilyName = 'ioredis' | 'node-redis' | 'iovalkey';
export type Topology = 'standalone' | 'cluster';

/** How a test client is made. */
export interface ClientOptions {
  /** The standalone server's port (default: the global setup's). */
  port?: number;
  /** The Cluster's node ports (default: the global setup's). */
  ports?: number[];
  /**
   * ioredis and iovalkey: the library's defaults, which re-send a command after a reconnect (the
   * store then opens its own replay-safe duplicate). By default the test client is replay-safe and
   * the store shares it. node-redis has no such option: it never re-sends.
   */
  plain?: boolean;
  /** Reconnect this many ms after a connection drops (fault tests; default: the library's). */
  retryMs?: number;
  /** Do not connect (ioredis `lazyConnect`; node-redis: `connect()` is not called). */
  lazy?: boolean;
  /** node-redis: the protocol (default: the library's, RESP3). */
  resp?: 2 | 3;
  /** Cluster: where to reach each node the Cluster announces (`'127.0.0.1:port'`), e.g. through a proxy. */
  nat?: Record<string, { host: string; port: number }>;
}

/** One client family: factories that resolve once the client is ready (unless `lazy`). */
export interface ClientFamily {
  readonly name: FamilyName;
  standalone(options?: ClientOptions): Promise<RedisStoreClient>;
  cluster(options?: ClientOptions): Promise<RedisStoreClient>;
  /** Ends a client made here (idempotent; never throws): resolves once its sockets are closed. */
  close(client: RedisStoreClient): Promise<void>;
  /** True when the client (or every node of a Cluster) can send now. */
  ready(client: RedisStoreClient): boolean;
}

type IoLike = IoRedis | IoCluster;

/** Resolves once an ioredis/iovalkey client is ready (at once when it is). */
function ioReady(c: IoLike): Promise<void> {
  if (c.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      c.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      c.off('ready', onReady);
      reject(new Error('client ended before it was ready'));
    };
    c.once('ready', onReady);
    c.once('end', onEnd);
  });
}

/** Disconnects an ioredis/iovalkey client and waits for its sockets to close (bounded: cleanup, not an assertion). */
async function ioClose(c: IoLike): Promise<void> {
  if (c.status === 'end') return;
  // Only a connected client has sockets to wait for (a Cluster that never connected emits no 'end').
  const connected = c.status === 'ready' || c.status === 'connect' || c.status === 'connecting';
  const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
  c.disconnect();
  if (!connected || (c.status as string) === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
  clearTimeout(timer);
}

function ioFamily(name: 'ioredis' | 'iovalkey', RedisClass: typeof IoRedis, ClusterClass: typeof IoCluster): ClientFamily {
  return {
    name,
    async standalone(o = {}) {
      const c = new RedisClass({
        host: '127.0.0.1',
        port: o.port ?? redisPort(),
        ...(o.plain ? {} : replaySafeRedisOptions),
        ...(o.retryMs !== undefined ? { retryStrategy: () => o.retryMs } : {}),
        ...(o.lazy ? { lazyConnect: true } : {}),
      });
      c.on('error', () => {});
      if (!o.lazy) await ioReady(c);
      return c;
    },
    async cluster(o = {}) {
      const retry = o.retryMs !== undefined ? { clusterRetryStrategy: () => o.retryMs } : {};
      const c = new ClusterClass(
        (o.ports ?? clusterPorts()).map((port) => ({ host: '127.0.0.1', port })),
        {
          ...(o.plain ? {} : replaySafeClusterOptions),
          ...retry,
          ...(o.lazy ? { lazyConnect: true } : {}),
          ...(o.nat ? { natMap: o.nat } : {}),
        },
      );
      c.on('error', () => {});
      if (!o.lazy) await ioReady(c);
      return c;
    },
    close: (c) => ioClose(c as IoLike),
    ready: (c) => {
      const io = c as IoLike;
      if (io.status !== 'ready') return false;
      return !io.isCluster || (io as IoCluster).nodes('master').every((n) => n.status === 'ready');
    },
  };
}

// node-redis's own client types are generic over modules and scripts; the tests only need these.
type NodeClient = ReturnType<typeof createClient>;
type NodeCluster = ReturnType<typeof createCluster>;

function isNodeCluster(c: RedisStoreClient): c is NodeCluster {
  return typeof (c as { nodeClient?: unknown }).nodeClient === 'function';
}

const nodeRedis: ClientFamily = {
  name: 'node-redis',
  async standalone(o = {}) {
    const retry = o.retryMs;
    const c = createClient({
      socket: { host: '127.0.0.1', port: o.port ?? redisPort(), ...(retry !== undefined ? { reconnectStrategy: () => retry } : {}) },
      ...(o.resp !== undefined ? { RESP: o.resp } : {}),
    });
    // An EventEmitter 'error' without a listener would throw (every reconnect attempt emits one).
    c.on('error', () => {});
    if (!o.lazy) await c.connect();
    return c as unknown as RedisStoreClient;
  },
  async cluster(o = {}) {
    const retry = o.retryMs;
    const c = createCluster({
      rootNodes: (o.ports ?? clusterPorts()).map((port) => ({ socket: { host: '127.0.0.1', port } })),
      ...(retry !== undefined ? { defaults: { socket: { reconnectStrategy: () => retry } } } : {}),
      ...(o.resp !== undefined ? { RESP: o.resp } : {}),
      ...(o.nat ? { nodeAddressMap: o.nat } : {}),
    });
    c.on('error', () => {});
    c.on('node-error', () => {});
    if (!o.lazy) {
      await c.connect();
      // Discovery connects every master (no minimizeConnections): wait for them, as for ioredis.
      await Promise.all(c.masters.map((m) => c.nodeClient(m)));
    }
    return c as unknown as RedisStoreClient;
  },
  async close(c) {
    const n = c as unknown as NodeClient | NodeCluster;
    if (isNodeCluster(c)) {
      // destroy() closes every node client, opened or still connecting.
      if ((n as NodeCluster).isOpen) (n as NodeCluster).destroy();
      return;
    }
    if ((n as NodeClient).isOpen) (n as NodeClient).destroy();
  },
  ready: (c) => {
    if (!isNodeCluster(c)) return (c as unknown as NodeClient).isReady;
    return c.isReady && c.masters.every((m) => m.client?.isReady === true);
  },
};

/** The client families, in the order suites run them. */
export const FAMILIES: readonly ClientFamily[] = [
  ioFamily('ioredis', IoRedis, IoCluster),
  nodeRedis,
  ioFamily('iovalkey', Valkey as unknown as typeof IoRedis, ValkeyCluster as unknown as typeof IoCluster),
];

const TOPOLOGIES: readonly Topology[] = ['standalone', 'cluster'];

/** Every family × topology, for `describe.each`. */
export const FAMILY_TOPOLOGIES: readonly (readonly [FamilyName, Topology, ClientFamily])[] = FAMILIES.flatMap((f) =>
  TOPOLOGIES.map((t) => [f.name, t, f] as const),
);

/** `family.standalone(options)` or `family.cluster(options)`. */
function makeClient(family: ClientFamily, topology: Topology, options?: ClientOptions): Promise<RedisStoreClient> {
  return topology === 'cluster' ? family.cluster(options) : family.standalone(options);
}

/**
 * Tracks the clients a suite makes so one `afterAll(closeAll)` ends them all (a store's own
 * duplicate ends with its owner).
 */
export class ClientPool {
  readonly #clients: [ClientFamily, RedisStoreClient][] = [];

  async make(family: ClientFamily, topology: Topology, options?: ClientOptions): Promise<RedisStoreClient> {
    const c = await makeClient(family, topology, options);
    this.#clients.push([family, c]);
    return c;
  }

  /** Adopts a client made elsewhere. */
  track<C extends RedisStoreClient>(family: ClientFamily, client: C): C {
    this.#clients.push([family, client]);
    return client;
  }

  async closeAll(): Promise<void> {
    const all = this.#clients.splice(0);
    await Promise.all(all.map(([f, c]) => f.close(c)));
  }
}
