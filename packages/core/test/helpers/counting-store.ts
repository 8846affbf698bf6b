import { MemoryStore, type Store } from '../../src/index';

/** A MemoryStore that counts the decisions asked of it. */
export function countingStore(): { store: Store; calls: { consume: number } } {
  const calls = { consume: 0 };
  const inner = new MemoryStore();
  const store: Store = {
    bind(rules, prefix) {
      const bound = inner.bind(rules, prefix);
      return {
        consume(key, cost, now) {
          calls.consume++;
          return bound.consume(key, cost, now);
        },
        peek: (key, now) => bound.peek(key, now),
        refund: (key, cost, now, at) => bound.refund(key, cost, now, at),
        reset: (key) => bound.reset(key),
      };
    },
  };
  return { store, calls };
}

/** The longest delay a timer holds (2^31 − 1 ms): Node clamps longer ones to 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
export const DAY_MS = 86_400_000;

/** The delays of every `setTimeout` call from now on (call after `jest.useFakeTimers`; restored by `jest.restoreAllMocks`). */
export function timerDelays(): () => number[] {
  const spy = jest.spyOn(globalThis, 'setTimeout');
  return () => spy.mock.calls.map((call) => call[1] ?? 0);
}
