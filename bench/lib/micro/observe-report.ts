import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { runChild } from '../child';
import { markdownTable } from '../markdown';
import { fmtFixed, fmtInt, median, spread } from '../stats';
import type { Measurement, Scenario } from './measure';
import { OBSERVE_CONFIGS } from './observe';

/** What `pnpm bench:micro --observe` was asked for. */
export interface ObserveOptions {
  readonly rounds: number;
  readonly scenarios: readonly Scenario[];
  /** Checkout whose `packages/core/src` is `rk@base`; without it that row is left out. */
  readonly base: string | undefined;
  /** Configuration ids to run (`rk` is always kept: the ratios are taken against it). */
  readonly only: readonly string[] | undefined;
  /** The micro bench's own file: children run it with `--child`. */
  readonly self: string;
  /** Where the report and raw numbers go. */
  readonly resultsDir: string;
}

/** The scenarios `--observe` runs unless `--scenarios` says otherwise. */
export const OBSERVE_SCENARIOS: readonly string[] = ['k10k-allow', 'k1-block90'];

/** The targets of the observability issue: cost of the channels with nobody listening, and with OTel installed. */
const NO_SUBSCRIBER_BUDGET = 1.01;
const OTEL_BUDGET = 1.1;

function git(cwd: string, args: readonly string[]): string {
  try {
    return execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** The commit of a checkout, and whether its core sources have uncommitted edits. */
function describe(checkout: string): string {
  const head = git(checkout, ['rev-parse', '--short', 'HEAD']);
  const dirty = git(checkout, ['status', '--porcelain', '--', 'packages/core/src', 'packages/otel/src', 'packages/prometheus/src']);
  return dirty === '' ? `commit ${head}` : `commit ${head} + uncommitted changes in ${dirty.split('\n').length} source file(s)`;
}

/**
 * Parent side of `--observe`: every (configuration, scenario, round) in a fresh child process,
 * configurations rotated and reversed across rounds as in the main table; ratios paired per round.
 */
export async function runObserve(o: ObserveOptions): Promise<void> {
  if (o.base !== undefined && !existsSync(resolve(o.base, 'packages/core/src/index.ts')))
    throw new Error(`--base ${o.base}: no packages/core/src/index.ts there`);
  const configs = OBSERVE_CONFIGS.filter(
    (c) => (c.id !== 'rk@base' || o.base !== undefined) && (!o.only || o.only.includes(c.id) || c.id === 'rk'),
  );
  const ids = configs.map((c) => c.id);
  const started = new Date();
  const loadStart = loadavg();
  const cells = new Map<string, (Measurement | undefined)[]>();
  const cell = (c: string, s: string): (Measurement | undefined)[] => {
    const k = `${c}|${s}`;
    let v = cells.get(k);
    if (!v) {
      v = new Array<Measurement | undefined>(o.rounds).fill(undefined);
      cells.set(k, v);
    }
    return v;
  };
  const baseArgs = o.base === undefined ? [] : [resolve(o.base)];
  const total = o.rounds * o.scenarios.length * ids.length;
  let done = 0;
  for (let r = 0; r < o.rounds; r++) {
    for (const s of o.scenarios) {
      const order = ids.map((_, i) => ids[(i + r) % ids.length] as string);
      if (r % 2 === 1) order.reverse();
      for (const id of order) {
        const m = await runChild<Measurement>(o.self, ['--child', id, JSON.stringify(s), ...baseArgs]);
        cell(id, s.id)[r] = m;
        done++;
        process.stderr.write(`[${done}/${total}] round ${r + 1} ${s.id} ${id}: ${fmtInt(m.nsPerDecision ?? Number.NaN)} ns\n`);
      }
    }
  }

  const ns = (c: string, s: string): number[] => cell(c, s).map((m) => m?.nsPerDecision ?? Number.NaN);
  const ratios = (c: string, ref: string, s: string): number[] => {
    const b = ns(ref, s);
    return ns(c, s).map((v, i) => v / (b[i] ?? Number.NaN));
  };
  const ratio = (c: string, ref: string, s: string): number => (ids.includes(ref) ? median(ratios(c, ref, s)) : Number.NaN);
  const range = (xs: readonly number[]): string => {
    const f = xs.filter(Number.isFinite);
    return f.length ? `${fmtFixed(Math.min(...f), 3)}–${fmtFixed(Math.max(...f), 3)}` : '-';
  };
  const hasBase = ids.includes('rk@base');

  const out: string[] = [];
  const p = (line = ''): void => {
    out.push(line);
  };
  p('# bench:micro --observe — cost of the diagnostics channels per decision (memory store, default algorithm)');
  p();
  p(
    `${started.toISOString()} · Node ${process.version} · ${cpus().length}× ${cpus()[0]?.model ?? '?'} · load average ` +
      `${loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} at end`,
  );
  p(
    `This checkout: ${describe(process.cwd())}${o.base === undefined ? '' : ` · rk@base: ${resolve(o.base)} (${describe(o.base)})`}. ` +
      `${o.rounds} round(s), configurations rotating; each cell a fresh child process (1 warm-up run, 1 timed run on a fresh limiter, the subscriber installed before both); ` +
      `${o.scenarios.map((s) => `${s.label}: ${fmtInt(s.decisions)} decisions`).join(', ')}.`,
  );
  p();
  p('## ns per decision: median over rounds; ratios paired per round, then median (range = lowest–highest round)');
  p();
  p(
    markdownTable(
      ['scenario', 'config', 'ns/decision', ...(hasBase ? ['× rk@base'] : []), '× rk', '× rk range', 'ns per round (spread)'],
      o.scenarios.flatMap((s) =>
        configs.map((c) => [
          s.label,
          c.id,
          fmtInt(median(ns(c.id, s.id))),
          ...(hasBase ? [fmtFixed(ratio(c.id, 'rk@base', s.id), 3)] : []),
          fmtFixed(ratio(c.id, 'rk', s.id), 3),
          c.id === 'rk' ? '-' : range(ratios(c.id, 'rk', s.id)),
          `${ns(c.id, s.id).map(fmtInt).join(' / ')} (×${fmtFixed(spread(ns(c.id, s.id)))})`,
        ]),
      ),
      ['l', 'l', 'r', ...(hasBase ? (['r'] as const) : []), 'r', 'r', 'r'],
    ),
  );
  p();
  p(
    markdownTable(
      ['config', 'what'],
      configs.map((c) => [c.id, c.label]),
      ['l', 'l'],
    ),
  );
  p();

  // Sanity: the subscribers saw every timed decision; only rk+noop is on the decision channel.
  const bad: string[] = [];
  for (const [k, ms] of cells) {
    for (const m of ms) {
      if (!m) continue;
      const s = o.scenarios.find((x) => x.id === m.scenario);
      const want = s?.mode === 'allow' ? 0 : 0.9;
      if (m.blockedShare !== undefined && Math.abs(m.blockedShare - want) > 0.001)
        bad.push(`${k}: ${fmtFixed(100 * m.blockedShare, 3)} % blocked`);
      const listens = m.contender !== 'rk' && m.contender !== 'rk@base';
      // The metrics packages count through observeDecisions, not the channel: only rk+noop subscribes.
      const subscribes = m.contender === 'rk+noop';
      if (m.subscribed !== subscribes) bad.push(`${k}: ratekeeper:decision ${m.subscribed ? 'had' : 'had no'} subscriber`);
      if (listens && m.recorded !== s?.decisions) bad.push(`${k}: recorded ${m.recorded} of ${s?.decisions} decisions`);
    }
  }
  p(
    `Checks: ${
      bad.length === 0
        ? 'every subscriber recorded every timed decision, only rk+noop was on the decision channel (otel and prom count through observeDecisions), every cell blocked what it should.'
        : `MISMATCH ${bad.join('; ')}`
    }`,
  );
  p();
  p('## targets');
  p();
  /** PASS or FAIL only when every round agrees; otherwise the rounds cannot tell at this budget. */
  const verdict = (xs: readonly number[], budget: number): string => {
    const f = xs.filter(Number.isFinite);
    if (f.length === 0) return 'n/a';
    if (Math.max(...f) <= budget) return 'PASS';
    if (Math.min(...f) > budget) return 'FAIL';
    return `UNRESOLVED (median ${median(f) <= budget ? 'within' : 'over'})`;
  };
  for (const s of o.scenarios) {
    if (hasBase) {
      const x = ratio('rk', 'rk@base', s.id);
      p(
        `- ${verdict(ratios('rk', 'rk@base', s.id), NO_SUBSCRIBER_BUDGET)} ${s.label}: no subscriber ≤ 1 % over the base: rk / rk@base ×${fmtFixed(x, 3)} ` +
          `(rounds ${range(ratios('rk', 'rk@base', s.id))})`,
      );
    }
    for (const c of ['rk+otel', 'rk+prom', 'rk+noop']) {
      if (!ids.includes(c)) continue;
      const x = ratio(c, 'rk', s.id);
      const cost = median(ns(c, s.id)) - median(ns('rk', s.id));
      const tag = c === 'rk+otel' ? verdict(ratios(c, 'rk', s.id), OTEL_BUDGET) : 'info';
      const what = c === 'rk+otel' ? 'OTel installed ≤ 10 % over rk' : `${c} over rk`;
      p(
        `- ${tag} ${s.label}: ${what}: ${c} / rk ×${fmtFixed(x, 3)} (rounds ${range(ratios(c, 'rk', s.id))}; ` +
          `+${fmtInt(cost)} ns per decision from the medians)`,
      );
    }
  }
  p();
  p(
    'PASS / FAIL need every round on the same side of the budget. A paired ratio moves by several % from round to round on ' +
      'this 2-vCPU machine, so the 1 % budget is usually UNRESOLVED here: count instructions instead, which load does not move ' +
      '(`bench/ir-per-decision.ts` under callgrind, on this checkout and on the base).',
  );
  const text = out.join('\n');
  console.log(text);

  mkdirSync(o.resultsDir, { recursive: true });
  const file = `${o.resultsDir}micro-observe-${started.toISOString().replace(/[:.]/g, '-')}`;
  writeFileSync(`${file}.md`, `${text}\n`);
  writeFileSync(
    `${file}.json`,
    JSON.stringify({ started, rounds: o.rounds, base: o.base, scenarios: o.scenarios, cells: Object.fromEntries(cells) }, null, 2),
  );
  process.stderr.write(`results written to ${file}.{md,json}\n`);
}
