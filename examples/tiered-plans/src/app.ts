import { MemoryStore, type Rule, type Store } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/express';
import express, { type Express as ExpressApp, type NextFunction, type Request, type Response } from 'express';

/** What tests inject: a manual clock and the store. */
export interface AppOptions {
  now?: () => number;
  store?: Store;
}

type Plan = 'anonymous' | 'free' | 'pro';

declare global {
  namespace Express {
    interface Request {
      account?: { id: string; plan: Plan };
    }
  }
}

/**
 * Rules per plan. Constant arrays: ratekeeper builds one limiter per distinct rule set, once.
 * Rule names are the policy names clients see in `RateLimit-Policy`.
 */
export const PLANS: Record<Plan, Rule[]> = {
  anonymous: [{ limit: 2, window: '1m', name: 'anonymous' }],
  free: [{ limit: 5, window: '1m', name: 'free' }],
  pro: [
    { limit: 10, window: '1s', name: 'pro-burst', algorithm: 'gcra' },
    { limit: 50, window: '1m', name: 'pro' },
  ],
};

const ACCOUNTS: Record<string, { id: string; plan: Plan }> = {
  'token-free': { id: 'acct_1', plan: 'free' },
  'token-pro': { id: 'acct_2', plan: 'pro' },
};

/** Fake authentication: `Authorization: Bearer <token>` → `req.account`. */
function authenticate(req: Request, _res: Response, next: NextFunction): void {
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  const account = token === undefined ? undefined : ACCOUNTS[token];
  if (account !== undefined) req.account = account;
  next();
}

/** The example app: limits chosen per request from the caller's plan, counted per account. */
export function createApp({ now, store = new MemoryStore() }: AppOptions = {}): ExpressApp {
  const app = express();
  app.use(authenticate);
  app.use(
    rateLimit({
      rules: (req) => PLANS[req.account?.plan ?? 'anonymous'],
      // Accounts are counted wherever they call from; anonymous callers by address.
      key: 'user',
      user: (req) => req.account?.id,
      store,
      message: (req, decision) => ({
        error: 'rate limit exceeded',
        plan: req.account?.plan ?? 'anonymous',
        retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000),
        upgrade: req.account?.plan === 'pro' ? undefined : 'https://example.com/pricing',
      }),
      ...(now ? { now } : {}),
    }),
  );
  app.get('/api/data', (req, res) => {
    res.json({ plan: req.account?.plan ?? 'anonymous', remaining: req.rateLimit?.remaining });
  });
  return app;
}
