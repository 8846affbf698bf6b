import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Framework, Observed, Variant } from './http-apps';

const require = createRequire(import.meta.url);
const SERVER = fileURLToPath(new URL('./http-server.ts', import.meta.url));

/** The CPU the servers run on; the load generator (this process) runs on the other one. */
export const SERVER_CPU = 0;
/** The CPU of the load generator. */
export const LOAD_CPU = 1;

/** Pins every thread of this process (autocannon runs in it) to {@link LOAD_CPU}. */
export function pinSelf(): void {
  execFileSync('taskset', ['-a', '-pc', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
}

/** A server child's CPU counter and monotonic time (µs), read together; `--observe` variants add what their OpenTelemetry recorded so far. */
export interface CpuMark extends Observed {
  cpuUs: number;
  t: number;
}

/** One benchmark server in its own process, pinned to {@link SERVER_CPU}. */
export class ServerProcess {
  readonly pid: number;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: ((line: string) => void)[] = [];
  private readonly exited: Promise<void>;

  private constructor(child: ChildProcessByStdio<Writable, Readable, null>) {
    this.child = child;
    this.pid = child.pid as number;
    createInterface({ input: child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Spawns `taskset -c 0 node [tsx] [nodeFlags] http-server.ts framework variant` and waits for its port. */
  static async start(
    framework: Framework,
    variant: Variant,
    nodeFlags: readonly string[] = [],
  ): Promise<{ server: ServerProcess; port: number }> {
    const child = spawn(
      'taskset',
      ['-c', String(SERVER_CPU), process.execPath, ...process.execArgv, ...nodeFlags, SERVER, framework, variant],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    const server = new ServerProcess(child);
    const first = await Promise.race([
      server.nextLine(),
      server.exited.then(() => {
        throw new Error(`server ${framework} ${variant} exited before listening`);
      }),
    ]);
    return { server, port: (JSON.parse(first) as { port: number }).port };
  }

  private nextLine(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** The server's user+system CPU so far (µs) and its monotonic clock. */
  async cpu(): Promise<CpuMark> {
    const line = this.nextLine();
    this.child.stdin.write('cpu\n');
    return JSON.parse(await line) as CpuMark;
  }

  /** Asks the server to exit normally (so `--cpu-prof` writes its file) and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null) this.child.stdin.end('exit\n');
    await this.exited;
  }
}

interface AutocannonResult {
  requests: { total: number };
  latency: { p99: number };
  statusCodeStats: Record<string, { count: number }>;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: object) => Promise<AutocannonResult>;
const autocannon = require('autocannon') as Autocannon;

/** What one load run saw. */
export interface LoadResult {
  /** Responses received. */
  responses: number;
  /** Of those, with status 429. */
  limited: number;
  /** Wall time of the run, seconds. */
  seconds: number;
  p99Ms: number;
  /** Connection errors and timeouts. */
  errors: number;
}

/** `GET /` on 127.0.0.1:`port` for `seconds`, no pipelining. */
export async function load(port: number, seconds: number, connections: number): Promise<LoadResult> {
  const t0 = process.hrtime.bigint();
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, pipelining: 1, duration: seconds });
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  let responses = 0;
  for (const code in r.statusCodeStats) responses += r.statusCodeStats[code]?.count ?? 0;
  return {
    responses,
    limited: r.statusCodeStats['429']?.count ?? 0,
    seconds: elapsed,
    p99Ms: r.latency.p99,
    errors: r.errors + r.timeouts,
  };
}
