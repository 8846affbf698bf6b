// The scenarios of the guides' static charts (GuideChart.vue renders them at build time), each with
// a link that opens it in the simulator.
import type { Scenario } from './simulate';
import { DEFAULT_STATE, stateToQuery } from './state';

const base = { burst: 0, blockForMs: 0, trace: [] } as const;

export const PRESETS = {
  /** 10 requests just before each boundary and 10 just after: a fixed window lets 20 through in 2 s. */
  boundary: {
    ...base,
    algorithms: ['fixed-window', 'sliding-window', 'sliding-log'],
    limit: 10,
    windowMs: 10_000,
    pattern: 'edges',
    rate: 10,
    durationMs: 40_000,
  },
  /** 4 requests a second against 1 per second with a burst of 20: the bucket empties, then the rate. */
  bucket: {
    ...base,
    algorithms: ['token-bucket', 'gcra'],
    limit: 10,
    windowMs: 10_000,
    burst: 20,
    pattern: 'steady',
    rate: 4,
    durationMs: 30_000,
  },
  /** A ramp to 5 requests a second against 30 per 10 s, with and without blockFor. */
  ramp: {
    ...base,
    algorithms: ['sliding-window', 'token-bucket'],
    limit: 30,
    windowMs: 10_000,
    pattern: 'ramp',
    rate: 8,
    durationMs: 60_000,
  },
} as const satisfies Record<string, Scenario>;

export type PresetName = keyof typeof PRESETS;

/** The simulator link of a preset (relative to the site's root). */
export function simulatorLink(name: PresetName): string {
  return `/simulator?${stateToQuery({ scenario: PRESETS[name], at: PRESETS[name].windowMs, headers: DEFAULT_STATE.headers })}`;
}
