/**
 * In-process decision cost of ratekeeper's memory store against its peers and a plain Map floor.
 * Method: every measurement in a fresh child process (one warm-up run, one timed run on a fresh
 * instance), contenders alternating across rounds, medians.
 *
 *   pnpm bench:micro                 full run (5 rounds, 1,000,000 decisions per cell)
 *   pnpm bench:micro --quick         smoke run (1 round, 200,000 decisions; still 1,000,000 keys for heap)
 *   options: --rounds N  --only id,id (contender ids, see --list)  --scenarios id,id  --list
 *
 *   pnpm bench:micro --observe [--base <checkout>]
 *                                    the diagnostics channels' cost: ratekeeper's default decision with
 *                                    nobody subscribed, a no-op subscriber, @ratekeeper/otel and
 *                                    @ratekeeper/prometheus, and (with --base) the core of an older
 *                                    checkout (7 rounds of K=10k allow and K=1 block90 by default;
 *                                    --rounds, --scenarios, --quick, --only rk+otel,... as above)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runChild } from './lib/child';
import { markdownTable } from './lib/markdown';
import { CONTENDERS } from './lib/micro/contenders';
import { type Measurement, measure, type Scenario, WINDOW_MS } from './lib/micro/measure';
import { observeContender } from './lib/micro/observe';
import { OBSERVE_SCENARIOS, runObserve } from './lib/micro/observe-report';
import { fmtFixed, fmtInt, fmtRate, median, spread } from './lib/stats';

const SELF = fileURLToPath(import.meta.url);
const PEERS = ['erl', 'rlf', 'fastify', 'fastify-promise', 'koa'];
const DEFAULT_ALGO = 'rk-sliding-window';

function scenarios(decisions: number, largeKeys: number): Scenario[] {
  return [
    { id: 'k1-allow', label: 'K=1 allow', keys: 1, decisions, mode: 'allow', heap: false },
    { id: 'k1-block90', label: 'K=1 block90', keys: 1, decisions, mode: 'block90', heap: false },
    { id: 'k10k-allow', label: 'K=10k allow', keys: 10_000, decisions, mode: 'allow', heap: false },
    { id: 'k10k-block90', label: 'K=10k block90', keys: 10_000, decisions, mode: 'block90', heap: false },
    { id: 'k1m-allow', label: 'K=1M allow (all inserts)', keys: largeKeys, decisions: largeKeys, mode: 'allow', heap: true },
  ];
}

function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function child(args: readonly string[]): Promise<void> {
  const id = args[1] as string;
  const scenario = JSON.parse(args[2] as string) as Scenario;
  // `--observe` configurations take the `--base` checkout as a 4th argument.
  const contender = CONTENDERS.find((c) => c.id === id) ?? (await observeContender(id, args[3]));
  const m = await measure(contender, scenario);
  process.stdout.write(`${JSON.stringify(m)}\n`);
  // Peers leave unref'd or long timers behind (per-key timeouts, reset intervals).
  process.exit(0);
}

type Cell = (Measurement | undefined)[];

async function parent(args: readonly string[]): Promise<void> {
  if (args.includes('--list')) {
    for (const c of CONTENDERS) console.log(`${c.id.padEnd(18)} ${c.label}`);
    return;
  }
  const quick = args.includes('--quick');
  const decisions = quick ? 200_000 : 1_000_000;
  const only = argValue(args, '--only')?.split(',');
  const onlyScenarios = argValue(args, '--scenarios')?.split(',');
  if (args.includes('--observe')) {
    const wanted = onlyScenarios ?? OBSERVE_SCENARIOS;
    await runObserve({
      rounds: Number(argValue(args, '--rounds') ?? (quick ? 1 : 7)),
      scenarios: wanted.map((id) => {
        const s = scenarios(decisions, 1_000_000).find((x) => x.id === id);
        if (!s) throw new Error(`--scenarios: unknown scenario ${id}`);
        return s;
      }),
      base: argValue(args, '--base'),
      only,
      self: SELF,
      resultsDir: fileURLToPath(new URL('./results/', import.meta.url)),
    });
    return;
  }
  const rounds = Number(argValue(args, '--rounds') ?? (quick ? 1 : 5));
  const contenders = CONTENDERS.filter((c) => !only || only.includes(c.id) || c.id === 'map-async');
  const scens = scenarios(decisions, 1_000_000).filter((s) => !onlyScenarios || onlyScenarios.includes(s.id));
  const started = new Date();
  const loadStart = loadavg();
  const cells = new Map<string, Cell>();
  const cellOf = (c: string, s: string): Cell => {
    const k = `${c}|${s}`;
    let cell = cells.get(k);
    if (!cell) {
      cell = new Array<Measurement | undefined>(rounds).fill(undefined);
      cells.set(k, cell);
    }
    return cell;
  };

  const total = rounds * scens.length * contenders.length;
  let done = 0;
  for (let r = 0; r < rounds; r++) {
    for (const s of scens) {
      // Rotate the order each round so no contender always runs first (or right after a heavy one).
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length] as (typeof contenders)[number]);
      if (r % 2 === 1) order.reverse();
      for (const c of order) {
        const m = await runChild<Measurement>(SELF, ['--child', c.id, JSON.stringify(s)]);
        cellOf(c.id, s.id)[r] = m;
        done++;
        const what = m.skipped ? `n/a (${m.skipped})` : `${fmtInt(m.nsPerDecision ?? Number.NaN)} ns`;
        process.stderr.write(`[${done}/${total}] round ${r + 1} ${s.id} ${c.id}: ${what}\n`);
      }
    }
  }

  const ns = (c: string, s: string): number[] => cellOf(c, s).map((m) => m?.nsPerDecision ?? Number.NaN);
  const med = (c: string, s: string): number => median(ns(c, s));
  const heap = (c: string): number => median(cellOf(c, 'k1m-allow').map((m) => m?.heapBytesPerKey ?? Number.NaN));
  /** Contender over the async floor in the same round and scenario, then the median over rounds. */
  const ratio = (c: string, s: string): number => {
    const floor = ns('map-async', s);
    return median(ns(c, s).map((v, i) => v / (floor[i] ?? Number.NaN)));
  };
  const hasHeap = scens.some((s) => s.heap);

  const out: string[] = [];
  const p = (line = ''): void => {
    out.push(line);
  };
  p(`# bench:micro — in-process decisions, memory stores`);
  p();
  p(
    `${started.toISOString()} · Node ${process.version} · ${cpus().length}× ${cpus()[0]?.model ?? '?'} · ` +
      `load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} at end`,
  );
  p(
    `${rounds} round(s), contenders alternating; each cell a fresh child process (1 warm-up run, 1 timed run on a fresh instance); ` +
      `${fmtInt(decisions)} decisions per hot-key cell, window ${WINDOW_MS / 60_000} min, limit 1e9 (allow) or 10 % of hits per key (block90).`,
  );
  p();
  p('## ns per decision (median over rounds; lower is better)');
  p();
  const header = ['contender', ...scens.map((s) => s.label), 'x async floor (K=10k allow)', ...(hasHeap ? ['heap B/key (1M keys)'] : [])];
  p(
    markdownTable(
      header,
      contenders.map((c) => [
        c.label,
        ...scens.map((s) => fmtInt(med(c.id, s.id))),
        fmtFixed(ratio(c.id, 'k10k-allow')),
        ...(hasHeap ? [fmtInt(heap(c.id))] : []),
      ]),
    ),
  );
  p();
  p('## decisions per second (from the median)');
  p();
  p(
    markdownTable(
      ['contender', ...scens.map((s) => s.label)],
      contenders.map((c) => [c.label, ...scens.map((s) => fmtRate(med(c.id, s.id)))]),
    ),
  );
  p();
  p('## ratio to the async Map floor (paired per round, then median)');
  p();
  p(
    markdownTable(
      ['contender', ...scens.map((s) => s.label)],
      contenders.map((c) => [c.label, ...scens.map((s) => fmtFixed(ratio(c.id, s.id)))]),
    ),
  );
  p();
  p('## per-round ns per decision (round 1 / 2 / …; spread = slowest / fastest round)');
  p();
  p(
    markdownTable(
      ['contender', ...scens.map((s) => s.label)],
      contenders.map((c) => [
        c.label,
        ...scens.map((s) => {
          const v = ns(c.id, s.id);
          if (v.every((x) => !Number.isFinite(x))) return 'n/a';
          return `${v.map(fmtInt).join(' / ')} (×${fmtFixed(spread(v))})`;
        }),
      ]),
    ),
  );
  p();

  // Blocked share: allow cells must block nothing, block90 cells 90 % (token refill over a run may shave a hair).
  const bad: string[] = [];
  const shares: string[] = [];
  for (const s of scens) {
    const want = s.mode === 'allow' ? 0 : 0.9;
    for (const c of contenders) {
      for (const m of cellOf(c.id, s.id)) {
        if (!m || m.skipped || m.blockedShare === undefined) continue;
        if (Math.abs(m.blockedShare - want) > 0.001) bad.push(`${c.id} ${s.id}: ${(m.blockedShare * 100).toFixed(3)} %`);
      }
    }
    if (s.mode === 'block90') {
      const all = contenders.flatMap((c) => cellOf(c.id, s.id).map((m) => m?.blockedShare ?? Number.NaN)).filter(Number.isFinite);
      shares.push(`${s.label}: ${(Math.min(...all) * 100).toFixed(3)}–${(Math.max(...all) * 100).toFixed(3)} % blocked`);
    }
  }
  p(
    `Blocked share check: ${bad.length === 0 ? 'every measurement blocked exactly what it should' : `MISMATCH ${bad.join('; ')}`}` +
      (shares.length ? ` (${shares.join('; ')}).` : '.'),
  );
  const skipped = [...cells.values()].flat().filter((m) => m?.skipped);
  const skippedIds = [...new Set(skipped.map((m) => `${m?.contender} ${m?.scenario}: ${m?.skipped}`))];
  if (skippedIds.length) p(`n/a cells: ${skippedIds.join('; ')}.`);
  p();

  p('## targets');
  p();
  const check = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
  const has = (c: string): boolean => contenders.some((x) => x.id === c);
  if (has(DEFAULT_ALGO)) {
    for (const sid of ['k10k-allow', 'k10k-block90']) {
      if (!scens.some((s) => s.id === sid)) continue;
      const rk = med(DEFAULT_ALGO, sid);
      const peers = PEERS.filter(has).map((c) => ({ c, v: med(c, sid) }));
      const best = peers.reduce((a, b) => (b.v < a.v ? b : a), { c: '-', v: Number.POSITIVE_INFINITY });
      if (peers.length === 0) p(`- n/a default algorithm faster than every peer at ${sid}: no peer in this run`);
      else
        p(
          `- ${check(rk < best.v)} default algorithm faster than every peer at ${sid}: ${fmtInt(rk)} ns vs fastest peer ${best.c} ${fmtInt(best.v)} ns`,
        );
      // A sync-callback store pays no await; the fair bar for an awaited API is the awaited peers.
      const awaited = peers.filter((x) => CONTENDERS.find((c) => c.id === x.c)?.async);
      const bestAwaited = awaited.reduce((a, b) => (b.v < a.v ? b : a), { c: '-', v: Number.POSITIVE_INFINITY });
      if (awaited.length > 0 && awaited.length < peers.length)
        p(`  - ${check(rk < bestAwaited.v)} … than every awaited peer: fastest ${bestAwaited.c} ${fmtInt(bestAwaited.v)} ns`);
      const x = ratio(DEFAULT_ALGO, sid);
      p(
        `- ${check(x <= 1.5)} default algorithm within 1.5× of the async Map floor at ${sid}: ×${fmtFixed(x)} (floor ${fmtInt(med('map-async', sid))} ns)`,
      );
    }
  }
  if (hasHeap) {
    for (const c of ['rk-fixed-window', 'rk-gcra']) {
      if (has(c)) p(`- ${check(heap(c) <= 120)} ≤ 120 heap B/key for ${c}: ${fmtInt(heap(c))} B/key`);
    }
  }
  p();
  p('Informational, absolute targets for the memory store (only meaningful on a quiet machine):');
  p();
  for (const c of contenders.filter((x) => x.id.startsWith('rk-'))) {
    const a = med(c.id, 'k10k-allow');
    const b = med(c.id, 'k10k-block90');
    const m = med(c.id, 'k1m-allow');
    p(
      `- ${c.id}: K=10k allow ${fmtInt(a)} ns (≤ 250) · blocked/allowed at K=10k ×${fmtFixed(b / a)} (≤ 1) · ` +
        `K=1M inserts ${fmtInt(m)} ns (≤ 1,000) · ${fmtInt(heap(c.id))} B/key (≤ 100)`,
    );
  }
  const text = out.join('\n');
  console.log(text);

  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}micro-${started.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}`;
  writeFileSync(`${file}.md`, `${text}\n`);
  writeFileSync(
    `${file}.json`,
    JSON.stringify({ started, rounds, decisions, scenarios: scens, cells: Object.fromEntries(cells) }, null, 2),
  );
  process.stderr.write(`results written to ${file}.{md,json}\n`);
}

const args = process.argv.slice(2);
await (args[0] === '--child' ? child(args) : parent(args));
