// Type-checked against the built package (`pnpm run check`), as an application sees it: every entry
// point resolves, and `Store` stays a contract that a literal or a class can implement and that
// rejects what is not a store. `pnpm typecheck` also checks this file against the sources.
import { type BoundStore, createLimiter, type Decision, MemoryStore, type RawResult, type Store } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, rateLimitHeaders } from '@ratekeeper/core/http';
import type { RedisStore } from '@ratekeeper/core/redis';

const nothing: RawResult = [0];
const bound: BoundStore = { consume: () => nothing, peek: () => nothing, refund: () => {}, reset: () => {} };

const literal: Store = { bind: () => bound };
class ClassStore implements Store {
  bind(): BoundStore {
    return bound;
  }
}
declare const redis: RedisStore;

export const limiters = [
  createLimiter({ limit: 1, window: '1s', store: literal }),
  createLimiter({ limit: 1, window: '1s', store: new ClassStore() }),
  createLimiter({ limit: 1, window: '1s', store: redis, onStoreError: new MemoryStore() }),
  // @ts-expect-error an object without `bind` is not a store
  createLimiter({ limit: 1, window: '1s', store: {} }),
];

const adapter: HttpAdapter<{ ip: string }> = {
  ip: (req) => req.ip,
  route: () => undefined,
  trustsProxy: () => false,
  header: () => undefined,
};
export const http = createHttpLimiter({ limit: 100, window: '15m' }, adapter);
declare const decision: Decision;
export const headers: Record<string, string> = rateLimitHeaders(decision, ['legacy', 'draft-8']);
