import { createHash } from 'node:crypto';
import { ConfigError, rejectUnknownOptions } from '../../errors/config-error';
import { StoreError } from '../../errors/store-error';
import type { ResolvedRule } from '../../rules';
import { markAnswered, type StoreHealth } from '../health';
import type { BindOptions, BoundStore, ConcurrencySlots, RawResult, Store } from '../types';
import { BlockedCache } from './blocked-cache';
import { isNoScript, type RedisStoreClient, whenReady } from './client';
import { type Connection, isSupportedClient, toConnection } from './connection';
import { connectionHealth } from './connection-health';
import { escapeGlob, hashTag } from './keys';
import { RedisLeaseRemote } from './lease/lease-remote';
import { LEASE_TWINS, MAX_LEASE_RULES } from './lease/lease-script';
import { LeasedStore } from './lease/leased-store';
import { type LeaseOptions, type ResolvedLease, resolveLease } from './lease/options';
import { buildScript, declaresBlockKeys, decodeReply, MAX_REDIS_RULES, type Operation, type ScriptClock } from './scripts/driver';
import { buildHashScript, fitsHashLayout, hashLayoutName } from './scripts/hash-layout';
import { RedisSlots } from './slots';
import { SyncedClock } from './synced-clock';

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions<C extends RedisStoreClient = RedisStoreClient> {
  /**
   * An ioredis `Redis` or `Cluster` (also through Sentinel), an iovalkey client, or a connected
   * node-redis `createClient()` / `createCluster()` (v5+). By default ioredis and iovalkey re-send a
   * command whose connection closed before the reply, which could count a consume twice; for such
   * a client the store opens its own replay-safe duplicate connection (closed with `close()` or when
   * your client ends). Create the client with `replaySafeRedisOptions` / `replaySafeClusterOptions`
   * spread into its options to share your connection instead. node-redis never re-sends such a
   * command: its client is always shared as it is.
   */
  client: C;
  /** Prepended to every key, before the limiter's own `prefix`. Must not contain `{` or `}`. @default '' */
  prefix?: string;
  /**
   * Where decision time comes from.
   * - `'server'`: every script reads Redis `TIME`, so every app server agrees whatever its own
   *   clock, and time never runs backwards for a key. `'server-script'` is the same (its old name).
   * - `'client'`: the limiter's `now` (deterministic tests; app clocks must agree); every TTL is
   *   padded by a minute so Redis never expires state the client clock still needs.
   * @default 'server'
   */
  clock?: RedisClock;
  /**
   * How long a call waits for a usable connection before failing without sending anything (the
   * reply itself is bounded by the limiter's `timeoutMs`).
   * @default 250
   */
  timeoutMs?: number;
  /**
   * Answer keys known to be denied locally, without a round trip, until they could pass again.
   * Saves Redis load under attack; a refund or reset made by another process is not seen until
   * then (a cached key may stay denied a little longer, never allowed early). `true` = 10,000 keys.
   * @default false
   */
  blockedCache?: boolean | { maxKeys: number };
  /**
   * Lease mode: each process takes a batch of units from Redis in one atomic round trip and spends
   * them locally, for fixed-window, token-bucket and GCRA rules. Never admits more than the limit;
   * admits less by at most the units leased but unspent (at most processes × lease size), which go
   * back to Redis when idle for `ttl`, on `close()`, or die with their window. `size: 'auto'` leases
   * only for hot keys. See docs/redis.md, "Lease mode".
   * @default undefined (one round trip per decision)
   * @example
   * const store = new RedisStore({ client, lease: { size: 'auto' } });
   */
  lease?: LeaseOptions | undefined;
}

/** Values of {@link RedisStoreOptions.clock}. */
export type RedisClock = 'server' | 'server-script' | 'client';

const CLOCKS: readonly RedisClock[] = ['server', 'server-script', 'client'];
// Server clocks read Redis TIME in every script: one clock for every process, which never runs
// backwards between two decisions on a key (a locally synced estimate could, by its error).
const SCRIPT_CLOCK: Record<RedisClock, ScriptClock> = { server: 'time', 'server-script': 'time', client: 'argv' };
// TTL padding per clock: none when the script reads TIME; the client clock covers skew between app
// clocks (or a test's fake clock) and Redis.
const SLACK: Record<RedisClock, number> = { server: 0, 'server-script': 0, client: 60_000 };

const OPTION_KEYS: ReadonlySet<string> = new Set(['client', 'prefix', 'clock', 'timeoutMs', 'blockedCache', 'lease']);

/**
 * Redis (standalone or Cluster) store: every decision is one `EVALSHA` of a Lua script that
 * evaluates all rules of the limiter atomically, with the Lua twin of each algorithm computing
 * exactly what the memory store computes. `EVAL` is sent again only after `NOSCRIPT`; a script is
 * never re-sent after a timeout or a connection error. Every key carries a TTL on every write.
 *
 * @example
 * import Redis from 'ioredis';
 * import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
 * const store = new RedisStore({ client: new Redis({ ...replaySafeRedisOptions }) });
 * // or any client: the store then opens its own replay-safe connection
 * const store2 = new RedisStore({ client: new Redis() });
 * const limiter = createLimiter({ limit: 100, window: '1m', store, onStoreError: new MemoryStore() });
 */
export class RedisStore<C extends RedisStoreClient = RedisStoreClient> implements Store {
  /** The client the store sends on: the given one, or its replay-safe duplicate. */
  readonly client: C;
  /** @internal The store's view of {@link client}, whatever its family. */
  readonly connection: Connection;
  #closed = false;
  /** The store's key prefix. */
  readonly prefix: string;
  /** Where time comes from. */
  readonly clock: RedisClock;
  /** Redis time estimated locally, for call deadlines (server clocks). @internal */
  readonly syncedClock: SyncedClock | undefined;
  /** @internal Shared by every limiter on this store: down while Redis fails, up the moment it is ready. */
  readonly health: StoreHealth;
  /** How long a call waits for a usable connection. */
  readonly timeoutMs: number;
  readonly #cacheKeys: number;
  /** Lease mode, validated (undefined: plain). */
  readonly #lease: ResolvedLease | undefined;
  /** Every leasing limiter bound to this store: `close()` gives their units back. */
  readonly #leased = new Set<LeasedStore>();

  constructor(options: RedisStoreOptions<C>) {
    if (typeof options !== 'object' || options === null) throw new ConfigError('options', 'an object', options);
    rejectUnknownOptions(options, OPTION_KEYS);
    if (!isSupportedClient(options.client))
      throw new ConfigError(
        'client',
        'an ioredis or iovalkey Redis/Cluster, or a node-redis createClient()/createCluster() client',
        options.client,
      );
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix))
      throw new ConfigError('prefix', 'a string without "{" or "}" (braces would change the Cluster hash tag)', prefix);
    const clock = options.clock ?? 'server';
    if (!CLOCKS.includes(clock)) throw new ConfigError('clock', "'server', 'server-script' or 'client'", clock);
    const timeoutMs = options.timeoutMs ?? 250;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new ConfigError('timeoutMs', 'a positive number of milliseconds', timeoutMs);
    const cache = options.blockedCache ?? false;
    let cacheKeys = 0;
    if (cache === true) cacheKeys = 10_000;
    else if (typeof cache === 'object' && cache !== null) {
      const max = (cache as { maxKeys?: unknown }).maxKeys;
      if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1)
        throw new ConfigError('blockedCache.maxKeys', 'a positive integer', max);
      cacheKeys = max;
    } else if (cache !== false) throw new ConfigError('blockedCache', 'a boolean or { maxKeys }', cache);
    this.#lease = resolveLease(options.lease);
    // Opened last: a bad option must not leave a duplicate connection behind.
    const connection = toConnection(options.client) as Connection;
    this.connection = connection;
    this.client = connection.client as C;
    this.prefix = prefix;
    this.clock = clock;
    this.syncedClock = clock === 'client' ? undefined : SyncedClock.acquire(connection);
    this.timeoutMs = timeoutMs;
    this.#cacheKeys = cacheKeys;
    this.health = connectionHealth(connection);
  }

  /**
   * Stops the server-clock sync and closes the duplicate connection the store opened, if any (your
   * own client is never closed).
   */
  async close(): Promise<void> {
    // Leased units go back first, while the connection is still open.
    await Promise.all([...this.#leased].map((l) => l.close()));
    this.#leased.clear();
    if (!this.#closed) this.syncedClock?.release();
    this.#closed = true;
    await this.connection.close();
  }

  /** Concurrency slots on Redis for one concurrency limiter (called by `createConcurrencyLimiter`). */
  bindConcurrency(prefix: string, max: number, leaseMs: number): ConcurrencySlots {
    if (typeof prefix !== 'string' || /[{}]/.test(prefix))
      throw new ConfigError('prefix', 'a string without "{" or "}" with RedisStore (braces would change the Cluster hash tag)', prefix);
    return new RedisSlots(this.connection, this.prefix + prefix, max, leaseMs, {
      clientClock: this.clock === 'client',
      timeoutMs: this.timeoutMs,
      lastError: () => this.health.lastError,
    });
  }

  /** Prepares the store for one limiter (called by `createLimiter`). */
  bind(rules: readonly ResolvedRule[], prefix: string, options?: BindOptions): BoundStore {
    if (typeof prefix !== 'string' || /[{}]/.test(prefix))
      throw new ConfigError('prefix', 'a string without "{" or "}" with RedisStore (braces would change the Cluster hash tag)', prefix);
    const lease = this.#lease;
    // The lease scripts work on per-rule keys, so a leasing store keeps that layout for every limiter.
    const hash = lease === undefined && fitsHashLayout(rules);
    const plain = new BoundRedisStore(this, rules, this.prefix + prefix, this.#cacheKeys, options, hash);
    if (lease === undefined) return plain;
    checkLeasable(rules);
    const settings = {
      rules,
      lease,
      clientClock: this.clock === 'client',
      timeoutMs: this.timeoutMs,
      report: options?.report,
      health: this.health,
    };
    const remote = new RedisLeaseRemote({
      connection: this.connection,
      rules,
      prefix: this.prefix + prefix,
      clock: SCRIPT_CLOCK[this.clock],
      slackMs: SLACK[this.clock],
      timeoutMs: this.timeoutMs,
      lastError: () => this.health.lastError,
      deadline: () => plain.deadline(),
    });
    const leased = new LeasedStore(plain, remote, settings);
    if (!this.#closed) this.#leased.add(leased);
    return leased;
  }
}

/**
 * Lease mode needs rules whose units can be taken ahead and given back exactly: fixed window,
 * token bucket, GCRA (docs/redis.md explains why not the sliding ones), without `blockFor`.
 */
function checkLeasable(rules: readonly ResolvedRule[]): void {
  if (rules.length > MAX_LEASE_RULES)
    throw new ConfigError('rules', `at most ${MAX_LEASE_RULES} rules per limiter on a RedisStore with \`lease\``, rules.length);
  rules.forEach((r, i) => {
    if (LEASE_TWINS[r.algorithm] === undefined)
      throw new ConfigError(
        `rules[${i}].algorithm`,
        "'fixed-window', 'token-bucket' or 'gcra' on a RedisStore with `lease` (a sliding window or log cannot be leased exactly; use a RedisStore without `lease` for it)",
        r.algorithm,
      );
    if (r.blockForMs > 0)
      throw new ConfigError(
        `rules[${i}].blockFor`,
        'undefined on a RedisStore with `lease` (a block would not reach the units other processes hold)',
        r.blockForMs,
      );
  });
}

interface Script {
  readonly src: string;
  readonly sha: string;
  /** Whether KEYS also hold every rule's blockFor key. */
  readonly blockKeys: boolean;
}

const NEVER_CACHE = 0;

class BoundRedisStore implements BoundStore {
  readonly #client: Connection;
  readonly #timeoutMs: number;
  readonly #clientClock: boolean;
  readonly #synced: SyncedClock | undefined;
  readonly #heads: readonly string[];
  readonly #patterns: readonly string[];
  readonly #scripts: Record<Operation, Script>;
  readonly #cache: BlockedCache | undefined;
  readonly #health: StoreHealth;
  /** Length of a result: `at` and four numbers per rule (a repair count may follow). */
  readonly #width: number;
  readonly #ruleCount: number;
  /** The limiter's timeout: a consume must not charge once it has passed (−1: no deadline). */
  readonly #callTimeoutMs: number;
  readonly #report: ((error: StoreError) => void) | undefined;

  constructor(
    store: RedisStore,
    rules: readonly ResolvedRule[],
    prefix: string,
    cacheKeys: number,
    options: BindOptions | undefined,
    /** One hash per key for every rule (`scripts/hash-layout.ts`), else one key per rule. */
    hash: boolean,
  ) {
    this.#client = store.connection;
    this.#health = store.health;
    if (rules.length > MAX_REDIS_RULES) {
      throw new ConfigError('rules', `at most ${MAX_REDIS_RULES} rules per limiter on a RedisStore`, rules.length);
    }
    this.#width = 1 + 4 * rules.length;
    this.#ruleCount = rules.length;
    this.#callTimeoutMs = options?.timeoutMs ?? -1;
    this.#report = options?.report;
    this.#timeoutMs = store.timeoutMs;
    this.#clientClock = store.clock === 'client';
    this.#synced = store.syncedClock;
    const names = hash ? [hashLayoutName(rules)] : rules.map((r) => r.id);
    this.#heads = names.map((name) => `${prefix}${name}:{`);
    this.#patterns = names.map((name) => `${escapeGlob(`${prefix}${name}`)}:{*`);
    const script = (op: Operation): Script => {
      // Consume and peek answer one string (see ReplyFormat): a client decodes it far faster than an
      // array of integers (ioredis 6: ~4,000 instructions per integer, 13 integers for 3 rules).
      const reply = op === 'consume' || op === 'peek' ? 'compact' : 'array';
      const src = (hash ? buildHashScript : buildScript)(op, rules, SCRIPT_CLOCK[store.clock], SLACK[store.clock], reply);
      // The hash layout keeps blockFor deadlines in the hash: its only key is the hash.
      return { src, sha: createHash('sha1').update(src).digest('hex'), blockKeys: !hash && declaresBlockKeys(op, rules) };
    };
    this.#scripts = { consume: script('consume'), peek: script('peek'), refund: script('refund'), reset: script('reset') };
    this.#cache = cacheKeys > NEVER_CACHE ? new BlockedCache(cacheKeys) : undefined;
  }

  consume(key: string, cost: number, now: number): RawResult | Promise<RawResult> {
    const cache = this.#cache;
    if (cache === undefined) return this.#call('consume', key, now, cost, 0);
    // Local time: the limiter's clock, or (server clock) the local monotonic clock at send time, so
    // a cached denial never outlives the server's deadline.
    const t = this.#clientClock ? now : performance.now();
    const hit = cache.get(key, cost, t, (at, elapsed) => (this.#clientClock ? now : at + elapsed));
    if (hit !== undefined) return hit;
    return this.#call('consume', key, now, cost, 0).then((raw) => {
      if (raw[1] !== 1 || raw.length > 5) {
        let denied = false;
        for (let j = 1; j < raw.length; j += 4) if (raw[j] !== 1) denied = true;
        if (denied) cache.remember(key, cost, t, raw);
      }
      return raw;
    });
  }

  peek(key: string, now: number): Promise<RawResult> {
    return this.#call('peek', key, now, 1, 0);
  }

  refund(key: string, cost: number, now: number, chargedAt: number): Promise<void> {
    this.#cache?.delete(key);
    return this.#call('refund', key, now, cost, chargedAt).then(() => undefined);
  }

  reset(key: string | undefined): Promise<void> {
    if (key !== undefined) {
      this.#cache?.delete(key);
      return this.#call('reset', key, 0, 0, 0).then(() => undefined);
    }
    this.#cache?.clear();
    const ready = whenReady(this.#client, 'reset', this.#timeoutMs, () => this.#health.lastError);
    return (ready ?? Promise.resolve()).then(() => this.#resetAll());
  }

  /** SCAN every master for this limiter's keys and UNLINK them. */
  async #resetAll(): Promise<void> {
    await Promise.all(
      this.#client.masters().map(async (node) => {
        for (const pattern of this.#patterns) {
          let cursor = '0';
          do {
            const [next, keys] = (await node.command(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [string, string[]];
            cursor = String(next);
            // One key per UNLINK: keys found together may sit in different slots of this node.
            if (keys.length > 0) await Promise.all(keys.map((k) => node.command(['UNLINK', k])));
          } while (cursor !== '0');
        }
      }),
    );
  }

  #call(op: Operation, key: string, now: number, cost: number, chargedAt: number): Promise<RawResult> {
    const tag = hashTag(key);
    const heads = this.#heads;
    const script = this.#scripts[op];
    const args: (string | number)[] = [script.sha, script.blockKeys ? 2 * heads.length : heads.length];
    for (let i = 0; i < heads.length; i++) args.push(`${heads[i]}${tag}}`);
    if (script.blockKeys) for (let i = 0; i < heads.length; i++) args.push(`${heads[i]}${tag}}:b`);
    if (op !== 'reset') {
      const t = this.#clientClock ? now : 0;
      if (op === 'refund') args.push(t, cost, chargedAt);
      else if (op === 'consume') args.push(t, cost, this.deadline());
      else args.push(t, cost);
    }
    const ready = whenReady(this.#client, op, this.#timeoutMs, () => this.#health.lastError);
    if (ready === undefined) return this.#send(op, args);
    return ready.then(() => this.#send(op, args));
  }

  /**
   * Latest Redis time at which this consume may still charge: when the limiter's timeout has
   * passed, it has answered by policy. The estimate's error is subtracted, so the script's cut-off
   * comes before the limiter's. −1 (no cut-off) without a fresh estimate or a limiter timeout.
   */
  deadline(): number {
    if (this.#synced === undefined || this.#callTimeoutMs < 0) return -1;
    return this.#synced.deadline(this.#callTimeoutMs) ?? -1;
  }

  #result(op: Operation, r: unknown): RawResult {
    if (op === 'refund' || op === 'reset') {
      if (typeof r === 'number' && r > 0) this.#repaired(op, r);
      return r as number[];
    }
    const raw = decodeReply(r, this.#ruleCount) as number[];
    if (raw[0] === -1) {
      throw markAnswered(
        new StoreError(op, 'Redis ran this consume after the limiter had answered it by policy: nothing was charged', { timedOut: true }),
      );
    }
    if (raw.length > this.#width) {
      this.#repaired(op, raw[this.#width] as number);
      raw.length = this.#width;
    }
    return raw;
  }

  #repaired(op: Operation, count: number): void {
    this.#report?.(
      new StoreError(
        op === 'reset' ? 'reset' : op,
        `Redis held ${count} foreign or corrupt value(s) under this limiter's keys (wrong type or not a number): treated as empty and overwritten`,
      ),
    );
  }

  #send(op: Operation, args: (string | number)[]): Promise<RawResult> {
    const client = this.#client;
    return client.evalsha(args).then(
      (r) => this.#result(op, r),
      (error: unknown) => {
        // Only NOSCRIPT proves the script did not run, so only then is it sent again (as EVAL,
        // which also caches it). Any other error goes to the limiter's onStoreError policy.
        if (!isNoScript(error)) throw error;
        args[0] = this.#scripts[op].src;
        return client.eval(args).then((r) => this.#result(op, r));
      },
    );
  }
}
