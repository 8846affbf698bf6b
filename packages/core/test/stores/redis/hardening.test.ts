import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { type Algorithm, createLimiter, isStoreError, type Limiter, MemoryStore, type StoreError } from '@ratekeeper/core';
import { type RedisClient, RedisStore } from '@ratekeeper/core/redis';
import type { Cluster, Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../../../scripts/redis-server';
import { ALGORITHMS } from '../../../src/rules';
import type { ClockChildReply, ClockChildRequest } from './fixtures/clock-child';
import { clusterPorts, newCluster, newRedis, pollUntil, redisPort, uniquePrefix } from './helpers';

// Hardening of the Redis store against what it finds in Redis and what callers send it: foreign or
// corrupt state under its keys, an evicting server, keys that UTF-8 cannot carry, keys of any
// length, and a clock that must never run backwards for a key.

const HOUR = 3_600_000;

const clients: RedisClient[] = [];
function track<C extends RedisClient>(c: C): C {
  c.on('error', () => {});
  clients.push(c);
  return c;
}
const redisStores: RedisStore[] = [];
function redisStore(client: RedisClient): RedisStore {
  const s = new RedisStore({ client });
  redisStores.push(s);
  return s;
}

/** Resolves once `c` can send (the store would otherwise answer its first calls by policy). */
function ready(c: RedisClient): Promise<void> {
  return c.status === 'ready' ? Promise.resolve() : new Promise((resolve) => c.once('ready', () => resolve()));
}

/** The connections to every master (the client itself when standalone). */
function masters(c: RedisClient): Redis[] {
  return c.isCluster ? (c as Cluster).nodes('master') : [c as Redis];
}

let admin: Redis;
let cluster: Cluster;
beforeAll(async () => {
  admin = track(newRedis());
  cluster = track(newCluster());
  await Promise.all([ready(admin), ready(cluster)]);
});
afterAll(async () => {
  await Promise.all(redisStores.map((s) => s.close()));
  await Promise.all(clients.map((c) => (c.status === 'end' ? undefined : c.quit().catch(() => c.disconnect()))));
});

/** The Redis key of `limiter`'s first rule for `key` (layout: see stores/redis/keys.ts). */
function redisKey(store: RedisStore, limiterPrefix: string, limiter: Limiter, key: string): string {
  return `${store.prefix}${limiterPrefix}${limiter.rules[0]?.id}:{${key}}`;
}

/** Redis time (epoch ms), for the window algorithms' hash field names. */
async function redisNow(): Promise<number> {
  const [s, us] = await admin.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Fields of the window before, the window of, and the window after `now` (a boundary in between changes nothing). */
function windowFields(now: number, windowMs: number): string[] {
  const start = Math.floor(now / windowMs) * windowMs;
  return [start - windowMs, start, start + windowMs].map(String);
}

/** The Redis type a healthy key of each algorithm has. */
const TYPE: Record<Algorithm, string> = {
  'fixed-window': 'hash',
  'sliding-window': 'hash',
  'sliding-log': 'list',
  'token-bucket': 'string',
  gcra: 'string',
  'anchored-window': 'string',
};

interface Corruption {
  readonly algorithm: Algorithm;
  readonly what: string;
  readonly plant: (key: string) => Promise<unknown>;
}

const list = (key: string) => admin.rpush(key, 'foreign', 'state');
const hash = (key: string) => admin.hset(key, 'owner', 'another-app');
const text = (key: string) => admin.set(key, 'foreign');

const CORRUPTIONS: readonly Corruption[] = [
  // Wrong types.
  { algorithm: 'fixed-window', what: 'a list where a hash is expected', plant: list },
  { algorithm: 'fixed-window', what: 'a string where a hash is expected', plant: text },
  { algorithm: 'sliding-window', what: 'a list where a hash is expected', plant: list },
  { algorithm: 'sliding-window', what: 'a string where a hash is expected', plant: text },
  { algorithm: 'sliding-log', what: 'a hash where a list is expected', plant: hash },
  { algorithm: 'sliding-log', what: 'a string where a list is expected', plant: text },
  { algorithm: 'token-bucket', what: 'a list where a string is expected', plant: list },
  { algorithm: 'token-bucket', what: 'a hash where a string is expected', plant: hash },
  { algorithm: 'gcra', what: 'a list where a string is expected', plant: list },
  { algorithm: 'gcra', what: 'a hash where a string is expected', plant: hash },
  { algorithm: 'anchored-window', what: 'a list where a string is expected', plant: list },
  { algorithm: 'anchored-window', what: 'a hash where a string is expected', plant: hash },
  // Right type, not a number.
  {
    algorithm: 'fixed-window',
    what: 'hash fields holding "x"',
    plant: async (key) => admin.hset(key, ...windowFields(await redisNow(), HOUR).flatMap((f) => [f, 'x'])),
  },
  {
    algorithm: 'sliding-window',
    what: 'hash fields holding "x"',
    plant: async (key) => admin.hset(key, ...windowFields(await redisNow(), HOUR).flatMap((f) => [f, 'x'])),
  },
  { algorithm: 'sliding-log', what: 'a list entry "x"', plant: (key) => admin.rpush(key, 'x') },
  { algorithm: 'token-bucket', what: 'the string "garbage"', plant: (key) => admin.set(key, 'garbage') },
  { algorithm: 'gcra', what: 'the string "garbage"', plant: (key) => admin.set(key, 'garbage') },
  { algorithm: 'anchored-window', what: 'the string "garbage"', plant: (key) => admin.set(key, 'garbage') },
];

function expectOneRepairReport(errors: StoreError[]): void {
  expect(errors).toHaveLength(1);
  expect(isStoreError(errors[0])).toBe(true);
  expect(errors[0]?.message).toMatch(/foreign or corrupt/);
}

describe('#10 foreign or corrupt state under a limiter key is repaired, reported once', () => {
  let s: RedisStore;
  let clientClock: RedisStore;
  beforeAll(() => {
    s = new RedisStore({ client: admin });
    clientClock = new RedisStore({ client: admin, clock: 'client' });
  });
  afterAll(async () => {
    await s.close();
    await clientClock.close();
  });

  it.each(CORRUPTIONS)(
    '$algorithm: $what → consume succeeds, the key is overwritten with a TTL, onError once',
    async ({ algorithm, plant }) => {
      const errors: StoreError[] = [];
      const prefix = uniquePrefix(`corrupt-${algorithm}`);
      const limiter = createLimiter({
        limit: 5,
        window: '1h',
        algorithm,
        store: s,
        prefix,
        timeoutMs: 5_000,
        onError: (e) => errors.push(e),
      });
      const key = redisKey(s, prefix, limiter, 'victim');
      await plant(key);
      expect(await admin.pttl(key)).toBe(-1);

      const first = await limiter.consume('victim');
      expect(first.error).toBeUndefined();
      expect(first).toMatchObject({ allowed: true, remaining: 4 });
      expect(await admin.type(key)).toBe(TYPE[algorithm]);
      expect(await admin.pttl(key)).toBeGreaterThan(0);
      expectOneRepairReport(errors);

      // Counting resumes from empty state, and nothing more is reported.
      const second = await limiter.consume('victim');
      expect(second.error).toBeUndefined();
      expect(second).toMatchObject({ allowed: true, remaining: 3 });
      expect(errors).toHaveLength(1);
    },
  );

  const BLOCK_CORRUPTIONS = ALGORITHMS.flatMap((algorithm) => [
    { algorithm, what: 'a list', plant: list },
    { algorithm, what: 'the string "garbage"', plant: (key: string) => admin.set(key, 'garbage') },
  ]);

  it.each(BLOCK_CORRUPTIONS)(
    '$algorithm with blockFor: $what at the blockFor key → consume succeeds, reported once, blocking works afterwards',
    async ({ algorithm, plant }) => {
      const errors: StoreError[] = [];
      const prefix = uniquePrefix(`corrupt-block-${algorithm}`);
      const limiter = createLimiter({
        limit: 1,
        window: '1h',
        algorithm,
        blockFor: '1m',
        store: s,
        prefix,
        timeoutMs: 5_000,
        onError: (e) => errors.push(e),
      });
      const key = redisKey(s, prefix, limiter, 'victim');
      await plant(`${key}:b`);

      const first = await limiter.consume('victim');
      expect(first.error).toBeUndefined();
      expect(first.allowed).toBe(true);
      expect(await admin.type(`${key}:b`)).toBe('none'); // the foreign value is gone: nobody is blocked
      expect(await admin.pttl(key)).toBeGreaterThan(0);
      expectOneRepairReport(errors);

      // The limit is reached: the block deadline is written where the foreign value was, with a TTL.
      const second = await limiter.consume('victim');
      expect(second.error).toBeUndefined();
      expect(second.allowed).toBe(false);
      expect(await admin.type(`${key}:b`)).toBe('string');
      expect(await admin.pttl(`${key}:b`)).toBeGreaterThan(0);
      expect(errors).toHaveLength(1);
    },
  );

  // A foreign hash may carry fields whose names are not window starts: the cleanup of old windows
  // must drop them, not fail comparing a name with a number. The limiter's clock puts the decision
  // 5 ms into a window, where both window algorithms clean up older fields.
  it.each(['fixed-window', 'sliding-window'] as const)(
    '%s: a hash with non-numeric field names → consume succeeds, the foreign fields are dropped, onError once',
    async (algorithm) => {
      const errors: StoreError[] = [];
      const prefix = uniquePrefix(`corrupt-fields-${algorithm}`);
      const now = Math.floor(Date.now() / HOUR) * HOUR + 5;
      const limiter = createLimiter({
        limit: 5,
        window: '1h',
        algorithm,
        store: clientClock,
        prefix,
        now: () => now,
        timeoutMs: 5_000,
        onError: (e) => errors.push(e),
      });
      const key = redisKey(clientClock, prefix, limiter, 'victim');
      await admin.hset(key, 'owner', 'another-app', 'name', 'bob');

      const first = await limiter.consume('victim');
      expect(first.error).toBeUndefined();
      expect(first).toMatchObject({ allowed: true, remaining: 4 });
      expect(await admin.hkeys(key)).toEqual([String(now - 5)]);
      expect(await admin.pttl(key)).toBeGreaterThan(0);
      expectOneRepairReport(errors);

      const second = await limiter.consume('victim');
      expect(second).toMatchObject({ allowed: true, remaining: 3 });
      expect(errors).toHaveLength(1);
    },
  );
});

describe('#11 a Redis that may evict limiter keys is reported once per connection', () => {
  let evicting: RedisServer;
  let safe: RedisServer;
  // Warnings are recorded where they are emitted: inside Jest's sandbox, process.on('warning') does
  // not see what the code under test emits (Node emits it on the real process object).
  const warnings: { message: string; code: string | undefined }[] = [];
  let spy: jest.SpiedFunction<typeof process.emitWarning>;
  const evictionWarnings = (port: number): string[] =>
    warnings.filter((w) => w.code === 'RATEKEEPER_REDIS_EVICTION' && w.message.includes(`:${port} `)).map((w) => w.message);

  const own: Redis[] = [];
  const stores: RedisStore[] = [];
  beforeAll(async () => {
    [evicting, safe] = await Promise.all([
      startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] }),
      startRedis({ args: ['--maxmemory-policy', 'noeviction'] }),
    ]);
    spy = jest.spyOn(process, 'emitWarning').mockImplementation((warning: string | Error, options?: unknown) => {
      const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : undefined;
      warnings.push({ message: String(warning), code });
    });
  });
  afterAll(async () => {
    spy?.mockRestore();
    await Promise.all(stores.map((s) => s.close()));
    await Promise.all(own.map((c) => c.quit().catch(() => c.disconnect())));
    await Promise.all([evicting?.stop(), safe?.stop()]);
  });

  async function readyClient(port: number): Promise<Redis> {
    const c = newRedis(port);
    c.on('error', () => {});
    own.push(c);
    await c.ping();
    return c;
  }

  function storeOn(c: Redis): RedisStore {
    const s = new RedisStore({ client: c });
    stores.push(s);
    return s;
  }

  /** The reply to a CONFIG GET sent at store creation has arrived and been handled. */
  async function settled(c: Redis): Promise<void> {
    await c.ping();
    await new Promise((resolve) => setImmediate(resolve));
  }

  it('two stores on one ready client: no warning with maxmemory-policy noeviction, exactly one RATEKEEPER_REDIS_EVICTION warning with allkeys-lru', async () => {
    const quiet = await readyClient(safe.port);
    storeOn(quiet);
    storeOn(quiet);
    await settled(quiet);
    expect(evictionWarnings(safe.port)).toEqual([]);

    const loud = await readyClient(evicting.port);
    storeOn(loud);
    await pollUntil(() => evictionWarnings(evicting.port).length > 0, 'the eviction warning', 10, 300);
    storeOn(loud);
    await settled(loud);
    const found = evictionWarnings(evicting.port);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/allkeys-lru/);
  });
});

/** Keys a UTF-8 client would all send as U+FFFD (or as "a\uFFFDb"), each its own bucket. */
const ILL_FORMED = ['\uD800', '\uDBFF', '\uDC00', '\uFFFD', 'a\uD800b', 'a\uDFFFb', 'a\uFFFDb'];

/** For each key: the first consume of a limit-1 limiter is allowed, the second denied. */
async function firstAndSecond(limiter: Limiter, keys: readonly string[]): Promise<[string, boolean, boolean][]> {
  const out: [string, boolean, boolean][] = [];
  for (const k of keys) {
    const a = await limiter.consume(k);
    const b = await limiter.consume(k);
    expect(a.error ?? b.error).toBeUndefined();
    out.push([show(k), a.allowed, b.allowed]);
  }
  return out;
}

function show(k: string): string {
  return k.length > 20
    ? `${k.slice(0, 8)}…(${k.length})…${show(k.slice(-4))}`
    : JSON.stringify(k).replace(/[\uD800-\uDFFF]/g, (u) => `\\u${u.charCodeAt(0).toString(16)}`);
}

const TOPOLOGIES: [string, () => RedisClient][] = [
  ['standalone', () => admin],
  ['Cluster', () => cluster],
];

describe('#13 keys with lone UTF-16 surrogates are distinct buckets, as on memory', () => {
  it.each(TOPOLOGIES)(
    'Redis %s: U+D800, U+DBFF, U+DC00, U+FFFD, a·U+D800·b, a·U+DFFF·b, a·U+FFFD·b are each their own bucket (limit 1: first consume allowed, second denied)',
    async (_name, client) => {
      const expected = ILL_FORMED.map((k) => [show(k), true, false]);
      const rule = { limit: 1, window: '1h', algorithm: 'fixed-window' } as const;
      const onMemory = createLimiter({ ...rule, store: new MemoryStore() });
      expect(await firstAndSecond(onMemory, ILL_FORMED)).toEqual(expected);
      // A generous timeout: a loaded machine must not turn a slow first Cluster connection into a failure.
      const onRedis = createLimiter({ ...rule, store: redisStore(client()), prefix: uniquePrefix('surrogates'), timeoutMs: 5_000 });
      expect(await firstAndSecond(onRedis, ILL_FORMED)).toEqual(expected);
    },
  );
});

/** Every key name under `pattern` on every master. */
async function scanAll(client: RedisClient, pattern: string): Promise<string[]> {
  const names: string[] = [];
  for (const node of masters(client)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      names.push(...found);
    } while (cursor !== '0');
  }
  return names;
}

describe('#6 keys are bounded in bytes', () => {
  const long = `${'k'.repeat(9_999)}a`;
  const twin = `${'k'.repeat(9_999)}b`;

  it.each(TOPOLOGIES)(
    'Redis %s: a 10,000-character key is stored under a short Redis key and counts (limit 2); keys differing only in the last character are distinct',
    async (_name, client) => {
      const s = redisStore(client());
      const prefix = uniquePrefix('long-key');
      const limiter = createLimiter({ limit: 2, window: '1h', algorithm: 'sliding-window', store: s, prefix, timeoutMs: 5_000 });
      const decisions = [
        await limiter.consume(long),
        await limiter.consume(long),
        await limiter.consume(long),
        await limiter.consume(twin),
      ];
      expect(decisions.map((d) => [d.allowed, d.error])).toEqual([
        [true, undefined],
        [true, undefined],
        [false, undefined],
        [true, undefined],
      ]);
      const names = await scanAll(client(), `${s.prefix}${prefix}*`);
      expect(names).toHaveLength(2);
      expect(names.map((n) => n.length).filter((n) => n >= 200)).toEqual([]);
    },
  );
});

describe('#14 time never runs backwards for a key on a fresh RedisStore', () => {
  // GCRA, 2 per minute: the second of two back-to-back consumes on a key is allowed only if its
  // time is not before the first's. A fresh store is where a locally estimated clock erred: its
  // first decision read Redis TIME, the next one an estimate from a round trip that could lag.
  // (The previous code denied tens of these pairs per thousand.)
  const FRESH_STORES = 2_000;
  const FRESH_CONNECTIONS = 200;

  function connect(mode: 'standalone' | 'cluster'): RedisClient {
    const client = mode === 'cluster' ? newCluster() : newRedis();
    client.on('error', () => {});
    return client;
  }

  /** A new store on `client`, two consumes on a new key; the denial, if any. */
  async function pair(client: RedisClient, prefix: string, key: string): Promise<string | undefined> {
    // Generous timeouts: a fresh connection may take a while to be ready on a busy machine.
    const store = new RedisStore({ client, timeoutMs: 5_000 });
    const limiter = createLimiter({ limit: 2, window: '1m', algorithm: 'gcra', store, prefix, timeoutMs: 5_000 });
    const a = await limiter.consume(key);
    const b = await limiter.consume(key);
    await store.close();
    if (a.error || b.error) throw a.error ?? b.error;
    return a.allowed && b.allowed
      ? undefined
      : `${key}: at ${a.at} ${a.allowed ? 'allowed' : 'denied'}, then at ${b.at} ${b.allowed ? 'allowed' : 'denied'}`;
  }

  it.each(['standalone', 'cluster'] as const)(
    `%s: ${FRESH_STORES} fresh stores on one connection and ${FRESH_CONNECTIONS} fresh connections, two consumes each on a new key: all allowed`,
    async (mode) => {
      const prefix = uniquePrefix(`backwards-${mode}`);
      const denied: string[] = [];
      const shared = track(connect(mode));
      // Fresh stores, twenty at a time (as many limiters would be created by a busy process).
      for (let i = 0; i < FRESH_STORES; i += 20) {
        const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => pair(shared, prefix, `s${i + j}`)));
        for (const d of batch) if (d !== undefined) denied.push(d);
      }
      // Fresh connections, ten at a time.
      for (let i = 0; i < FRESH_CONNECTIONS; i += 10) {
        const batch = await Promise.all(
          Array.from({ length: 10 }, async (_, j) => {
            const client = connect(mode);
            try {
              return await pair(client, prefix, `c${i + j}`);
            } finally {
              await client.quit();
            }
          }),
        );
        for (const d of batch) if (d !== undefined) denied.push(d);
      }
      expect(denied).toEqual([]);
    },
    30_000,
  );
});

/** One clock-child process, driven one request at a time. */
class ClockChild {
  readonly #proc: ChildProcess;
  readonly #waiting: { resolve: (r: ClockChildReply) => void; reject: (e: Error) => void }[] = [];
  #exited: Error | undefined;

  constructor(mode: 'standalone' | 'cluster', prefix: string) {
    const ports = mode === 'cluster' ? clusterPorts().join(',') : String(redisPort());
    this.#proc = fork(join(__dirname, 'fixtures', 'clock-child.ts'), [mode, ports, prefix], {
      cwd: process.cwd(),
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#proc.on('message', (reply: ClockChildReply) => this.#waiting.shift()?.resolve(reply));
    this.#proc.on('exit', (code) => {
      this.#exited = new Error(`clock-child exited (code ${code})`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#exited);
    });
  }

  request(message: ClockChildRequest): Promise<ClockChildReply> {
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#proc.send(message);
    });
  }

  async consume(keys: string[]): Promise<{ denied: string[]; errors: string[] }> {
    const reply = await this.request({ op: 'consume', keys });
    if (reply.op !== 'consume') throw new Error(`unexpected reply ${reply.op}`);
    return reply;
  }

  /** Asks the child to close its connection and exit; kills it (by its PID) if it does not. */
  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise((resolve) => this.#proc.once('exit', resolve));
    this.#proc.send({ op: 'exit' } satisfies ClockChildRequest);
    const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

describe('#14 time never runs backwards for a key across processes with fresh stores', () => {
  // Two processes, each with a fresh connection and store per round, consume once on each of the
  // same keys (GCRA, 2 per minute), so each key gets exactly two consumes and both must be allowed.
  // Per round, three batches of keys: in turn (one process on all of them, then the other; which
  // goes first alternates by round), both processes at the same moment, in turn again.
  const ROUNDS = 60;
  const KEYS = 8;

  it.each(['standalone', 'cluster'] as const)(
    '%s: two processes with fresh stores consume on the same keys: all allowed',
    async (mode) => {
      const prefix = uniquePrefix(`backwards-procs-${mode}`);
      const children = [new ClockChild(mode, prefix), new ClockChild(mode, prefix)] as const;
      const denied: string[] = [];
      const errors: string[] = [];
      const record = (r: { denied: string[]; errors: string[] }): void => {
        denied.push(...r.denied);
        errors.push(...r.errors);
      };
      try {
        for (let round = 0; round < ROUNDS; round++) {
          await Promise.all(children.map((c) => c.request({ op: 'fresh' })));
          const [first, second] = round % 2 === 0 ? children : [children[1], children[0]];
          const batch = (name: string): string[] => Array.from({ length: KEYS }, (_, i) => `r${round}-${name}${i}`);
          for (const [name, together] of [
            ['a', false],
            ['b', true],
            ['c', false],
          ] as const) {
            const keys = batch(name);
            if (together) for (const r of await Promise.all([first.consume(keys), second.consume(keys)])) record(r);
            else {
              record(await first.consume(keys));
              record(await second.consume(keys));
            }
          }
        }
      } finally {
        await Promise.all(children.map((c) => c.stop()));
      }
      expect(errors).toEqual([]);
      expect(denied).toEqual([]);
    },
    60_000,
  );
});
