import { MemoryStore, type Store } from '../../src/index';

/** A MemoryStore answering `delayMs` after the call, as a network store would (for fake timers). */
export function slowStore(delayMs = 7): Store {
  const inner = new MemoryStore();
  return {
    bind(rules, prefix) {
      const bound = inner.bind(rules, prefix);
      const later = <T>(v: T | PromiseLike<T>) => new Promise<T>((resolve) => setTimeout(() => resolve(v), delayMs));
      return {
        consume: (key, cost, now) => later(bound.consume(key, cost, now)),
        peek: (key, now) => later(bound.peek(key, now)),
        refund: (key, cost, now, at) => bound.refund(key, cost, now, at),
        reset: (key) => bound.reset(key),
      };
    },
  };
}
