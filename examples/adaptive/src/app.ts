import { type AdaptiveLoad, adaptiveLoad, type LoadSignal, MemoryStore } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/express';
import express, { type Express } from 'express';

/** What tests inject: a manual clock and the load signal. */
export interface AppOptions {
  now?: () => number;
  /** @default 'event-loop-delay' */
  signal?: LoadSignal;
}

/**
 * The example app: limits that shrink when this process is overloaded. One load for the whole app,
 * so the API and the costly search shed together: ×0.75 above 60 % load, ×0.5 above 80 %.
 */
export function createApp({ now, signal = 'event-loop-delay' }: AppOptions = {}): { app: Express; load: AdaptiveLoad } {
  const clock = now ? { now } : {};
  const load = adaptiveLoad({ signal });
  const store = new MemoryStore();
  const app = express();

  app.use(rateLimit({ limit: 100, window: '1m', store, adaptive: load, skip: (req) => req.path === '/status', ...clock }));

  // What the limits are multiplied by now, for a dashboard or a health check.
  app.get('/status', (_req, res) => {
    res.json({ factor: load.factor, load: load.load ?? null });
  });

  app.get('/', (req, res) => {
    res.json({ hello: 'world', limit: req.rateLimit?.limit, remaining: req.rateLimit?.remaining });
  });

  app.get('/search', rateLimit({ limit: 10, window: '1m', key: ['ip', 'route'], store, adaptive: load, ...clock }), (_req, res) => {
    res.json({ results: [] });
  });

  return { app, load };
}
