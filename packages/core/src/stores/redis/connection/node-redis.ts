import type { Connection, ConnectionEvent, ConnectionStatus, ScriptArgs, ServerNode } from './types';

type Listener = (...args: unknown[]) => void;

/** The parts of a node-redis (`redis` v5+) client the store uses, typed structurally: no import of `redis`. */
export interface NodeRedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: readonly string[]): Promise<unknown>;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
  once(event: string, listener: Listener): unknown;
}

/** A master as node-redis's cluster lists it. */
interface NodeRedisMaster {
  readonly address: string;
  readonly client?: NodeRedisClientLike | undefined;
}

/** The parts of a node-redis `createCluster()` cluster the store uses, typed structurally. */
export interface NodeRedisClusterLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly masters: readonly NodeRedisMaster[];
  readonly slots: readonly { readonly master: NodeRedisMaster }[];
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  nodeClient(node: never): Promise<NodeRedisClientLike>;
  on(event: string, listener: Listener): unknown;
  off(event: string, listener: Listener): unknown;
}

/**
 * True for a node-redis client or cluster (and not an ioredis one, which is tested first): every
 * member the connection uses, so a look-alike missing one is a ConfigError naming `client`. @internal
 */
export function isNodeRedisLike(value: object): boolean {
  const c = value as Record<string, unknown>;
  if (typeof c.isReady !== 'boolean' || typeof c.isOpen !== 'boolean') return false;
  for (const m of ['sendCommand', 'on', 'off', 'once'] as const) if (typeof c[m] !== 'function') return false;
  return typeof c.nodeClient !== 'function' || (Array.isArray(c.masters) && Array.isArray(c.slots));
}

function isCluster(value: NodeRedisClientLike | NodeRedisClusterLike): value is NodeRedisClusterLike {
  return typeof (value as NodeRedisClusterLike).nodeClient === 'function';
}

/** node-redis takes strings only. */
function strings(command: string, args: ScriptArgs): string[] {
  const out = new Array<string>(args.length + 1);
  out[0] = command;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string | number;
    out[i + 1] = typeof a === 'string' ? a : String(a);
  }
  return out;
}

// node-redis names: 'reconnecting' is ioredis's 'close' (the connection was lost and is coming
// back); a cluster reports 'connect' once its slots are known and 'disconnect' when closed.
const CLIENT_EVENTS: Record<ConnectionEvent, string> = { ready: 'ready', close: 'reconnecting', end: 'end', error: 'error' };
const CLUSTER_EVENTS: Record<ConnectionEvent, string | undefined> = {
  ready: 'connect',
  close: undefined,
  end: 'disconnect',
  error: 'error',
};

function clientNode(client: NodeRedisClientLike, address: string): ServerNode {
  return {
    id: client,
    address,
    ready: () => client.isReady,
    onceReady: (fn) => {
      if (client.isReady) fn();
      else client.once('ready', fn);
    },
    // node-redis clients are connected by the app that created them (connecting one twice throws).
    connect: () => {},
    command: (args) => client.sendCommand(args),
  };
}

function clusterNode(cluster: NodeRedisClusterLike, master: NodeRedisMaster): ServerNode {
  return {
    id: master,
    address: master.address,
    ready: () => master.client?.isReady === true,
    onceReady: (fn) => {
      if (master.client?.isReady === true) fn();
      else cluster.nodeClient(master as never).then(fn, () => {});
    },
    connect: () => void cluster.nodeClient(master as never).catch(() => {}),
    command: (args) => cluster.nodeClient(master as never).then((c) => c.sendCommand(args)),
  };
}

/**
 * The store's connection over a node-redis client or cluster. node-redis never re-sends a command
 * that was written before its connection closed (it rejects it), so the app's own client is used
 * as it is: no duplicate connection. @internal
 */
export function nodeRedisConnection(client: NodeRedisClientLike | NodeRedisClusterLike): Connection {
  let ended = false;
  const wrapped = new Map<(error?: unknown) => void, Listener>();
  const events = isCluster(client) ? CLUSTER_EVENTS : CLIENT_EVENTS;
  client.on(events.end as string, () => {
    ended = true;
  });
  client.on(events.ready as string, () => {
    ended = false;
  });
  const status = (): ConnectionStatus => (client.isReady ? 'ready' : client.isOpen ? 'connecting' : ended ? 'end' : 'wait');
  const base = {
    family: 'node-redis' as const,
    client,
    owned: false,
    status,
    connect: () => {},
    on: (event: ConnectionEvent, fn: (error?: unknown) => void) => {
      const name = events[event];
      if (name === undefined) return;
      const listener = fn as Listener;
      wrapped.set(fn, listener);
      client.on(name, listener);
    },
    off: (event: ConnectionEvent, fn: (error?: unknown) => void) => {
      const name = events[event];
      const listener = wrapped.get(fn);
      if (name !== undefined && listener !== undefined) client.off(name, listener);
    },
    close: async () => {},
  };
  if (isCluster(client)) {
    const nodes = new WeakMap<NodeRedisMaster, ServerNode>();
    const nodeOf = (m: NodeRedisMaster): ServerNode => {
      let n = nodes.get(m);
      if (n === undefined) {
        n = clusterNode(client, m);
        nodes.set(m, n);
      }
      return n;
    };
    return {
      ...base,
      cluster: true,
      // The first key routes the script to its slot's master (every key shares one hash tag).
      evalsha: (args) => client.sendCommand(args[2] as string, false, strings('EVALSHA', args)),
      eval: (args) => client.sendCommand(args[2] as string, false, strings('EVAL', args)),
      masters: () => client.masters.map(nodeOf),
      timeNode: () => {
        const m = client.slots[0]?.master ?? client.masters[0];
        return m === undefined ? undefined : nodeOf(m);
      },
    };
  }
  const self = clientNode(client, addressOf(client));
  return {
    ...base,
    cluster: false,
    evalsha: (args) => client.sendCommand(strings('EVALSHA', args)),
    eval: (args) => client.sendCommand(strings('EVAL', args)),
    masters: () => [self],
    timeNode: () => self,
  };
}

function addressOf(client: NodeRedisClientLike): string {
  const o = (client as { options?: { url?: string; socket?: { host?: string; port?: number; path?: string } } }).options;
  if (o?.socket?.path !== undefined) return o.socket.path;
  if (o?.socket?.host !== undefined || o?.socket?.port !== undefined) return `${o.socket.host ?? 'localhost'}:${o.socket.port ?? 6379}`;
  return o?.url ?? 'localhost:6379';
}
