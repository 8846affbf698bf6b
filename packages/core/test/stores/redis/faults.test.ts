import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createLimiter, type Limiter, MemoryStore, type StoreError } from '@ratekeeper/core';
import { RedisStore, type RedisStoreClient } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import { freePort, type RedisServer, rawCommand, startRedis } from '../../../../../scripts/redis-server';
import { type ClientFamily, type ClientOptions, ClientPool, FAMILIES, FAMILY_TOPOLOGIES, type Topology } from './clients';
import { pollUntil, uniquePrefix } from './helpers';

// Faults run against dedicated servers (killed, paused, flushed) so other suites never see them: a
// redis-server and a 3-master Cluster whose nodes keep their directory (and nodes.conf) across a
// kill, so a node restarts on its port as the same member. Every case runs for every client
// family on both topologies.

const run = promisify(execFile);
const CLUSTER_ARGS = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'];

interface OwnCluster {
  readonly ports: number[];
  readonly nodes: RedisServer[];
  readonly dirs: string[];
}

let server: RedisServer;
let cluster: OwnCluster;
const admins = new Map<number, Redis>();
const pool = new ClientPool();

/** A 3-master Cluster whose node directories outlive a node (restarted with `startRedis({ dir, port })`). */
async function startOwnCluster(): Promise<OwnCluster> {
  const root = resolve(process.cwd(), '.redis-test');
  mkdirSync(root, { recursive: true });
  const dirs = [0, 1, 2].map(() => mkdtempSync(join(root, 'fault-cluster-')));
  const nodes: RedisServer[] = [];
  for (const dir of dirs) nodes.push(await startRedis({ dir, port: await freePort(true), args: CLUSTER_ARGS }));
  const ports = nodes.map((n) => n.port);
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
    timeout: 20_000,
    killSignal: 'SIGKILL',
  });
  await clusterOk(ports);
  return { ports, nodes, dirs };
}

async function clusterOk(ports: number[]): Promise<void> {
  for (const port of ports) {
    await pollUntil(
      () =>
        rawCommand(port, 'CLUSTER INFO').then(
          (r) => r.includes('cluster_state:ok'),
          () => false,
        ),
      `cluster_state:ok on ${port}`,
      20,
    );
  }
}

function admin(port: number): Redis {
  let a = admins.get(port);
  if (a === undefined) {
    a = new Redis({ host: '127.0.0.1', port, retryStrategy: () => 20 });
    a.on('error', () => {});
    admins.set(port, pool.track(FAMILIES[0] as ClientFamily, a));
  }
  return a;
}

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startOwnCluster()]);
}, 30_000);
afterAll(async () => {
  await pool.closeAll();
  await Promise.all([server.stop(), ...cluster.nodes.map((n) => n.stop())]);
  for (const dir of cluster.dirs) rmSync(dir, { recursive: true, force: true });
});

/** The masters' ports of a topology's dedicated servers. */
function masterPorts(topology: Topology): number[] {
  return topology === 'cluster' ? cluster.ports : [server.port];
}

/** Sum of a command's calls over `ports` (INFO commandstats). */
async function commandCalls(ports: number[], name: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const info = await admin(port).info('commandstats');
    const m = new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info);
    total += m ? Number(m[1]) : 0;
  }
  return total;
}

/** The port of the master that holds `key`'s hash tag (its slot), on a topology's dedicated servers. */
async function ownerOf(topology: Topology, tag: string): Promise<number> {
  if (topology === 'standalone') return server.port;
  const a = admin(cluster.ports[0] as number);
  const slot = (await a.call('CLUSTER', 'KEYSLOT', tag)) as number;
  const ranges = (await a.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (owner === undefined) throw new Error(`no owner of slot ${slot}`);
  return owner[2][1];
}

/** PING through the client itself: every command it queued before has been answered by then. */
async function pingThrough(c: RedisStoreClient, topology: Topology, tag: string): Promise<void> {
  const any = c as unknown as {
    call?: (...a: string[]) => Promise<unknown>;
    sendCommand: (...a: unknown[]) => Promise<unknown>;
  };
  if (typeof any.call === 'function') {
    // ioredis/iovalkey: a keyed command reaches the tag's node on a Cluster.
    await any.call('EXISTS', `{${tag}}`);
  } else if (topology === 'cluster') await any.sendCommand(`{${tag}}`, true, ['EXISTS', `{${tag}}`]);
  else await any.sendCommand(['EXISTS', `{${tag}}`]);
}

/** A client of a topology's dedicated servers that reconnects every 20 ms. */
function faultClient(family: ClientFamily, topology: Topology, extra: ClientOptions = {}): Promise<RedisStoreClient> {
  return pool.make(family, topology, {
    ...(topology === 'cluster' ? { ports: cluster.ports } : { port: server.port }),
    retryMs: 20,
    ...extra,
  });
}

/**
 * Kills the server (on a Cluster: the master holding the key) under traffic from one limiter per
 * family, restarts it on its port, and checks each limiter's answers: all answered, by the fallback
 * within timeoutMs while down, back on Redis by themselves, onRecover once, and the restarted
 * (empty) server charged exactly what Redis answered since.
 */
async function killAndRestart(topology: Topology, families: readonly ClientFamily[]): Promise<void> {
  const runs = await Promise.all(
    families.map(async (family) => {
      const errors: StoreError[] = [];
      const c = await faultClient(family, topology);
      const store = new RedisStore({ client: c, timeoutMs: 100 });
      const run = { family, c, store, errors, recovered: 0, limiter: undefined as unknown as Limiter };
      run.limiter = createLimiter({
        limit: 1000,
        window: '1h',
        algorithm: 'fixed-window',
        store,
        prefix: uniquePrefix(`kill-${family.name}`),
        timeoutMs: 200,
        retryStoreAfterMs: 0,
        onStoreError: new MemoryStore(),
        onError: (e) => errors.push(e),
        onRecover: () => run.recovered++,
      });
      return run;
    }),
  );
  for (const r of runs) for (let i = 0; i < 20; i++) expect((await r.limiter.consume('k')).error).toBeUndefined();
  // On a Cluster the master holding the key dies (the others keep serving their slots).
  const port = await ownerOf(topology, 'k');
  const index = topology === 'cluster' ? cluster.ports.indexOf(port) : -1;
  const victim = index >= 0 ? (cluster.nodes[index] as RedisServer) : server;
  // Traffic in flight while the server dies: every request still gets an answer.
  const inFlight = runs.map((r) => Promise.all(Array.from({ length: 50 }, () => r.limiter.consume('k'))));
  await victim.stop();
  const answered = await Promise.all(inFlight);
  const seen: Record<string, unknown> = {};
  const expected: Record<string, unknown> = {};
  for (const [i, r] of runs.entries()) {
    // A Cluster client stays connected to the other masters: the failed calls take the store down.
    await pollUntil(async () => (await r.limiter.consume('k')) && r.store.health.down, `${r.family.name}: the store to be down`, 20);
    const t0 = performance.now();
    const down = await r.limiter.consume('k');
    seen[r.family.name] = {
      answered: answered[i]?.length,
      fastMs: performance.now() - t0 < 400,
      allowed: down.allowed, // answered by the fallback MemoryStore
      reported: r.errors.length > 0,
      recovered: r.recovered,
    };
    expected[r.family.name] = { answered: 50, fastMs: true, allowed: true, reported: true, recovered: 0 };
  }
  expect(seen).toEqual(expected);
  if (index >= 0) cluster.nodes[index] = await startRedis({ dir: cluster.dirs[index] as string, port, args: CLUSTER_ARGS });
  else server = await startRedis({ port });
  for (const r of runs) {
    let byRedis = 0;
    await pollUntil(
      async () => {
        const wasDown = r.store.health.down;
        await r.limiter.consume('k');
        // Answered by Redis: it was up, or this call was the probe that brought it up.
        if (!r.store.health.down) byRedis++;
        return !wasDown && !r.store.health.down;
      },
      `${r.family.name}: the limiter to use Redis again`,
      20,
    );
    // The restarted server lost its data: it holds exactly the decisions Redis answered since, so
    // no command queued or sent during the outage ran late after the restart.
    await pingThrough(r.c, topology, 'k');
    const p = await r.limiter.peek('k');
    seen[r.family.name] = { recovered: r.recovered, error: p.error, charged: 1000 - p.remaining };
    expected[r.family.name] = { recovered: 1, error: undefined, charged: byRedis };
  }
  expect(seen).toEqual(expected);
  if (index >= 0) await clusterOk(cluster.ports);
}

describe.each(FAMILY_TOPOLOGIES)('RedisStore faults (%s, %s)', (name, topology, family: ClientFamily) => {
  const client = (extra: ClientOptions = {}): Promise<RedisStoreClient> => faultClient(family, topology, extra);

  it('SCRIPT FLUSH between calls: NOSCRIPT is recovered with EVAL once, each decision counts exactly once, then EVALSHA alone again', async () => {
    const ports = masterPorts(topology);
    const limiter = createLimiter({
      limit: 10,
      window: '1h',
      algorithm: 'fixed-window',
      store: new RedisStore({ client: await client() }),
      prefix: uniquePrefix('flush'),
    });
    const before = { eval: await commandCalls(ports, 'eval'), evalsha: await commandCalls(ports, 'evalsha') };
    const hincrby = await commandCalls(ports, 'hincrby');
    for (let i = 0; i < 5; i++) {
      for (const port of ports) await admin(port).script('FLUSH');
      const d = await limiter.consume('k');
      expect(d.error).toBeUndefined();
      expect(d.remaining).toBe(10 - i - 1);
    }
    // Each decision: one EVALSHA refused with NOSCRIPT, one EVAL that ran; exactly one HINCRBY each.
    expect(await commandCalls(ports, 'eval')).toBe(before.eval + 5);
    expect(await commandCalls(ports, 'evalsha')).toBe(before.evalsha + 5);
    expect(await commandCalls(ports, 'hincrby')).toBe(hincrby + 5);
    // The script is cached again: one EVALSHA per decision, no EVAL.
    for (let i = 0; i < 3; i++) expect((await limiter.consume('k')).remaining).toBe(10 - 5 - i - 1);
    expect(await commandCalls(ports, 'eval')).toBe(before.eval + 5);
    expect(await commandCalls(ports, 'evalsha')).toBe(before.evalsha + 8);
  });

  it('CLIENT PAUSE (a slow Redis) hits the timeout path: the policy answers within timeoutMs', async () => {
    const errors: StoreError[] = [];
    const limiter = createLimiter({
      limit: 10,
      window: '1h',
      store: new RedisStore({ client: await client() }),
      prefix: uniquePrefix('pause'),
      timeoutMs: 100,
      retryStoreAfterMs: 0,
      onStoreError: 'deny',
      onError: (e) => errors.push(e),
    });
    expect((await limiter.consume('k')).allowed).toBe(true);
    const ports = masterPorts(topology);
    for (const port of ports) await admin(port).call('CLIENT', 'PAUSE', '300', 'ALL');
    try {
      const t0 = performance.now();
      const d = await limiter.consume('k');
      expect(performance.now() - t0).toBeLessThan(280);
      expect(d.allowed).toBe(false);
      expect(d.error?.timedOut).toBe(true);
      expect(errors.map((e) => e.timedOut)).toEqual([true]);
    } finally {
      // Waits for the pause to end (UNPAUSE itself is paused).
      for (const port of ports) await admin(port).ping();
    }
  });

  if (topology === 'standalone')
    it('Redis killed mid-traffic and restarted on the same port: fallback store within timeoutMs, automatic recovery, onRecover reported, nothing charged twice', () =>
      killAndRestart(topology, [family]));

  it('a connection killed while its script waits (CLIENT PAUSE WRITE, CLIENT KILL) is not re-sent after the reconnect: nothing is charged', async () => {
    // Both ways the app can pass its client: replay-safe (shared) and, for ioredis and iovalkey,
    // plain (the store's duplicate); node-redis never re-sends either way.
    for (const plain of [false, true]) {
      const c = await client({ plain });
      const store = new RedisStore({ client: c, timeoutMs: 300 });
      const limiter = createLimiter({
        limit: 10,
        window: '1h',
        algorithm: 'fixed-window',
        store,
        prefix: uniquePrefix(`killed-${plain}`),
        timeoutMs: 300,
        retryStoreAfterMs: 0,
        onStoreError: 'deny',
        onError: () => {},
      });
      expect((await limiter.consume('k')).remaining).toBe(9);
      const port = await ownerOf(topology, 'k');
      const a = admin(port);
      await a.call('CLIENT', 'PAUSE', '10000', 'WRITE');
      try {
        const held = limiter.consume('k');
        // The held client: blocked (flags=b) on its EVALSHA.
        const heldScripts = async () =>
          ((await a.call('CLIENT', 'LIST')) as string).split('\n').filter((l) => / flags=b .* cmd=evalsha /.test(l));
        await pollUntil(async () => (await heldScripts()).length > 0, 'the script to be held');
        const list = await heldScripts();
        expect(list).toHaveLength(1);
        await a.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(list[0] as string)?.[1] as string);
        const d = await held;
        expect([plain, d.allowed, d.error === undefined]).toEqual([plain, false, false]);
      } finally {
        await a.call('CLIENT', 'UNPAUSE');
      }
      // Back on Redis: the killed consume was never run, nor re-sent once the connection returned.
      await pollUntil(async () => (await limiter.peek('k')).error === undefined, 'the store to answer again', 20);
      await pingThrough(store.client, topology, 'k');
      expect((await limiter.consume('k')).remaining).toBe(8);
      await store.close();
    }
  });

  it('a dead Redis never hangs a request nor leaves an unhandled rejection (no ready connection: nothing queued)', async () => {
    // A port where nothing listens yet (standalone: a server starts there afterwards, to see that
    // nothing waited in a client queue to run late).
    const port = await freePort(topology === 'cluster');
    const dead = await client(topology === 'cluster' ? { ports: [port], lazy: true, retryMs: 50 } : { port, lazy: true, retryMs: 50 });
    // A node-redis app calls connect() itself (it never resolves while nothing listens).
    if (name === 'node-redis' && topology === 'standalone') (dead as unknown as { connect(): Promise<unknown> }).connect().catch(() => {});
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    let late: RedisServer | undefined;
    try {
      const limiter = createLimiter({
        limit: 5,
        window: '1s',
        store: new RedisStore({ client: dead, timeoutMs: 50 }),
        prefix: uniquePrefix('dead'),
        timeoutMs: 80,
        retryStoreAfterMs: 0,
        onStoreError: 'deny',
        onError: () => {},
      });
      const t0 = performance.now();
      const ds = await Promise.all(Array.from({ length: 20 }, () => limiter.consume('k')));
      expect(performance.now() - t0).toBeLessThan(500);
      for (const d of ds) expect(d).toMatchObject({ allowed: false });
      await limiter.refund('k');
      await expect(limiter.reset('k')).rejects.toThrow(/not ready|closed/);
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      if (topology === 'standalone') {
        late = await startRedis({ port });
        await pollUntil(() => family.ready(dead), 'the client to connect', 20);
        await pingThrough(dead, topology, 'k');
        // Nothing went to a client's offline queue to run after the policy already answered.
        expect(await admin(port).dbsize()).toBe(0);
        expect(await commandCalls([port], 'evalsha')).toBe(0);
        expect(await commandCalls([port], 'eval')).toBe(0);
      } else {
        const q = (dead as unknown as { offlineQueue?: { length: number } }).offlineQueue;
        if (q !== undefined) expect(q.length).toBe(0);
        else expect((dead as unknown as { isOpen: boolean }).isOpen).toBe(false);
      }
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await family.close(dead);
      if (late !== undefined) {
        const a = admins.get(port);
        admins.delete(port);
        if (a !== undefined) await (FAMILIES[0] as ClientFamily).close(a);
        await late.stop();
      }
    }
  });
});

// Last: its restart (a restarted Cluster master refuses writes for 2 s) also outlives the 2 s destroy
// timer iovalkey arms when its slots refresher gives up on a dead node (the dead-Redis case above).
describe('RedisStore faults (every family, cluster)', () => {
  it('the master holding a key killed mid-traffic and restarted on its port: fallback store within timeoutMs, automatic recovery, onRecover reported, nothing charged twice', () =>
    killAndRestart('cluster', FAMILIES));
});
