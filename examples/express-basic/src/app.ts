import { MemoryStore, type Store } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/express';
import express, { type Express } from 'express';

/** What tests inject: a manual clock and the store. */
export interface AppOptions {
  now?: () => number;
  store?: Store;
}

/** The example app: one app-wide limit, a stricter one on login, health checks never limited. */
export function createApp({ now, store = new MemoryStore() }: AppOptions = {}): Express {
  const clock = now ? { now } : {};
  const app = express();
  // Behind a reverse proxy? Then: app.set('trust proxy', 1) — ratekeeper uses req.ip as Express computes it.

  app.use(
    rateLimit({
      limit: 100,
      window: '15m',
      store,
      skip: (req) => req.path === '/health',
      ...clock,
    }),
  );

  app.get('/health', (_req, res) => {
    res.send('ok');
  });

  app.get('/', (req, res) => {
    res.json({ hello: 'world', remaining: req.rateLimit?.remaining });
  });

  // Per client per route, so guessing passwords here does not eat into the rest of the API.
  app.post(
    '/login',
    rateLimit({
      limit: 5,
      window: '1m',
      key: ['ip', 'route'],
      store,
      message: { error: 'Too many login attempts, try again later.' },
      ...clock,
    }),
    (_req, res) => {
      res.status(401).json({ error: 'wrong password' });
    },
  );

  return app;
}
