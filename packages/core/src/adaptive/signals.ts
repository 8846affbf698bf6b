// The built-in load signals. Node's modules are reached through `process.getBuiltinModule` (Node
// 20.16+, Bun, Deno), read off `globalThis`, so that the root entry point imports no `node:` module
// and edge bundles load: there a built-in signal is a ConfigError and a function signal works.

/** The built-in signals, as the `signal` option names them. */
export const BUILTIN_SIGNALS = ['event-loop-delay', 'event-loop-utilization', 'heap', 'rss', 'cpu'] as const;

/** A built-in load signal (see `LoadSignal`). */
export type BuiltinSignal = (typeof BUILTIN_SIGNALS)[number];

/** Reads the load since the previous read (or now, for memory), in [0, 1] or beyond. @internal */
export interface LoadReader {
  read(): number;
  close(): void;
}

interface CpuUsage {
  user: number;
  system: number;
}

/** The parts of Node's `process` the signals use. */
interface NodeProcess {
  getBuiltinModule?(id: string): unknown;
  cpuUsage?(previous?: CpuUsage): CpuUsage;
  memoryUsage?: { rss?(): number };
  constrainedMemory?(): number | undefined;
}

interface Histogram {
  readonly mean: number;
  enable(): boolean;
  disable(): boolean;
  reset(): void;
}

interface Utilization {
  readonly idle: number;
  readonly active: number;
  readonly utilization: number;
}

interface PerfHooks {
  monitorEventLoopDelay?(options: { resolution: number }): Histogram;
  performance?: { eventLoopUtilization?(a?: Utilization, b?: Utilization): Utilization; now(): number };
}

interface V8 {
  getHeapStatistics?(): { used_heap_size: number; heap_size_limit: number };
}

interface Os {
  totalmem?(): number;
  availableParallelism?(): number;
  cpus?(): unknown[];
}

function nodeProcess(): NodeProcess | undefined {
  return (globalThis as { process?: NodeProcess }).process;
}

function builtin<T>(id: string): T | undefined {
  try {
    return nodeProcess()?.getBuiltinModule?.(id) as T | undefined;
  } catch {
    return undefined;
  }
}

/** The resolution of the event-loop delay histogram (ms): its samples include it. */
const RESOLUTION_MS = 10;

/** What this runtime lacks for `signal` (for the ConfigError), or undefined when it has it all. */
export function missingFor(signal: BuiltinSignal): string | undefined {
  const proc = nodeProcess();
  if (typeof proc?.getBuiltinModule !== 'function') return `'${signal}' needs Node's getBuiltinModule (Node 20.16+, Bun, Deno)`;
  switch (signal) {
    case 'event-loop-delay':
      return typeof builtin<PerfHooks>('node:perf_hooks')?.monitorEventLoopDelay === 'function'
        ? undefined
        : "'event-loop-delay' needs perf_hooks.monitorEventLoopDelay";
    case 'event-loop-utilization':
      return typeof builtin<PerfHooks>('node:perf_hooks')?.performance?.eventLoopUtilization === 'function'
        ? undefined
        : "'event-loop-utilization' needs performance.eventLoopUtilization";
    case 'heap':
      return typeof builtin<V8>('node:v8')?.getHeapStatistics === 'function' ? undefined : "'heap' needs v8.getHeapStatistics";
    case 'rss':
      return typeof proc.memoryUsage?.rss === 'function' && typeof builtin<Os>('node:os')?.totalmem === 'function'
        ? undefined
        : "'rss' needs Node's memoryUsage.rss and os.totalmem";
    case 'cpu':
      return typeof proc.cpuUsage === 'function' && typeof builtin<Os>('node:os')?.cpus === 'function'
        ? undefined
        : "'cpu' needs Node's cpuUsage and os.cpus";
  }
}

/**
 * Starts measuring `signal` (checked by {@link missingFor} first). The interval signals measure
 * from this call to the first read, then from read to read.
 */
export function openSignal(
  signal: BuiltinSignal,
  options: { readonly maxDelayMs: number; readonly maxRss: number | undefined },
): LoadReader {
  const proc = nodeProcess() as Required<NodeProcess>;
  switch (signal) {
    case 'event-loop-delay': {
      const histogram = (builtin<PerfHooks>('node:perf_hooks') as Required<PerfHooks>).monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      histogram.enable();
      const full = options.maxDelayMs;
      return {
        read() {
          // Each sample is the time between two ticks of a RESOLUTION_MS timer: the delay is the excess.
          const mean = histogram.mean;
          histogram.reset();
          return Number.isFinite(mean) ? Math.max(0, mean / 1e6 - RESOLUTION_MS) / full : 0;
        },
        close: () => void histogram.disable(),
      };
    }
    case 'event-loop-utilization': {
      const performance = (builtin<PerfHooks>('node:perf_hooks') as Required<PerfHooks>).performance;
      const elu = performance.eventLoopUtilization as (a?: Utilization, b?: Utilization) => Utilization;
      let last = elu();
      return {
        read() {
          const now = elu();
          const load = elu(now, last).utilization;
          last = now;
          return load;
        },
        close: () => {},
      };
    }
    case 'heap': {
      const v8 = builtin<V8>('node:v8') as Required<V8>;
      return {
        read() {
          const s = v8.getHeapStatistics();
          return s.used_heap_size / s.heap_size_limit;
        },
        close: () => {},
      };
    }
    case 'rss': {
      const rss = proc.memoryUsage.rss as () => number;
      const full = options.maxRss ?? memoryLimit(proc);
      return { read: () => rss() / full, close: () => {} };
    }
    case 'cpu': {
      const os = builtin<Os>('node:os') as Required<Os>;
      const cores = Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
      let last = proc.cpuUsage();
      let at = globalThis.performance.now();
      return {
        read() {
          const now = globalThis.performance.now();
          const used = proc.cpuUsage(last);
          last = proc.cpuUsage();
          const elapsedUs = (now - at) * 1000;
          at = now;
          return elapsedUs > 0 ? (used.user + used.system) / (elapsedUs * cores) : 0;
        },
        close: () => {},
      };
    }
  }
}

/** The memory this process may use: its cgroup limit when it has one, else the machine's memory. */
function memoryLimit(proc: Required<NodeProcess>): number {
  const total = (builtin<Os>('node:os') as Required<Os>).totalmem();
  // Without a limit, Node reports 0 or 2^64 − 1.
  const constrained = typeof proc.constrainedMemory === 'function' ? proc.constrainedMemory() : undefined;
  return constrained !== undefined && constrained > 0 && constrained < total ? constrained : total;
}
