// Server-side counters of the Redis benchmark: commands (INFO commandstats, Lua-internal included),
// CPU (INFO cpu) and network bytes (INFO stats), read with one INFO call so the reading itself
// costs one command; plus CPU pinning and the redis-benchmark (C client) reference run.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';

const run = promisify(execFile);

/** Cumulative server counters at one instant. */
export interface ServerCounters {
  /** Commands executed, INFO itself excluded. */
  calls: number;
  /** Per-command call counts (INFO excluded). */
  byCommand: Map<string, number>;
  /** used_cpu_user + used_cpu_sys, µs. */
  cpuUs: number;
  /** total_net_input_bytes / total_net_output_bytes. */
  inBytes: number;
  outBytes: number;
}

/** Reads every counter with a single `INFO cpu stats commandstats`. */
export async function serverCounters(admin: Redis): Promise<ServerCounters> {
  const text = String(await admin.call('INFO', 'cpu', 'stats', 'commandstats'));
  const byCommand = new Map<string, number>();
  let calls = 0;
  for (const m of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
    if (m[1] === 'info') continue;
    byCommand.set(m[1] as string, Number(m[2]));
    calls += Number(m[2]);
  }
  const num = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    calls,
    byCommand,
    cpuUs: (num('used_cpu_user') + num('used_cpu_sys')) * 1e6,
    inBytes: num('total_net_input_bytes'),
    outBytes: num('total_net_output_bytes'),
  };
}

/** Per-unit difference of two readings. */
export interface CounterDelta {
  cmds: number;
  /** `evalsha 1 + hincrby 1 + pexpire 0.05`-style breakdown. */
  breakdown: string;
  redisCpuUs: number;
  inBytes: number;
  outBytes: number;
}

export function delta(before: ServerCounters, after: ServerCounters, units: number): CounterDelta {
  const parts: string[] = [];
  for (const [name, n] of after.byCommand) {
    const d = (n - (before.byCommand.get(name) ?? 0)) / units;
    if (d >= 0.005) parts.push(`${name} ${Number(d.toFixed(2))}`);
  }
  return {
    cmds: (after.calls - before.calls) / units,
    breakdown: parts.join(' + '),
    redisCpuUs: (after.cpuUs - before.cpuUs) / units,
    inBytes: (after.inBytes - before.inBytes) / units,
    outBytes: (after.outBytes - before.outBytes) / units,
  };
}

/** Pins every thread of process `pid` to `cpu` (no-op returning false when taskset is missing). */
export function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One redis-benchmark run: requests/s and latency percentiles in µs. */
export interface CBenchResult {
  rate: number;
  p50Us: number;
  p99Us: number;
}

/**
 * `redis-benchmark` (the C client) sending `args` `n` times with `clients` connections, optionally
 * pinned with `taskset -c cpu`. `__rand_int__` in args draws from `-r keys`.
 */
export async function redisBenchmark(
  port: number,
  args: string[],
  opts: { n: number; clients: number; keys: number; cpu?: number },
): Promise<CBenchResult> {
  const cmd = ['redis-benchmark', '-h', '127.0.0.1', '-p', String(port), '-n', String(opts.n), '-c', String(opts.clients)];
  cmd.push('-r', String(opts.keys), '--csv', ...args);
  const full = opts.cpu === undefined ? cmd : ['taskset', '-c', String(opts.cpu), ...cmd];
  const { stdout } = await run(full[0] as string, full.slice(1), { maxBuffer: 1 << 20 });
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const lines = stdout.trim().split('\n');
  const header = (lines[0] ?? '').split(',').map((s) => s.replace(/"/g, ''));
  const row = (lines[lines.length - 1] ?? '').split(',').map((s) => s.replace(/"/g, ''));
  const col = (name: string) => Number(row[header.indexOf(name)]);
  return { rate: col('rps'), p50Us: col('p50_latency_ms') * 1000, p99Us: col('p99_latency_ms') * 1000 };
}
