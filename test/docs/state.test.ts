// The simulator's URL state (docs/.vitepress/sim/state.ts): a shared link restores the scenario,
// and a hand-edited one gives a valid scenario, never an exception.
import { requestTimes } from '../../docs/.vitepress/sim/simulate';
import { DEFAULT_STATE, parseTrace, stateFromQuery, stateToQuery } from '../../docs/.vitepress/sim/state';

describe('simulator state', () => {
  it('round-trips through the query string', () => {
    const state = {
      scenario: {
        algorithms: ['sliding-log', 'gcra'],
        limit: 7,
        windowMs: 1500,
        burst: 12,
        blockForMs: 3000,
        pattern: 'trace',
        rate: 2.5,
        durationMs: 900,
        trace: [0, 5, 5, 800],
      },
      at: 123,
      headers: ['draft-7'],
    } as const;
    const query = stateToQuery(state);
    expect(query).toContain('algorithms=sliding-log,gcra');
    expect(stateFromQuery(query)).toEqual(state);
    expect(stateFromQuery(`?${query}`)).toEqual(state);
    expect(stateFromQuery(stateToQuery(DEFAULT_STATE))).toEqual(DEFAULT_STATE);
  });

  it('takes the defaults for what is missing or invalid, and clamps numbers', () => {
    expect(stateFromQuery('')).toEqual(DEFAULT_STATE);
    const s = stateFromQuery('algorithms=nope,fixed-window&limit=-3&window=abc&pattern=zigzag&rate=0&burst=1e9&headers=draft-99');
    expect(s.scenario).toMatchObject({
      algorithms: ['fixed-window'],
      limit: 1,
      windowMs: 10_000,
      pattern: 'edges',
      rate: 0.001,
      burst: 100_000,
    });
    expect(s.headers).toEqual(DEFAULT_STATE.headers);
    expect(stateFromQuery('algorithms=').scenario.algorithms).toEqual(DEFAULT_STATE.scenario.algorithms);
    // The selected moment stays within the run.
    expect(stateFromQuery('duration=500&at=9999').at).toBe(499);
  });

  it('reads a pasted trace: separators, epoch timestamps, junk; a trace sets the duration', () => {
    expect(parseTrace('30, 10\n20;x 10')).toEqual([10, 10, 20, 30]);
    expect(parseTrace('1700000000250 1700000000000 1700000001000')).toEqual([0, 250, 1000]);
    expect(parseTrace('')).toEqual([]);
    const s = stateFromQuery('pattern=trace&trace=5,1000,40');
    expect(s.scenario.trace).toEqual([5, 40, 1000]);
    expect(s.scenario.durationMs).toBe(1001);
    expect(requestTimes(s.scenario)).toEqual([5, 40, 1000]);
  });

  it('generates the traffic patterns', () => {
    const base = { ...DEFAULT_STATE.scenario, limit: 5, windowMs: 1000, durationMs: 3000 };
    expect(requestTimes({ ...base, pattern: 'steady', rate: 2 })).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    // `rate` requests in the last tenth of each window and as many in the first tenth of the next.
    expect(requestTimes({ ...base, pattern: 'edges', rate: 2 })).toEqual([900, 950, 1000, 1050, 1900, 1950, 2000, 2050, 2900, 2950]);
    const ramp = requestTimes({ ...base, pattern: 'ramp', rate: 10, durationMs: 10_000 });
    // 0 to 10 per second over 10 s: 50 requests, ever closer together.
    expect(ramp).toHaveLength(49);
    expect((ramp[1] ?? 0) - (ramp[0] ?? 0)).toBeGreaterThan((ramp[48] ?? 0) - (ramp[47] ?? 0));
  });
});
