// Compiled against the built package by `pnpm check`, with TypeScript 5.9 and TypeScript 7, in a
// project that sets no `types`: the application API and the HTTP entry point need no global @types.
import { createLimiter, type Decision, defineRules, MemoryStore } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type RequestDecision } from '@ratekeeper/core/http';

const plans = { free: defineRules([{ limit: 5, window: '1m' }]) };
export const limiter = createLimiter({ rules: plans.free, store: new MemoryStore() });
export const first: Promise<Decision> = limiter.consume('k');
const adapter: HttpAdapter<{ ip: string }> = { ip: (r) => r.ip, route: () => undefined, trustsProxy: () => false, header: () => undefined };
export const http = createHttpLimiter({ limit: 1, window: '1s' }, adapter);
export type Seen = RequestDecision['key'];
