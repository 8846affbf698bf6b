import { type ConcurrencyLimiter, createConcurrencyLimiter, type Store, throttle } from '@ratekeeper/core';

/** A call to a slow, costly backend (an LLM completion, an export). */
export type Complete = (tenant: string, prompt: string) => Promise<string>;

/** Options of {@link modelGateway}. */
export interface GatewayOptions {
  /** Most completions in flight per tenant. */
  perTenant: number;
  /** Most completion starts per tenant per second. */
  startsPerSecond: number;
  /** Share the slots between processes with a `RedisStore`. @default this process only */
  store?: Store;
}

/**
 * Wraps `complete` so each tenant has at most `perTenant` completions in flight and starts at most
 * `startsPerSecond` a second; waiting calls are served first in, first out.
 */
export function modelGateway(complete: Complete, options: GatewayOptions): { complete: Complete; slots: ConcurrencyLimiter } {
  const slots = createConcurrencyLimiter({ max: options.perTenant, leaseMs: '2m', ...(options.store ? { store: options.store } : {}) });
  const call = throttle(complete, {
    limit: options.startsPerSecond,
    window: '1s',
    algorithm: 'gcra',
    key: (tenant) => tenant,
    concurrency: slots,
  });
  return { complete: call, slots };
}
