import { channel } from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipKeys } from '../keys';
import type { Contender, Instance } from './contenders';

/** One cell of the table: a key count and a traffic shape. */
export interface Scenario {
  readonly id: string;
  readonly label: string;
  /** Distinct keys, hit round robin. */
  readonly keys: number;
  /** Decisions in the timed run. */
  readonly decisions: number;
  /** `allow`: nothing blocked; `block90`: limit = 10 % of the hits per key. */
  readonly mode: 'allow' | 'block90';
  /** Also measure retained heap per key (only meaningful when every decision inserts a key). */
  readonly heap: boolean;
}

/** What a child reports for one (contender, scenario). */
export interface Measurement {
  readonly contender: string;
  readonly scenario: string;
  /** Why nothing was measured (e.g. the limit is above what the contender accepts). */
  readonly skipped?: string;
  readonly nsPerDecision?: number;
  readonly blockedShare?: number;
  readonly heapBytesPerKey?: number;
  /** Decisions the contender's channel subscriber recorded during the timed run (`--observe` configurations that subscribe). */
  readonly recorded?: number;
  /** Whether anything subscribed to `ratekeeper:decision` during the timed run. */
  readonly subscribed?: boolean;
}

/** Same window for everyone; short enough that limit × window (1e9 × 4 min) stays within ratekeeper's exact-integer range (2^48). */
export const WINDOW_MS = 240_000;
/** "Never blocks" limit. */
export const ALLOW_LIMIT = 1e9;

/** The quota that makes `scenario` block exactly 90 % (or nothing) of its decisions. */
export function limitFor(s: Scenario): number {
  return s.mode === 'allow' ? ALLOW_LIMIT : s.decisions / s.keys / 10;
}

function gcFull(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (pnpm bench:micro does)');
  gc();
  gc();
}

/** Holds measured instances until their heap was read, so the collector cannot drop them early. */
const retained: unknown[] = [];

/**
 * Child side: one warm-up run on a throwaway instance, then one timed run on a fresh instance
 * (fresh state, so block90 blocks the same share and K=1M inserts every key).
 */
export async function measure(c: Contender, s: Scenario): Promise<Measurement> {
  // A capped contender (sliding-log) can still serve an allow cell when each key sees no more hits than its cap.
  const capped = s.mode === 'allow' && c.maxLimit !== undefined && s.decisions / s.keys <= c.maxLimit;
  const limit = capped ? (c.maxLimit as number) : limitFor(s);
  if (c.maxLimit !== undefined && limit > c.maxLimit)
    return { contender: c.id, scenario: s.id, skipped: `limit ${limit} above its cap ${c.maxLimit}` };
  const workload = { limit, windowMs: WINDOW_MS, keys: s.keys };
  const keys = ipKeys(s.keys);

  // At K=1M a warm-up over every key would double the run; a fifth of them exercises the same code.
  const warmN = s.heap ? Math.min(s.decisions, 200_000) : s.decisions;
  let warm: Instance | undefined = c.create(workload);
  await warm.run(s.heap ? keys.slice(0, warmN) : keys, warmN);
  warm = undefined;

  // Epoch-aligned windows (ratekeeper's) would restart mid-run at a window boundary and blur
  // the blocked share; start a timed block90 run only with at least 8 s left in the window.
  if (s.mode === 'block90') {
    const left = WINDOW_MS - (Date.now() % WINDOW_MS);
    if (left < 8_000) await sleep(left + 50);
  }

  const recordedBefore = await c.recorded?.();
  gcFull();
  const before = process.memoryUsage().heapUsed;
  const inst = c.create(workload);
  const t0 = process.hrtime.bigint();
  const blocked = await inst.run(keys, s.decisions);
  const t1 = process.hrtime.bigint();
  const recordedAfter = await c.recorded?.();
  let heapBytesPerKey: number | undefined;
  if (s.heap) {
    retained.push(inst);
    gcFull();
    heapBytesPerKey = (process.memoryUsage().heapUsed - before) / s.keys;
  }
  return {
    contender: c.id,
    scenario: s.id,
    nsPerDecision: Number(t1 - t0) / s.decisions,
    blockedShare: blocked / s.decisions,
    ...(heapBytesPerKey === undefined ? {} : { heapBytesPerKey }),
    ...(recordedBefore === undefined || recordedAfter === undefined ? {} : { recorded: recordedAfter - recordedBefore }),
    subscribed: channel('ratekeeper:decision').hasSubscribers,
  };
}
