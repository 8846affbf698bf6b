// Lease mode on Redis (issue 17): 4 client processes on one local redis-server, each with 100
// decisions in flight for a fixed time, on one hot key and on 10,000 cold keys. ratekeeper's
// RedisStore with `lease: { size: 'auto' }` (fixed window, GCRA, token bucket) against the
// one-round-trip stores (ratekeeper plain, rate-limit-redis, rate-limiter-flexible,
// @fastify/rate-limit's Redis store), limit 1e9 per minute (nothing denied). Reports decisions/s
// (sum over the 4 processes), Redis CPU, Redis commands and client CPU per decision, medians over
// alternating rounds; a lease row's "× best peer" is paired per round with the best one-round-trip
// peer of that round.
// Run alone: node --import tsx bench/redis-lease.ts [--rounds 3] [--seconds 3] [--scenarios hot,cold] [--quick]
// (pnpm bench:redis runs it after the slots benchmark with the same --rounds/--quick; --no-lease skips it.)
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedis } from '../scripts/redis-server';
import { markdownTable } from './lib/markdown';
import { type CounterDelta, delta, pin, serverCounters } from './lib/redis-stats';
import { fmtFixed, fmtInt, median } from './lib/stats';

/** Options of {@link leaseBench}. */
export interface LeaseBenchOptions {
  rounds: number;
  /** Measured time per (contender, scenario), per process. */
  seconds: number;
  /** Only these scenarios (`hot`, `cold`). @default both */
  scenarios?: string[] | undefined;
}

const PROCESSES = 4;
const PEERS = ['rate-limit-redis', 'rlf', 'fastify'];
const NAMES: Record<string, string> = {
  'rk-lease-fixed': "ratekeeper fixed-window, lease: { size: 'auto' }",
  'rk-lease-gcra': "ratekeeper gcra, lease: { size: 'auto' }",
  'rk-lease-tb': "ratekeeper token-bucket, lease: { size: 'auto' }",
  'rk-fixed': 'ratekeeper fixed-window, plain (one round trip)',
  'rk-gcra': 'ratekeeper gcra, plain (one round trip)',
  'rate-limit-redis': 'rate-limit-redis `increment`',
  rlf: 'rate-limiter-flexible `RateLimiterRedis.consume`',
  fastify: '@fastify/rate-limit `RedisStore.incr`',
};
const SCENARIOS: { id: 'hot' | 'cold'; name: string; contenders: string[] }[] = [
  { id: 'hot', name: '1 hot key', contenders: ['rk-lease-fixed', 'rk-lease-gcra', 'rk-lease-tb', 'rk-fixed', ...PEERS] },
  { id: 'cold', name: '10,000 cold keys', contenders: ['rk-fixed', 'rk-lease-fixed', 'rk-lease-gcra', 'rk-gcra'] },
];

interface Sample {
  rate: number;
  redisCpuUs: number;
  clientCpuUs: number;
  server: CounterDelta;
  allowedShare: number;
  /** Decisions the store-error policy answered (must be 0). */
  failures: number;
}

interface Child {
  proc: ChildProcess;
  next(): Promise<Record<string, number | boolean>>;
}

function child(port: number): Child {
  const proc = fork(fileURLToPath(new URL('./lib/redis-lease-client.ts', import.meta.url)), [String(port)], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const queue: Record<string, number | boolean>[] = [];
  const waiting: ((m: Record<string, number | boolean>) => void)[] = [];
  proc.once('exit', (code) => {
    if (code !== 0) {
      console.error(`lease bench client exited with ${code}`);
      process.exit(1);
    }
  });
  proc.on('message', (m) => {
    const w = waiting.shift();
    if (w) w(m as Record<string, number | boolean>);
    else queue.push(m as Record<string, number | boolean>);
  });
  return {
    proc,
    next: () => {
      const m = queue.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** Runs the lease benchmark on its own redis-server and returns its markdown report. */
export async function leaseBench(options: LeaseBenchOptions): Promise<string> {
  const server = await startRedis();
  const pinned = cpus().length >= 2 && pin(server.pid, 0);
  const admin = new Redis({ port: server.port, host: '127.0.0.1' });
  const children = Array.from({ length: PROCESSES }, () => child(server.port));
  const samples = new Map<string, Sample[]>();
  const started = Date.now();
  try {
    await Promise.all(children.map((c) => c.next()));
    if (pinned) for (const c of children) pin(c.proc.pid as number, 1);
    for (let round = 0; round < options.rounds; round++) {
      for (const scenario of SCENARIOS.filter((x) => !options.scenarios || options.scenarios.includes(x.id))) {
        // Hot: rotated and alternately reversed. Cold: each lease row next to its plain twin, in
        // alternating order (a measurement's position in a round moved it by up to 10 %).
        const list =
          scenario.id === 'cold' ? [...scenario.contenders] : scenario.contenders.map((_, i, a) => a[(i + round) % a.length] as string);
        for (const id of round % 2 ? list.reverse() : list) {
          process.stderr.write(`lease round ${round + 1}/${options.rounds}: ${scenario.id} ${id}\n`);
          await admin.flushall();
          for (const c of children) c.proc.send({ id, scenario: scenario.id, ms: options.seconds * 1000 });
          await Promise.all(children.map((c) => c.next()));
          const before = await serverCounters(admin);
          for (const c of children) c.proc.send({ go: true });
          const reports = await Promise.all(children.map((c) => c.next()));
          const after = await serverCounters(admin);
          const n = reports.reduce((s, r) => s + (r.n as number), 0);
          const allowed = reports.reduce((s, r) => s + (r.allowed as number), 0);
          const rate = reports.reduce((s, r) => s + (r.n as number) / ((r.elapsedMs as number) / 1000), 0);
          const server = delta(before, after, n);
          const key = `${scenario.id}:${id}`;
          const list2 = samples.get(key) ?? [];
          list2.push({
            rate,
            redisCpuUs: server.redisCpuUs,
            clientCpuUs: reports.reduce((s, r) => s + (r.cpuUs as number), 0) / n,
            server,
            allowedShare: allowed / n,
            failures: reports.reduce((s, r) => s + (r.failures as number), 0),
          });
          samples.set(key, list2);
        }
      }
    }
  } finally {
    for (const c of children) c.proc.send({ quit: true });
    admin.disconnect();
    await server.stop();
  }
  return report(samples, options, pinned, (Date.now() - started) / 1000);
}

function report(samples: Map<string, Sample[]>, options: LeaseBenchOptions, pinned: boolean, seconds: number): string {
  const rounds = options.rounds;
  const get = (scenario: string, id: string) => samples.get(`${scenario}:${id}`) ?? [];
  // The best one-round-trip peer of each round (hot key): the highest decisions/s among the peers.
  const bestPeer = Array.from({ length: rounds }, (_, i) => {
    let best = { id: '', rate: 0, redisCpuUs: Number.NaN };
    for (const id of PEERS) {
      const s = get('hot', id)[i];
      if (s && s.rate > best.rate) best = { id, rate: s.rate, redisCpuUs: s.redisCpuUs };
    }
    return best;
  });
  const out: string[] = [
    `# bench:redis lease mode — ${PROCESSES} client processes × 100 in flight, ${options.seconds} s per measurement, ${rounds} round(s), medians (per round)`,
    '',
    `Node ${process.version}, ${cpus().length} CPUs; redis-server ${pinned ? 'pinned to CPU 0, the 4 clients to CPU 1' : 'not pinned'}; limit 1e9 per minute (nothing denied); ${fmtFixed(seconds, 0)} s.`,
    '',
  ];
  const targets: string[] = [];
  for (const scenario of SCENARIOS) {
    const rows: string[][] = [];
    for (const id of scenario.contenders) {
      const xs = get(scenario.id, id);
      if (xs.length === 0) continue;
      const lease = id.startsWith('rk-lease');
      let vs = '-';
      let cpuVs = '-';
      if (scenario.id === 'hot') {
        vs = fmtFixed(median(xs.map((x, i) => x.rate / (bestPeer[i]?.rate ?? Number.NaN))), 2);
        cpuVs = fmtFixed(median(xs.map((x, i) => (bestPeer[i]?.redisCpuUs ?? Number.NaN) / x.redisCpuUs)), 1);
      } else {
        const plain = get('cold', id.replace('rk-lease-', 'rk-'));
        if (lease) vs = fmtFixed(median(xs.map((x, i) => x.rate / (plain[i]?.rate ?? Number.NaN))), 2);
      }
      rows.push([
        NAMES[id] ?? id,
        `${fmtInt(median(xs.map((x) => x.rate)))} (${xs.map((x) => fmtInt(x.rate)).join(' / ')})`,
        vs,
        fmtFixed(median(xs.map((x) => x.redisCpuUs)), 3),
        cpuVs,
        fmtFixed(median(xs.map((x) => x.server.cmds)), 3),
        fmtFixed(median(xs.map((x) => x.clientCpuUs)), 2),
        fmtFixed(median(xs.map((x) => x.allowedShare)), 3),
        String(Math.max(...xs.map((x) => x.failures))),
      ]);
      if (lease && scenario.id === 'hot') {
        const ratio = median(xs.map((x, i) => x.rate / (bestPeer[i]?.rate ?? Number.NaN)));
        targets.push(
          `- ${ratio >= 10 ? 'PASS' : 'FAIL'} hot key, ${NAMES[id]}: ≥ 10× the decisions/s of the best one-round-trip peer (paired per round): ${fmtFixed(ratio, 1)}×`,
        );
      }
      if (lease && scenario.id === 'cold') {
        const plain = get('cold', id.replace('rk-lease-', 'rk-'));
        const ratio = median(xs.map((x, i) => x.rate / (plain[i]?.rate ?? Number.NaN)));
        // "No slower": within the noise of paired rounds on this shared machine.
        targets.push(
          `- ${ratio >= 0.9 ? 'PASS' : 'FAIL'} 10,000 cold keys, ${NAMES[id]}: no slower than plain mode (paired ratio ≥ 0.9): ${fmtFixed(ratio, 2)}`,
        );
      }
    }
    out.push(
      `## ${scenario.name}`,
      '',
      markdownTable(
        [
          'contender',
          'decisions/s median (per round)',
          scenario.id === 'hot' ? '× best peer' : '× plain',
          'Redis CPU µs/decision',
          scenario.id === 'hot' ? 'best peer Redis CPU ÷ this' : '',
          'Redis cmds/decision',
          'client CPU µs/decision',
          'allowed',
          'policy answers',
        ].filter((h, i) => h !== '' || i !== 4),
        scenario.id === 'hot' ? rows : rows.map((r) => r.filter((_, i) => i !== 4)),
        ['l'],
      ),
      '',
    );
  }
  out.push(
    `Best one-round-trip peer per round (hot key): ${bestPeer.map((b) => `${b.id} ${fmtInt(b.rate)}/s`).join(', ')}.`,
    '',
    '## Targets',
    '',
    ...targets,
    '',
  );
  const text = out.join('\n');
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}redis-lease-${new Date().toISOString().replace(/[:.]/g, '-')}.md`, `${text}\n`);
  return text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const text = await leaseBench({
    rounds: Number(opt('rounds') ?? (quick ? 1 : 3)),
    seconds: Number(opt('seconds') ?? (quick ? 1 : 3)),
    scenarios: opt('scenarios')?.split(','),
  });
  console.log(text);
}
