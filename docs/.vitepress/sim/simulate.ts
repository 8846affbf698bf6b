// The simulator's engine: the real limiter of @ratekeeper/core (bundled from packages/core/src by the
// site's Vite alias, or the same sources under Jest), driven by a virtual clock. Pure: no DOM, no
// globals, so the page, the guide charts (rendered at build time) and a Node test all run it as is.
import { type Algorithm, createLimiter, type Decision, type HeaderFormat, type Limiter, MemoryStore } from '@ratekeeper/core';
import { rateLimitHeaders } from '@ratekeeper/core/http';

/** Every algorithm, in the order the simulator lists them. */
export const ALGORITHMS: readonly Algorithm[] = [
  'fixed-window',
  'anchored-window',
  'sliding-window',
  'sliding-log',
  'token-bucket',
  'gcra',
];

/** The algorithms whose rules take `burst`. */
const TAKES_BURST: ReadonlySet<Algorithm> = new Set(['token-bucket', 'gcra']);

/** Traffic shapes: evenly spaced, bursts on both sides of each window boundary, a linear ramp, a pasted trace. */
export type Pattern = 'steady' | 'edges' | 'ramp' | 'trace';

export const PATTERNS: readonly Pattern[] = ['steady', 'edges', 'ramp', 'trace'];

export interface Scenario {
  /** The algorithms run side by side, each on its own limiter and store, on the same traffic. */
  readonly algorithms: readonly Algorithm[];
  readonly limit: number;
  readonly windowMs: number;
  /** Bucket capacity for token-bucket and gcra; 0 means the default (`limit`). Ignored by the others. */
  readonly burst: number;
  /** `blockFor` in ms; 0 for none. */
  readonly blockForMs: number;
  readonly pattern: Pattern;
  /** steady: requests per second; ramp: the rate reached at the end; edges: requests on each side of a boundary. */
  readonly rate: number;
  /** Simulated time in ms (a trace longer than this is cut). */
  readonly durationMs: number;
  /** The pasted trace: request times in ms from the start (pattern `trace`). */
  readonly trace: readonly number[];
}

/** One request's answer. `retryAfterMs` is `null` for a request that can never pass (`Infinity`). */
export interface Point {
  /** Request time, ms since the start of the simulation. */
  readonly t: number;
  readonly allowed: boolean;
  readonly remaining: number;
  readonly resetMs: number;
  readonly retryAfterMs: number | null;
}

export interface Series {
  readonly algorithm: Algorithm;
  readonly points: readonly Point[];
  readonly allowed: number;
  readonly denied: number;
}

export interface Simulation {
  /** Epoch ms of t = 0: a multiple of the window, so t = 0 is a fixed-window boundary. */
  readonly origin: number;
  readonly durationMs: number;
  /** Request times (ms from the start), sorted. */
  readonly times: readonly number[];
  readonly series: readonly Series[];
}

/** The start of the virtual clock before alignment: an hour boundary (as `manualClock()` starts). */
const EPOCH = 1_699_999_200_000;

/** At most this many requests are simulated (a pasted trace or a high rate is cut). */
export const MAX_REQUESTS = 20_000;

/** Epoch ms of t = 0 for a window length: the first multiple of the window at or after EPOCH. */
export function originFor(windowMs: number): number {
  return Math.ceil(EPOCH / windowMs) * windowMs;
}

/** The request times of a scenario, in whole ms from the start, sorted, at most MAX_REQUESTS. */
export function requestTimes(s: Scenario): number[] {
  const out: number[] = [];
  const D = s.durationMs;
  const push = (t: number): void => {
    if (t >= 0 && t < D && out.length < MAX_REQUESTS) out.push(Math.round(t));
  };
  if (s.pattern === 'steady') {
    const gap = 1000 / s.rate;
    for (let i = 0; i * gap < D && out.length < MAX_REQUESTS; i++) push(i * gap);
  } else if (s.pattern === 'ramp') {
    // The rate grows linearly from 0 to `rate` per second: the i-th request comes when the count
    // rate·t²/(2D) reaches i.
    for (let i = 1; out.length < MAX_REQUESTS; i++) {
      const t = Math.sqrt((2 * D * i * 1000) / s.rate);
      if (t >= D) break;
      push(t);
    }
  } else if (s.pattern === 'edges') {
    // `rate` requests in the last tenth of each window, `rate` more in the first tenth of the next.
    const span = Math.max(1, Math.floor(s.windowMs / 10));
    const n = Math.max(1, Math.round(s.rate));
    for (let edge = s.windowMs; edge < D + s.windowMs; edge += s.windowMs) {
      for (let i = 0; i < n; i++) push(edge - span + Math.floor((i * span) / n));
      for (let i = 0; i < n; i++) push(edge + Math.floor((i * span) / n));
    }
  } else {
    for (const t of s.trace) push(t);
  }
  return out.sort((a, b) => a - b);
}

/** A limiter of one algorithm for the scenario, on its own MemoryStore, reading `clock`. */
export function limiterFor(s: Scenario, algorithm: Algorithm, clock: () => number): Limiter {
  const rule = {
    limit: s.limit,
    window: s.windowMs,
    ...(s.blockForMs > 0 ? { blockFor: s.blockForMs } : {}),
  };
  const store = new MemoryStore();
  return TAKES_BURST.has(algorithm)
    ? createLimiter({
        ...rule,
        algorithm: algorithm as 'token-bucket' | 'gcra',
        ...(s.burst > 0 ? { burst: s.burst } : {}),
        store,
        now: clock,
      })
    : createLimiter({ ...rule, algorithm: algorithm as Exclude<Algorithm, 'token-bucket' | 'gcra'>, store, now: clock });
}

function point(t: number, d: Decision): Point {
  return {
    t,
    allowed: d.allowed,
    remaining: d.remaining,
    resetMs: d.resetMs,
    retryAfterMs: Number.isFinite(d.retryAfterMs) ? d.retryAfterMs : null,
  };
}

/** Runs every algorithm of the scenario over its traffic: one client, one request (cost 1) at each time. */
export function simulate(s: Scenario): Simulation {
  const origin = originFor(s.windowMs);
  const times = requestTimes(s);
  const series = s.algorithms.map((algorithm): Series => {
    let now = origin;
    const limiter = limiterFor(s, algorithm, () => now);
    const points = times.map((t) => {
      now = origin + t;
      return point(t, limiter.consumeSync('client'));
    });
    const allowed = points.filter((p) => p.allowed).length;
    return { algorithm, points, allowed, denied: points.length - allowed };
  });
  return { origin, durationMs: s.durationMs, times, series };
}

/**
 * The headers of a request at `t` (ms from the start) under one algorithm: the traffic before `t`
 * is replayed, then the request at `t` is decided and its headers formatted by core's
 * `rateLimitHeaders` (with `Retry-After` when it is denied).
 */
export function headersAt(
  s: Scenario,
  algorithm: Algorithm,
  t: number,
  formats?: HeaderFormat | readonly HeaderFormat[],
): { decision: Point; headers: Record<string, string> } {
  const origin = originFor(s.windowMs);
  let now = origin;
  const limiter = limiterFor(s, algorithm, () => now);
  for (const r of requestTimes(s)) {
    if (r >= t) break;
    now = origin + r;
    limiter.consumeSync('client');
  }
  now = origin + t;
  const decision = limiter.consumeSync('client');
  return { decision: point(t, decision), headers: rateLimitHeaders(decision, formats) };
}
