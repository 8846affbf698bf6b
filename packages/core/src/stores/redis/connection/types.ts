/** Where a connection stands, in ioredis's vocabulary (every client family is mapped onto it). @internal */
export type ConnectionStatus = 'ready' | 'wait' | 'connecting' | 'end';

/** Connection events the store listens to, whatever the client family. @internal */
export type ConnectionEvent = 'ready' | 'close' | 'end' | 'error';

/** A flat script call: `[sha or source, numkeys, ...keys, ...args]`. @internal */
export type ScriptArgs = (string | number)[];

/**
 * One Redis server of a connection (the server itself, or a Cluster master): what `reset()`, the
 * clock sync and the eviction check send to a specific node. @internal
 */
export interface ServerNode {
  /** Stable identity of the node across calls (for "checked once" sets). */
  readonly id: object;
  /** `host:port`, for messages. */
  readonly address: string;
  /** True when a command sent now goes out at once (nothing waits in a client queue). */
  ready(): boolean;
  /** Runs `fn` once the node is ready (at once when it is). */
  onceReady(fn: () => void): void;
  /** Starts connecting a lazily connected node without queueing a command. */
  connect(): void;
  /** Sends one command to this node. */
  command(args: string[]): Promise<unknown>;
}

/**
 * The store's view of a Redis client: the few things it needs, implemented per client family
 * (ioredis and iovalkey; node-redis client and cluster). The store never touches a client directly.
 * @internal
 */
export interface Connection {
  /** The client family, for messages and tests. */
  readonly family: 'ioredis' | 'node-redis';
  /** The client the store sends on: the given one, or a replay-safe duplicate the store owns. */
  readonly client: object;
  /** True when {@link client} is a duplicate the store opened (and must close). */
  readonly owned: boolean;
  readonly cluster: boolean;
  status(): ConnectionStatus;
  /** Starts a lazily connected client (status `'wait'`) without queueing a command. */
  connect(): void;
  on(event: ConnectionEvent, fn: (error?: unknown) => void): void;
  off(event: ConnectionEvent, fn: (error?: unknown) => void): void;
  evalsha(args: ScriptArgs): Promise<unknown>;
  eval(args: ScriptArgs): Promise<unknown>;
  /** Every master the connection knows now. */
  masters(): ServerNode[];
  /** The node `TIME` is read from: a Cluster's owner of slot 0, so every app server uses the same. */
  timeNode(): ServerNode | undefined;
  /** Closes an owned duplicate (QUIT when ready, else a disconnect). */
  close(): Promise<void>;
}
