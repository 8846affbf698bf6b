// The simulator's state in the page's query string, so a scenario can be shared as a link:
// ?algorithms=fixed-window,sliding-window&limit=10&window=10000&burst=0&blockFor=0&pattern=edges&rate=10&duration=30000&at=10000&headers=legacy,draft-8
// Every value is checked and clamped: a hand-edited link gives a valid scenario, never an exception.
import type { Algorithm, HeaderFormat } from '@ratekeeper/core';
import { ALGORITHMS, MAX_REQUESTS, PATTERNS, type Pattern, type Scenario } from './simulate';

export interface SimState {
  readonly scenario: Scenario;
  /** The selected moment (ms from the start) whose headers are shown. */
  readonly at: number;
  /** The header families shown (an adapter's `headers` option). */
  readonly headers: readonly HeaderFormat[];
}

/** Every header family, in the order the simulator lists them. */
export const HEADER_FORMATS: readonly HeaderFormat[] = ['legacy', 'draft-6', 'draft-7', 'draft-8'];

export const DEFAULT_STATE: SimState = {
  scenario: {
    algorithms: ['fixed-window', 'sliding-window'],
    limit: 10,
    windowMs: 10_000,
    burst: 0,
    blockForMs: 0,
    pattern: 'edges',
    rate: 10,
    durationMs: 30_000,
    trace: [],
  },
  at: 10_000,
  // The adapters' default (DEFAULT_HEADER_FORMATS).
  headers: ['legacy', 'draft-8'],
};

const MAX_DURATION_MS = 3_600_000;

function int(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) return fallback;
  return Math.min(max, Math.max(min, Math.round(n)));
}

function num(value: string | null, fallback: number, min: number, max: number): number {
  if (value === null || value.trim() === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

/**
 * Request times from pasted text: numbers separated by commas, spaces or new lines, in ms. Epoch
 * timestamps (above 10^11, i.e. after 1973) are made relative to the earliest. Sorted; anything
 * that is not a number is skipped.
 */
export function parseTrace(text: string): number[] {
  const values = text
    .split(/[\s,;]+/)
    .filter((v) => v !== '')
    .map(Number)
    .filter((n) => Number.isFinite(n) && n >= 0);
  if (values.length === 0) return [];
  const min = Math.min(...values);
  const base = min > 1e11 ? min : 0;
  return values
    .map((v) => Math.round(v - base))
    .sort((a, b) => a - b)
    .slice(0, MAX_REQUESTS);
}

/** The state a query string describes; missing or invalid values take the defaults. */
export function stateFromQuery(query: string): SimState {
  const q = new URLSearchParams(query);
  const d = DEFAULT_STATE.scenario;
  const listed = (q.get('algorithms') ?? '').split(',').filter((a): a is Algorithm => (ALGORITHMS as readonly string[]).includes(a));
  const algorithms = q.has('algorithms') ? ALGORITHMS.filter((a) => listed.includes(a)) : d.algorithms;
  const patternValue = q.get('pattern');
  const pattern: Pattern = PATTERNS.includes(patternValue as Pattern) ? (patternValue as Pattern) : d.pattern;
  const trace = parseTrace(q.get('trace') ?? '');
  const limit = int(q.get('limit'), d.limit, 1, 10_000);
  const windowMs = int(q.get('window'), d.windowMs, 1, MAX_DURATION_MS);
  // A trace runs to just past its last request unless a duration is given.
  const lastOfTrace = pattern === 'trace' && trace.length > 0 ? (trace[trace.length - 1] ?? 0) + 1 : d.durationMs;
  const durationMs = int(q.get('duration'), lastOfTrace, 1, MAX_DURATION_MS);
  const scenario: Scenario = {
    algorithms: algorithms.length > 0 ? algorithms : d.algorithms,
    limit,
    windowMs,
    burst: int(q.get('burst'), d.burst, 0, 100_000),
    blockForMs: int(q.get('blockFor'), d.blockForMs, 0, MAX_DURATION_MS),
    pattern,
    rate: num(q.get('rate'), d.rate, 0.001, 10_000),
    durationMs,
    trace,
  };
  const listedHeaders = (q.get('headers') ?? '').split(',');
  const headers = HEADER_FORMATS.filter((f) => listedHeaders.includes(f));
  return {
    scenario,
    at: int(q.get('at'), Math.min(DEFAULT_STATE.at, durationMs - 1), 0, durationMs - 1),
    headers: headers.length > 0 ? headers : DEFAULT_STATE.headers,
  };
}

/** The query string (without `?`) that restores `state`. */
export function stateToQuery(state: SimState): string {
  const s = state.scenario;
  const q = new URLSearchParams({
    algorithms: s.algorithms.join(','),
    limit: `${s.limit}`,
    window: `${s.windowMs}`,
    burst: `${s.burst}`,
    blockFor: `${s.blockForMs}`,
    pattern: s.pattern,
    rate: `${s.rate}`,
    duration: `${s.durationMs}`,
    at: `${state.at}`,
    headers: state.headers.join(','),
  });
  if (s.pattern === 'trace') q.set('trace', s.trace.join(','));
  // Commas stay readable in a shared link.
  return q.toString().replace(/%2C/g, ',');
}
