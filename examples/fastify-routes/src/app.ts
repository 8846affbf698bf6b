import type { Rule, Store } from '@ratekeeper/core';
import { rateLimitPlugin } from '@ratekeeper/fastify';
import Fastify, { type FastifyInstance } from 'fastify';

/** What tests inject: a manual clock and the store. */
export interface AppOptions {
  now?: () => number;
  store?: Store;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the (fake) API-key authentication below. */
    plan?: 'free' | 'pro' | undefined;
    account?: string | undefined;
  }
}

// The same array objects every time: ratekeeper builds one limiter per distinct rule set.
const PLANS: Record<'free' | 'pro', Rule[]> = {
  free: [{ limit: 5, window: '1m', name: 'free' }],
  pro: [
    { limit: 50, window: '1m', name: 'pro' },
    { limit: 10_000, window: '1d', name: 'pro-daily' },
  ],
};
const API_KEYS: Record<string, { account: string; plan: 'free' | 'pro' }> = {
  'key-free': { account: 'acme', plan: 'free' },
  'key-pro': { account: 'globex', plan: 'pro' },
};

/** The example app: app-wide limits, per-route overrides, a route without limits, tiered plans. */
export async function createApp({ now, store }: AppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify();
  // Fake authentication: a header names the account and its plan.
  app.addHook('preValidation', async (request) => {
    const found = API_KEYS[String(request.headers['x-api-key'])];
    request.account = found?.account;
    request.plan = found?.plan;
  });

  await app.register(rateLimitPlugin, { limit: 100, window: '1m', ...(now ? { now } : {}), ...(store ? { store } : {}) });

  app.get('/', async () => ({ hello: 'world' }));
  app.get('/health', { config: { rateLimit: false } }, async () => 'ok');
  app.get(
    '/search',
    { config: { rateLimit: { limit: 3, window: '10s', message: { error: 'search is limited to 3 per 10 s' } } } },
    async () => ({
      results: [],
    }),
  );
  // Limits follow the account's plan; the hook runs after authentication so the account is known.
  app.get(
    '/reports/:id',
    {
      config: {
        rateLimit: {
          hook: 'preHandler',
          rules: (request) => PLANS[request.plan ?? 'free'],
          key: 'user',
          user: (request) => request.account,
        },
      },
    },
    async (request) => ({ report: (request.params as { id: string }).id, remaining: request.rateLimit?.remaining }),
  );
  return app;
}
