import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  CHANNELS,
  createLimiter,
  type DecisionEvent,
  type DecisionLabels,
  type DecisionObservation,
  type DecisionObserver,
  DecisionTally,
  observeDecisions,
} from '../../src/index';
import { manualClock } from '../../src/testing';
import { slowStore } from './slow-store';

/** Every non-zero count of a tally as `limiter/rule/outcome` → count. */
function counts(tally: DecisionTally): Record<string, number> {
  const out: Record<string, number> = {};
  tally.each((n, l: DecisionLabels) => {
    out[`${l.limiter}/${l.rule}/${l.outcome}`] = n;
  });
  return out;
}

describe('observeDecisions', () => {
  it('the limiters count into the tally themselves, with nobody on the channel, and stop on stop()', async () => {
    const tally = new DecisionTally();
    const observation = observeDecisions({ tally });
    const clock = manualClock();
    const limiter = createLimiter({
      name: 'api',
      rules: [
        { name: 'burst', limit: 2, window: '1s' },
        { name: 'hour', limit: 100, window: '1h' },
      ],
      now: clock.now,
    });
    try {
      for (let i = 0; i < 3; i++) await limiter.consume('k');
      await limiter.peek('k');
      limiter.consumeSync('k');
      // The binding rule: the one with the fewest left while allowed, the one that denied after.
      expect(counts(tally)).toEqual({ 'api/burst/allowed': 2, 'api/burst/limited': 3 });
    } finally {
      observation.stop();
      observation.stop(); // idempotent
    }
    await limiter.consume('k');
    expect(Object.values(counts(tally)).reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('builds an event only for the decisions `wants` asks for: timed ones (an asynchronous store), here', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const asked: boolean[] = [];
    const events: DecisionEvent[] = [];
    const observation = observeDecisions({
      wants: (timed) => {
        asked.push(timed);
        return timed;
      },
      decision: (e) => events.push(e),
    });
    try {
      await createLimiter({ name: 'local', limit: 5, window: '1m' }).consume('k');
      const remote = createLimiter({ name: 'remote', limit: 5, window: '1m', store: slowStore() });
      const pending = remote.consume('k');
      await jest.advanceTimersByTimeAsync(7);
      await pending;
      expect(asked).toEqual([false, true]);
      expect(events.map((e) => [e.limiter, e.async, e.durationMs, e.outcome])).toEqual([['remote', true, 7, 'allowed']]);
    } finally {
      observation.stop();
      jest.useRealTimers();
    }
  });

  it('`wants` runs before the count, so it may swap the tally for the same decision; a channel subscriber gets the same event', async () => {
    const first = new DecisionTally();
    const second = new DecisionTally();
    const observer: DecisionObserver = { tally: first };
    observer.wants = () => {
      observer.tally = second;
      return true;
    };
    const seen: DecisionEvent[] = [];
    observer.decision = (e) => seen.push(e);
    const published: unknown[] = [];
    const listener = (m: unknown) => published.push(m);
    subscribe(CHANNELS.decision, listener);
    const observation = observeDecisions(observer);
    try {
      await createLimiter({ name: 'x', limit: 5, window: '1m' }).consume('k');
    } finally {
      observation.stop();
      unsubscribe(CHANNELS.decision, listener);
    }
    expect(counts(first)).toEqual({});
    expect(counts(second)).toEqual({ 'x/x/allowed': 1 });
    expect(published).toHaveLength(1);
    expect(published[0]).toBe(seen[0]);
  });

  it('an observer that throws never fails a decision, nor keeps the next observer from counting', async () => {
    const tally = new DecisionTally();
    const broken = observeDecisions({
      wants: () => {
        throw new Error('wants');
      },
      decision: () => {},
    });
    const throwing = observeDecisions({
      decision: () => {
        throw new Error('decision');
      },
    });
    const counting = observeDecisions({ tally });
    try {
      const d = await createLimiter({ name: 'y', limit: 5, window: '1m' }).consume('k');
      expect(d.allowed).toBe(true);
      expect(counts(tally)).toEqual({ 'y/y/allowed': 1 });
    } finally {
      broken.stop();
      throwing.stop();
      counting.stop();
    }
  });

  it('two observers count into their own tallies, exactly, while the binding rule and outcome change between decisions', async () => {
    // The limiter keeps the counts of the series it counted last: alternating tallies, rules and
    // outcomes must each land in their own series.
    const a = new DecisionTally();
    const b = new DecisionTally();
    const first = observeDecisions({ tally: a });
    let second: DecisionObservation | undefined;
    const clock = manualClock();
    const limiter = createLimiter({
      name: 'two',
      rules: [
        { name: 'small', limit: 3, window: '1s', algorithm: 'fixed-window' },
        { name: 'large', limit: 4, window: '1h', algorithm: 'fixed-window' },
      ],
      now: clock.now,
    });
    try {
      for (let i = 0; i < 3; i++) await limiter.consume('k'); // small binds: 2, 1, 0 left
      clock.advance(1000);
      second = observeDecisions({ tally: b });
      await limiter.consume('k'); // small's window rolled: large binds (0 left)
      await limiter.consume('k'); // large refuses
      await limiter.consume('other'); // small binds again
    } finally {
      first.stop();
      second?.stop();
    }
    expect(counts(a)).toEqual({ 'two/small/allowed': 4, 'two/large/allowed': 1, 'two/large/limited': 1 });
    expect(counts(b)).toEqual({ 'two/small/allowed': 1, 'two/large/allowed': 1, 'two/large/limited': 1 });
  });
});
