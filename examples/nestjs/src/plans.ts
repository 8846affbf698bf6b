import { defineRules, type RequestDecision } from '@ratekeeper/nestjs';
import type { NextFunction, Request, Response } from 'express';

export type Plan = 'anonymous' | 'free' | 'pro';

/**
 * Express's request as the handlers see it: `account` is set by `authenticate` for a known API
 * token, `rateLimit` by `RateLimitGuard` (the decision: `remaining`, `key`, `refund()`...).
 */
export interface AuthedRequest extends Request {
  account?: { id: string; plan: Plan };
  rateLimit?: RequestDecision;
}

/**
 * Rules per plan. `defineRules` keeps `'1m'` a `Duration` under `strict`; constant arrays, so
 * ratekeeper builds one limiter per plan, once. Rule names are what clients see in `RateLimit-Policy`.
 */
export const PLANS = {
  anonymous: defineRules([{ limit: 2, window: '1m', name: 'anonymous' }]),
  free: defineRules([{ limit: 5, window: '1m', name: 'free' }]),
  pro: defineRules([
    { limit: 10, window: '1s', name: 'pro-burst', algorithm: 'gcra' },
    { limit: 50, window: '1m', name: 'pro' },
  ]),
} satisfies Record<Plan, unknown>;

const ACCOUNTS: Readonly<Record<string, { id: string; plan: Plan }>> = {
  'token-free': { id: 'acct_1', plan: 'free' },
  'token-pro': { id: 'acct_2', plan: 'pro' },
};

/**
 * Fake authentication: `Authorization: Bearer <token>` → `req.account`. A middleware, not a guard:
 * Nest runs middleware before guards, and `RateLimitGuard` (a global guard) runs before the guards
 * of controllers, so a Passport `AuthGuard` on the controller would set `req.user` too late for
 * `rules`/`user` to see it.
 */
export function authenticate(req: AuthedRequest, _res: Response, next: NextFunction): void {
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  const account = token === undefined ? undefined : ACCOUNTS[token];
  if (account !== undefined) req.account = account;
  next();
}
