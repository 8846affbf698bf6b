import { MAX_TIMEOUT_MS, setLongTimeout } from '../../src/acquire/long-timeout';
import { timerDelays } from '../helpers/counting-store';

beforeEach(() => {
  jest.useFakeTimers({ now: 0 });
});
afterEach(() => {
  jest.restoreAllMocks();
  jest.useRealTimers();
});

describe('setLongTimeout', () => {
  it('sleeps a delay beyond a timer in slices of at most 2^31 − 1 ms and calls back once, on time', () => {
    const delays = timerDelays();
    const calls: number[] = [];
    setLongTimeout(() => calls.push(Date.now()), 3 * MAX_TIMEOUT_MS + 5);
    jest.advanceTimersByTime(3 * MAX_TIMEOUT_MS + 4);
    expect(calls).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(calls).toEqual([3 * MAX_TIMEOUT_MS + 5]);
    expect(delays()).toEqual([MAX_TIMEOUT_MS, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS, 5]);
  });

  it('cancel() in any slice leaves no timer', () => {
    const fn = jest.fn();
    const t = setLongTimeout(fn, 2 * MAX_TIMEOUT_MS);
    jest.advanceTimersByTime(MAX_TIMEOUT_MS + 1);
    expect(jest.getTimerCount()).toBe(1);
    t.cancel();
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(2 * MAX_TIMEOUT_MS);
    expect(fn).not.toHaveBeenCalled();
  });
});
