// Geometry of one algorithm's chart: allowed and denied requests per time bin (stacked bars), the
// remaining quota after each request (a step line) and the window boundaries. Pure numbers; the
// Vue component draws them as SVG, in the page and at build time for the guides.
import type { Series } from './simulate';

export const WIDTH = 640;
export const HEIGHT = 200;
/** Plot area inside the SVG (room for the axes' labels). */
export const PLOT = { left: 44, right: WIDTH - 44, top: 12, bottom: HEIGHT - 26 } as const;

export interface Bar {
  readonly x: number;
  readonly width: number;
  /** Top of the allowed part; the denied part is stacked above it. */
  readonly allowedY: number;
  readonly deniedY: number;
  readonly allowed: number;
  readonly denied: number;
}

export interface Tick {
  readonly x: number;
  readonly label: string;
}

export interface ChartGeometry {
  readonly bars: readonly Bar[];
  /** SVG points of the remaining-quota step line. */
  readonly remainingLine: string;
  /** x of every window boundary (none when there would be more than 60). */
  readonly boundaries: readonly number[];
  readonly ticks: readonly Tick[];
  /** Largest count of requests in one bin (the left axis). */
  readonly maxCount: number;
  /** The right axis: the largest quota (limit, or burst when larger). */
  readonly maxRemaining: number;
  readonly binMs: number;
}

/** x of time `t` (ms from the start). */
export function xOf(t: number, durationMs: number): number {
  return PLOT.left + (t / durationMs) * (PLOT.right - PLOT.left);
}

/** The time (ms from the start, whole, within the run) at x. */
export function tOf(x: number, durationMs: number): number {
  const t = ((x - PLOT.left) / (PLOT.right - PLOT.left)) * durationMs;
  return Math.min(durationMs - 1, Math.max(0, Math.round(t)));
}

/** A readable duration label: 250ms, 1.5s, 2m. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(2)}m`;
  return `${+(ms / 3_600_000).toFixed(2)}h`;
}

/** Bins of a round width, about `target` of them over the run. */
function binWidth(durationMs: number, windowMs: number, target: number): number {
  const raw = durationMs / target;
  // Prefer a whole fraction of the window, so bins never straddle a boundary.
  for (const parts of [1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 500, 1000]) {
    const w = windowMs / parts;
    if (w <= raw && Number.isInteger(w)) return w;
  }
  return Math.max(1, Math.ceil(raw));
}

export function chartGeometry(series: Series, durationMs: number, windowMs: number, quota: number): ChartGeometry {
  const binMs = binWidth(durationMs, windowMs, 60);
  const n = Math.ceil(durationMs / binMs);
  const allowed = new Array<number>(n).fill(0);
  const denied = new Array<number>(n).fill(0);
  for (const p of series.points) {
    const i = Math.min(n - 1, Math.floor(p.t / binMs));
    if (p.allowed) allowed[i] = (allowed[i] ?? 0) + 1;
    else denied[i] = (denied[i] ?? 0) + 1;
  }
  let maxCount = 1;
  for (let i = 0; i < n; i++) maxCount = Math.max(maxCount, (allowed[i] ?? 0) + (denied[i] ?? 0));
  const height = PLOT.bottom - PLOT.top;
  const y = (count: number): number => PLOT.bottom - (count / maxCount) * height;
  const bars: Bar[] = [];
  for (let i = 0; i < n; i++) {
    const a = allowed[i] ?? 0;
    const d = denied[i] ?? 0;
    if (a + d === 0) continue;
    const x0 = xOf(i * binMs, durationMs);
    const x1 = xOf(Math.min(durationMs, (i + 1) * binMs), durationMs);
    bars.push({ x: x0, width: Math.max(0.5, x1 - x0 - 0.5), allowedY: y(a), deniedY: y(a + d), allowed: a, denied: d });
  }
  const maxRemaining = Math.max(1, quota);
  const ry = (r: number): number => PLOT.bottom - (Math.min(r, maxRemaining) / maxRemaining) * height;
  const line: string[] = [];
  let last: number | undefined;
  for (const p of series.points) {
    const x = xOf(p.t, durationMs).toFixed(1);
    if (last !== undefined) line.push(`${x},${ry(last).toFixed(1)}`);
    line.push(`${x},${ry(p.remaining).toFixed(1)}`);
    last = p.remaining;
  }
  if (last !== undefined) line.push(`${PLOT.right},${ry(last).toFixed(1)}`);
  const boundaries: number[] = [];
  if (durationMs / windowMs <= 60) for (let b = windowMs; b < durationMs; b += windowMs) boundaries.push(xOf(b, durationMs));
  const ticks: Tick[] = [];
  for (let i = 0; i <= 5; i++) {
    const t = Math.round((durationMs * i) / 5);
    ticks.push({ x: xOf(t, durationMs), label: formatMs(t) });
  }
  return { bars, remainingLine: line.join(' '), boundaries, ticks, maxCount, maxRemaining, binMs };
}
