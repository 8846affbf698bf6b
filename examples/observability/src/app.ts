import { MemoryStore, type Store } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/express';
import { instrument } from '@ratekeeper/prometheus';
import express, { type Express } from 'express';
import { Registry } from 'prom-client';

/** What tests inject: a manual clock, the store, the registry. */
export interface AppOptions {
  now?: () => number;
  store?: Store;
  registry?: Registry;
}

/** The app, the registry `/metrics` serves, and `close()` to stop counting (shutdown, tests). */
export interface ObservableApp {
  app: Express;
  registry: Registry;
  close(): void;
}

/**
 * An API with an app-wide limit (`api`) and a stricter login limit (`login`), every decision counted
 * in Prometheus metrics served on `GET /metrics`. Naming each limiter gives its metrics a `limiter`
 * label; the rule names give the `rule` label. Client IPs are never labels.
 */
export function createApp({ now, store = new MemoryStore(), registry = new Registry() }: AppOptions = {}): ObservableApp {
  const clock = now ? { now } : {};
  // Subscribes to ratekeeper's diagnostics channels: every limiter of the process is counted.
  const metrics = instrument({ registry });
  const app = express();

  app.use(
    rateLimit({
      name: 'api',
      limit: 100,
      window: '15m',
      store,
      // Prometheus scrapes and health checks are never limited (nor counted).
      skip: (req) => req.path === '/metrics' || req.path === '/health',
      ...clock,
    }),
  );

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  });

  app.get('/health', (_req, res) => {
    res.send('ok');
  });

  app.get('/', (req, res) => {
    res.json({ hello: 'world', remaining: req.rateLimit?.remaining });
  });

  app.post(
    '/login',
    rateLimit({
      name: 'login',
      rules: [{ name: 'per-minute', limit: 5, window: '1m' }],
      key: ['ip', 'route'],
      store,
      message: { error: 'Too many login attempts, try again later.' },
      ...clock,
    }),
    (_req, res) => {
      res.status(401).json({ error: 'wrong password' });
    },
  );

  return { app, registry, close: () => metrics.uninstrument() };
}
