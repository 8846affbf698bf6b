// A throwaway Redis Sentinel deployment for tests: one master, one replica (`--replicaof`) and three
// `redis-sentinel` processes monitoring the master (quorum 2), all on loopback, each process in its
// own temp dir under .redis-test/ and stopped by PID. Readiness and failover are awaited by polling
// the servers' own state (bounded loops), never by fixed sleeps.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { freePort, type RedisServer, startRedis } from './redis-server';

// Relative to the working directory, as in redis-server.ts: tests run from the repository root.
const ROOT = resolve(process.cwd(), '.redis-test');

/** A Redis reply: simple string or bulk, integer, nil, error, or array. */
export type Reply = string | number | null | Error | Reply[];

/** One running redis-sentinel. */
export interface SentinelProcess {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Kills the process (by PID) and removes its directory. */
  stop(): Promise<void>;
}

/** A master, its replica and three sentinels. */
export interface RedisSentinel {
  /** The monitored master's name (the `name` option of an ioredis Sentinel client). */
  readonly name: string;
  /** The two data servers: [the initial master, the initial replica]. Roles swap on failover. */
  readonly servers: readonly RedisServer[];
  readonly sentinels: readonly SentinelProcess[];
  /** `{ host, port }` of every sentinel, ready for ioredis's `sentinels` option. */
  readonly addresses: readonly { host: string; port: number }[];
  /** The master's port as every sentinel reports it (throws when they disagree or do not answer). */
  masterPort(): Promise<number>;
  /**
   * Forces a failover (`SENTINEL FAILOVER <name>`) and resolves once every sentinel reports the
   * promoted replica's address and that server reports `role:master`.
   */
  failover(timeoutMs?: number): Promise<{ from: number; to: number }>;
  /** Stops the sentinels first (so they do not react), then the servers. */
  stop(): Promise<void>;
}

export interface SentinelOptions {
  /** @default 'rk-master' */
  name?: string;
  /** @default 1000 */
  downAfterMs?: number;
  /** @default 2000 */
  failoverTimeoutMs?: number;
  /** Bound of the readiness wait. @default 30000 */
  readyTimeoutMs?: number;
}

/** Sends one command (RESP array of bulk strings) to a loopback port and returns the whole reply. */
export function command(port: number, args: readonly (string | number)[], timeoutMs = 1000): Promise<Reply> {
  return new Promise((ok, fail) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    const finish = (error: Error | undefined, reply?: Reply) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) fail(error);
      else ok(reply as Reply);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from 127.0.0.1:${port} to ${args[0]} within ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
      socket.write(out);
    });
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const parsed = parseReply(data, 0);
      if (parsed !== undefined) finish(undefined, parsed[0]);
    });
    socket.on('error', (e) => finish(e));
  });
}

/** Parses one reply at `at`: [reply, next offset], or undefined when it has not fully arrived. */
function parseReply(buf: Buffer, at: number): [Reply, number] | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[at] as number);
  const line = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new Error(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return undefined;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items: Reply[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, pos);
        if (item === undefined) return undefined;
        items.push(item[0]);
        pos = item[1];
      }
      return [items, pos];
    }
    default:
      throw new Error(`unexpected reply type ${JSON.stringify(type)} from Redis`);
  }
}

/** `SENTINEL MASTER`/`REPLICAS` entries: a flat [field, value, ...] array as an object. */
function fields(reply: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
  return out;
}

/** `INFO <section>` as an object. */
async function info(port: number, section: string): Promise<Record<string, string>> {
  const reply = await command(port, ['INFO', section]);
  const out: Record<string, string> = {};
  if (typeof reply !== 'string') return out;
  for (const line of reply.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** A server's replication role (`master` or `slave`). */
export async function roleOf(port: number): Promise<string | undefined> {
  return (await info(port, 'replication')).role;
}

/** Thrown by a `waitUntil` check to stop polling at once (the wrapped error is rethrown). */
class Fatal {
  constructor(readonly cause: unknown) {}
}

/**
 * Polls `check` (every `intervalMs`, on a referenced timer) until it returns true; gives up after
 * `timeoutMs` with an error naming `what` and the last thing `check` said or threw.
 */
async function waitUntil(check: () => Promise<boolean | string>, what: string, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const r = await check();
      if (r === true) return;
      if (typeof r === 'string') last = r;
    } catch (error) {
      if (error instanceof Fatal) throw error.cause;
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function requireBinary(name: string): void {
  const found = (process.env.PATH ?? '').split(':').some((p) => p && existsSync(join(p, name)));
  if (!found) throw new Error(`${name} not found on PATH: install it (apt-get install redis-sentinel) — Redis tests never skip`);
}

async function startSentinelProcess(name: string, masterPort: number, o: Required<SentinelOptions>): Promise<SentinelProcess> {
  mkdirSync(ROOT, { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'sentinel-'));
  const port = await freePort();
  const conf = join(dir, 'sentinel.conf');
  // Sentinel rewrites its config file (the epoch, the peers it learned): it must be writable.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      `logfile ${join(dir, 'sentinel.log')}`,
      'sentinel resolve-hostnames no',
      'sentinel announce-ip 127.0.0.1',
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${name} ${o.downAfterMs}`,
      `sentinel failover-timeout ${name} ${o.failoverTimeoutMs}`,
      `sentinel parallel-syncs ${name} 1`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-sentinel', [conf], { stdio: 'ignore', detached: false });
  let gone = false;
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      gone = true;
      r();
    }),
  );
  child.unref();
  const pid = child.pid;
  const stop = async (): Promise<void> => {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A referenced timer (the child is unref()'d): without one, Node could find nothing left to
    // wait for and exit with code 0 in the middle of a Jest teardown, hiding the run's failures.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (pid === undefined) throw new Error('redis-sentinel did not start');
    await waitUntil(
      async () => {
        if (gone)
          throw new Fatal(new Error(`redis-sentinel on port ${port} exited at startup (port taken?): ${tail(join(dir, 'sentinel.log'))}`));
        return (await command(port, ['PING'])) === 'PONG';
      },
      `redis-sentinel on port ${port}`,
      15_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, pid: pid as number, dir, stop };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** The master address one sentinel reports, as a port on 127.0.0.1. */
async function reportedMaster(sentinelPort: number, name: string): Promise<number> {
  const reply = await command(sentinelPort, ['SENTINEL', 'get-master-addr-by-name', name]);
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error(`sentinel ${sentinelPort} knows no master ${name}: ${String(reply)}`);
  if (reply[0] !== '127.0.0.1') throw new Error(`sentinel ${sentinelPort} reports master host ${String(reply[0])}`);
  return Number(reply[1]);
}

/** Starts the deployment and waits until it can fail over (replica in sync, sentinels know each other). */
export async function startSentinel(options: SentinelOptions = {}): Promise<RedisSentinel> {
  requireBinary('redis-server');
  requireBinary('redis-sentinel');
  const o: Required<SentinelOptions> = {
    name: options.name ?? 'rk-master',
    downAfterMs: options.downAfterMs ?? 1000,
    failoverTimeoutMs: options.failoverTimeoutMs ?? 2000,
    readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
  };
  const { name } = o;
  const servers: RedisServer[] = [];
  const sentinels: SentinelProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(sentinels.map((s) => s.stop()));
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const master = await startRedis();
    servers.push(master);
    servers.push(await startRedis({ args: ['--replicaof', '127.0.0.1', String(master.port)] }));
    const replica = servers[1] as RedisServer;
    await waitUntil(
      async () => {
        const r = await info(replica.port, 'replication');
        return r.master_link_status === 'up' || `master_link_status:${r.master_link_status}`;
      },
      `the replica on ${replica.port} to sync with the master on ${master.port}`,
      o.readyTimeoutMs,
    );
    // One at a time: a port picked free can be taken before the process binds it; try again once.
    for (let i = 0; i < 3; i++) {
      sentinels.push(await startSentinelProcess(name, master.port, o).catch(() => startSentinelProcess(name, master.port, o)));
    }
    // Ready to fail over: every sentinel reports the master, sees it up, knows the replica (in sync)
    // and the two other sentinels (from their hello messages, every 2 s).
    for (const s of sentinels) {
      await waitUntil(
        async () => {
          if ((await reportedMaster(s.port, name)) !== master.port) return 'wrong master';
          const m = fields(await command(s.port, ['SENTINEL', 'MASTER', name]));
          if (m.flags !== 'master') return `master flags ${m.flags}`;
          if (Number(m['num-other-sentinels']) !== sentinels.length - 1) return `num-other-sentinels ${m['num-other-sentinels']}`;
          const replicas = await command(s.port, ['SENTINEL', 'REPLICAS', name]);
          const known = Array.isArray(replicas) ? replicas.map(fields) : [];
          const r = known.find((x) => Number(x.port) === replica.port);
          if (r === undefined) return 'replica not known yet';
          return (r.flags === 'slave' && r['master-link-status'] === 'ok') || `replica flags ${r.flags} link ${r['master-link-status']}`;
        },
        `sentinel ${s.port} to be ready to fail over ${name}`,
        o.readyTimeoutMs,
      );
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  const masterPort = async (): Promise<number> => {
    const ports = await Promise.all(sentinels.map((s) => reportedMaster(s.port, name)));
    if (new Set(ports).size !== 1) throw new Error(`sentinels disagree on the master of ${name}: ${ports.join(', ')}`);
    return ports[0] as number;
  };

  return {
    name,
    servers,
    sentinels,
    addresses: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
    masterPort,
    async failover(timeoutMs = 30_000) {
      const from = await masterPort();
      const target = servers.find((s) => s.port !== from);
      if (target === undefined) throw new Error(`no replica of ${name} to promote`);
      const deadline = Date.now() + timeoutMs;
      const left = (): number => Math.max(1, deadline - Date.now());
      // The replica to promote must be in sync, and the sentinel must see it so (after a previous
      // failover, the old master is demoted and resynced ~10 s later).
      const s0 = (sentinels[0] as SentinelProcess).port;
      await waitUntil(
        async () => {
          const r = await info(target.port, 'replication');
          if (r.role !== 'slave' || Number(r.master_port) !== from || r.master_link_status !== 'up')
            return `${target.port}: role:${r.role} master_port:${r.master_port} master_link_status:${r.master_link_status}`;
          const replicas = await command(s0, ['SENTINEL', 'REPLICAS', name]);
          const seen = (Array.isArray(replicas) ? replicas.map(fields) : []).find((x) => Number(x.port) === target.port);
          return (
            (seen?.flags === 'slave' && seen['master-link-status'] === 'ok') ||
            `sentinel sees ${seen?.flags} ${seen?.['master-link-status']}`
          );
        },
        `the replica on ${target.port} to be in sync with the master on ${from}`,
        left(),
      );
      // NOGOODSLAVE: the sentinel has no fresh enough view of the replica yet; INPROG: a previous
      // failover is still finishing. Both are retried within the bound.
      await waitUntil(
        async () => {
          const reply = await command(s0, ['SENTINEL', 'FAILOVER', name]);
          if (reply instanceof Error) {
            if (/NOGOODSLAVE|INPROG/.test(reply.message)) return reply.message;
            throw new Fatal(new Error(`SENTINEL FAILOVER ${name}: ${reply.message}`));
          }
          return true;
        },
        `SENTINEL FAILOVER ${name} to be accepted`,
        left(),
      );
      await waitUntil(
        async () => {
          const ports = await Promise.all(sentinels.map((s) => reportedMaster(s.port, name)));
          if (!ports.every((p) => p === target.port)) return `sentinels report ${ports.join(', ')}`;
          const role = await roleOf(target.port);
          return role === 'master' || `the promoted server reports role:${role}`;
        },
        `the sentinels to report ${target.port} as the master of ${name}`,
        left(),
      );
      return { from, to: target.port };
    },
    stop: stopAll,
  };
}
