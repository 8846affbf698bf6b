// Starts the scenario app (./app) on Bun, Deno or workerd: bundles the runtime's entry with esbuild
// (the workspace sources of @ratekeeper/core, /web and /hono, mapped by tsconfig.json's paths),
// runs the runtime's binary from its npm package on a free loopback port, waits until the app
// answers, and stops it by PID. A missing binary fails the suite: nothing is skipped.
// With `redisPort` (Bun and Deno), the app's limiters count in a RedisStore on an ioredis client to
// that port on 127.0.0.1 (entries app/bun-redis.ts and app/deno-redis.ts).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { builtinModules } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuildOptions, build } from 'esbuild';

const ROOT = join(__dirname, '..', '..');

export type RuntimeName = 'bun' | 'deno' | 'workerd';

/** Each runtime's binary, as its npm package (a root devDependency) installs it. */
const BINARIES: Record<RuntimeName, string> = {
  // The package's postinstall puts the platform's binary in place of this placeholder.
  bun: join(ROOT, 'node_modules', 'bun', 'bin', 'bun.exe'),
  // The binary itself, not the package's `bin.cjs` (a Node wrapper): the PID we stop is the runtime's.
  deno: join(ROOT, 'node_modules', 'deno', 'deno'),
  workerd: join(ROOT, 'node_modules', 'workerd', 'bin', 'workerd'),
};

/**
 * A recent date the installed workerd supports (from 2026-08-04 on `nodejs_compat` is on by
 * default; the adapters need no Node module, and workerd.test.ts checks an older date too).
 */
const COMPATIBILITY_DATE = '2026-11-01';

/** One HTTP response, as the tests read it. */
export interface Reply {
  readonly status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** How a test request reaches the app. */
export interface Send {
  /** The client's address: the connection's source on Bun and Deno, `CF-Connecting-IP` on workerd. @default '127.0.0.1' */
  ip?: string;
  /** No client address: Bun and Deno get `x-no-conn: 1` (the app drops the connection context), workerd no `CF-Connecting-IP`. */
  noConn?: boolean;
  headers?: Record<string, string>;
  method?: 'GET' | 'POST';
}

/** A runtime serving the scenario app on 127.0.0.1. */
export interface RuntimeServer {
  readonly name: RuntimeName;
  readonly port: number;
  send(path: string, options?: Send): Promise<Reply>;
  /** What the runtime printed (stdout and stderr), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** One request on a fresh connection, from `localAddress` (any address in 127.0.0.0/8 works on Linux). */
function rawRequest(port: number, path: string, method: string, headers: Record<string, string>, localAddress: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** Options of {@link startRuntime}. */
export interface StartOptions {
  /** workerd's `compatibilityDate`. @default COMPATIBILITY_DATE */
  compatibilityDate?: string;
  /** Bun and Deno: the limiters use a RedisStore on the redis-server at this port of 127.0.0.1. */
  redisPort?: number;
  /** Deno with `redisPort`: pass `--allow-env`, which ioredis needs there (see {@link command}). @default true */
  denoAllowEnv?: boolean;
}

/** The workerd configuration: one `modules` worker, the bundle as its main module, one socket. */
function capnpConfig(port: number, compatibilityDate: string): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .mainWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [ (name = "app.mjs", esModule = embed "app.mjs") ],
  compatibilityDate = "${compatibilityDate}",
);
`;
}

/**
 * The settings that bundle ioredis (CommonJS, `require('net')` and other bare built-ins): Node's
 * resolution, every built-in left to the runtime's own `node:` modules (Bun and Deno implement
 * them; nothing is polyfilled), and a `require` for the bundle's CommonJS code, which an ES module
 * lacks on Deno.
 */
const REDIS_BUNDLE: BuildOptions = {
  platform: 'node',
  mainFields: ['main', 'module'],
  external: ['node:*', ...builtinModules],
  banner: { js: "import { createRequire as __rkCreateRequire } from 'node:module';\nconst require = __rkCreateRequire(import.meta.url);" },
};

/** Bundles the runtime's entry into `dir/app.mjs`: one ESM file, Node built-ins left to the runtime. */
async function bundle(name: RuntimeName, dir: string, redis: boolean): Promise<string> {
  const outfile = join(dir, 'app.mjs');
  await build({
    entryPoints: [join(__dirname, 'app', `${name}${redis ? '-redis' : ''}.ts`)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    // One tsconfig for every file, so `@ratekeeper/*` resolves to packages/*/src everywhere.
    tsconfig: join(ROOT, 'tsconfig.json'),
    external: ['node:*'],
    logLevel: 'silent',
    ...(redis ? REDIS_BUNDLE : {}),
  });
  return outfile;
}

function command(name: RuntimeName, dir: string, app: string, port: number, options: StartOptions): [string, string[]] {
  const redisPort = options.redisPort;
  const binary = BINARIES[name];
  if (!existsSync(binary)) {
    throw new Error(
      `${name} is not installed at ${binary}: run \`npx -y pnpm@10 install\` (the root devDependency \`${name}\` ` +
        'ships the binary; its postinstall must run, see onlyBuiltDependencies in pnpm-workspace.yaml)',
    );
  }
  const redis = redisPort === undefined ? [] : [String(redisPort)];
  if (name === 'bun') return [binary, ['run', app, String(port), ...redis]];
  if (name === 'deno') {
    // ioredis loads `debug`, which reads every environment variable (`Object.keys(process.env)`)
    // when it loads: without --allow-env Deno stops there (NotCapable: Requires env access).
    const env = redisPort !== undefined && options.denoAllowEnv !== false ? ['--allow-env'] : [];
    return [binary, ['run', '--allow-net', ...env, '--no-prompt', app, String(port), ...redis]];
  }
  return [binary, ['serve', join(dir, 'config.capnp')]];
}

/** Bundles the app, starts `name` on a free port and resolves once the app answers. */
export async function startRuntime(name: RuntimeName, options: StartOptions = {}): Promise<RuntimeServer> {
  const dir = await mkdtemp(join(tmpdir(), `ratekeeper-${name}-`));
  let child: ChildProcess | undefined;
  let log = '';
  const output = (): string => log;
  const cleanup = async (): Promise<void> => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (options.redisPort !== undefined && name === 'workerd') throw new Error('workerd: the Redis app runs on Bun and Deno only');
    const app = await bundle(name, dir, options.redisPort !== undefined);
    const port = await freePort();
    if (name === 'workerd') await writeFile(join(dir, 'config.capnp'), capnpConfig(port, options.compatibilityDate ?? COMPATIBILITY_DATE));
    const [binary, args] = command(name, dir, app, port, options);
    const started = spawn(binary, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', DENO_DIR: join(dir, 'deno'), DO_NOT_TRACK: '1', NO_COLOR: '1' },
    });
    child = started;
    started.stdout?.on('data', (c: Buffer) => {
      log += c.toString();
    });
    started.stderr?.on('data', (c: Buffer) => {
      log += c.toString();
    });
    let exited: string | undefined;
    started.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? `code ${code}`}`;
    });
    started.once('error', (error) => {
      exited = `failed to start: ${error.message}`;
    });

    const send = (path: string, o: Send = {}): Promise<Reply> => {
      const headers: Record<string, string> = { ...o.headers };
      const ip = o.ip ?? '127.0.0.1';
      if (name === 'workerd') {
        if (!o.noConn) headers['cf-connecting-ip'] = ip;
        return rawRequest(port, path, o.method ?? 'GET', headers, '127.0.0.1');
      }
      if (o.noConn) headers['x-no-conn'] = '1';
      return rawRequest(port, path, o.method ?? 'GET', headers, ip);
    };

    // Ready when the admin route answers.
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (exited !== undefined) throw new Error(`${name} ${exited} before answering:\n${log}`);
      try {
        const reply = await send('/__reset', { method: 'POST' });
        if (reply.status === 200 && reply.body === name) break;
        throw new Error(`${name} answered /__reset with ${reply.status} ${reply.body}`);
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${name} did not answer on port ${port} within 20 s (${String(error)}):\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return { name, port, send, output, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Stops a child by its PID: SIGTERM, then SIGKILL if it has not exited within 3 s. */
async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  }, 3_000);
  await gone;
  clearTimeout(timer);
}
