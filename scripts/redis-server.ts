// Throwaway redis-server processes for tests and benchmarks: loopback only, no persistence, each in
// its own temp dir under .redis-test/, stopped by PID. Run directly to start one and print its port.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
// Relative to the working directory: tests and benchmarks run from the repository root.
const ROOT = resolve(process.cwd(), '.redis-test');

/** One running redis-server. */
export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** Kills the process (by PID) and removes its directory. */
  stop(): Promise<void>;
}

/** A free loopback port (and, for Cluster nodes, its bus port `port + 10000` too). */
export async function freePort(withBus = false): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(0);
    if (port > 55_000 && withBus) continue;
    if (
      !withBus ||
      (await listenOnce(port + 10_000).then(
        () => true,
        () => false,
      ))
    )
      return port;
  }
  throw new Error('no free port found');
}

function listenOnce(port: number): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(port, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => ok(p));
    });
  });
}

/** Sends one inline command and returns the raw reply (enough for PING and CLUSTER INFO). */
export function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((ok, fail) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      fail(new Error('timeout'));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk) => {
      data += chunk.toString();
      // A bulk reply is complete when its announced length has arrived.
      const m = /^\$(\d+)\r\n/.exec(data);
      if (!m || data.length >= m[0].length + Number(m[1]) + 2) {
        clearTimeout(timer);
        socket.end();
        ok(data);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let ok = false;
    try {
      ok = await check();
    } catch (error) {
      if (error instanceof Error && error.message.includes('exited at startup')) throw error;
    }
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function requireBinary(name: string): void {
  const found = spawnSyncWhich(name);
  if (!found) throw new Error(`${name} not found on PATH: install Redis (e.g. apt-get install redis-server) — Redis tests never skip`);
}

function spawnSyncWhich(name: string): boolean {
  const paths = (process.env.PATH ?? '').split(':');
  return paths.some((p) => p && existsSync(join(p, name)));
}

/** Starts a redis-server; `port` reuses a port (a restart after a kill). */
export async function startRedis(options: { port?: number; args?: string[]; dir?: string } = {}): Promise<RedisServer> {
  requireBinary('redis-server');
  mkdirSync(ROOT, { recursive: true });
  const dir = options.dir ?? mkdtempSync(join(ROOT, 'node-'));
  const port = options.port ?? (await freePort(options.args?.includes('--cluster-enabled')));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.args ?? [])];
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore', detached: false });
  let gone = false;
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      gone = true;
      r();
    }),
  );
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error('redis-server did not start');
  await waitFor(async () => {
    if (gone) throw new Error(`redis-server on port ${port} exited at startup (port taken?)`);
    return (await rawCommand(port, 'PING')).startsWith('+PONG');
  }, `redis-server on port ${port}`);
  return {
    port,
    pid,
    dir,
    async stop() {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      // A referenced timer: the child is unref()'d, so without one Node could find nothing left to
      // wait for and exit (with code 0) in the middle of a Jest global teardown, hiding the run's
      // failures from its exit code.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A 3-master Redis Cluster (no replicas) on loopback. */
export interface RedisCluster {
  readonly ports: number[];
  readonly nodes: RedisServer[];
  stop(): Promise<void>;
}

export async function startCluster(masters = 3): Promise<RedisCluster> {
  // Ports are picked free but can be taken before redis-server binds them: try again once.
  try {
    return await startClusterOnce(masters);
  } catch {
    return await startClusterOnce(masters);
  }
}

async function startClusterOnce(masters: number): Promise<RedisCluster> {
  requireBinary('redis-cli');
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(
      await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'] }),
    );
  }
  const ports = nodes.map((n) => n.port);
  try {
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 20_000,
      killSignal: 'SIGKILL',
    });
    for (const port of ports) {
      await waitFor(async () => (await rawCommand(port, 'CLUSTER INFO')).includes('cluster_state:ok'), `cluster_state:ok on ${port}`);
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw error;
  }
  return { ports, nodes, stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}
