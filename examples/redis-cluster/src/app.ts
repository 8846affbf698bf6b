import { MemoryStore } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { rateLimit } from '@ratekeeper/express';
import express, { type Express } from 'express';
import type { Cluster } from 'ioredis';

/** The example app: limits shared by every instance through a Redis Cluster. */
/** `timeoutMs`: how slow Redis may be before the insurance store answers (tests raise it). */
export function createApp(cluster: Cluster, { timeoutMs = 100 }: { timeoutMs?: number } = {}): Express {
  // Server clock (Redis TIME): every instance agrees on windows whatever its own clock says.
  const store = new RedisStore({ client: cluster, blockedCache: true });
  const app = express();

  app.use(
    rateLimit({
      // A burst of 10, refilling one every 6 s, and 300 per hour: checked together in one round trip.
      rules: [
        { limit: 10, window: '1m', algorithm: 'gcra' },
        { limit: 300, window: '1h' },
      ],
      store,
      prefix: 'example:',
      // Redis down or slow (over 100 ms)? Keep limiting per instance until it answers again.
      onStoreError: new MemoryStore(),
      timeoutMs,
    }),
  );

  app.get('/', (req, res) => {
    res.json({ hello: 'cluster', remaining: req.rateLimit?.remaining });
  });
  return app;
}
