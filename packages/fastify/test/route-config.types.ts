// Checked by `tsc --noEmit` (root tsconfig), not run: the route config and request augmentation.
import type { Decision } from '@ratekeeper/core';
import { rateLimitPlugin } from '@ratekeeper/fastify';
import Fastify from 'fastify';

export async function typeChecks(): Promise<void> {
  const app = Fastify();
  await app.register(rateLimitPlugin, { limit: 100, window: '1m', hook: 'preHandler' });
  // @ts-expect-error limit must be a number
  await app.register(rateLimitPlugin, { limit: '100', window: '1m' });
  // @ts-expect-error unknown hook
  await app.register(rateLimitPlugin, { limit: 100, window: '1m', hook: 'onSend' });

  app.get('/a', { config: { rateLimit: { limit: 5, window: '10s', key: ['ip', 'route'] } } }, async (request) => {
    const d: Decision | undefined = request.rateLimit;
    return d?.remaining;
  });
  app.get('/b', { config: { rateLimit: false } }, async () => 'ok');
  // @ts-expect-error the route hook must be onRequest or preHandler
  app.get('/c', { config: { rateLimit: { limit: 5, window: '1s', hook: 'onSend' } } }, async () => 'ok');
  // @ts-expect-error window takes a duration, not an object
  app.get('/d', { config: { rateLimit: { limit: 5, window: { ms: 10 } } } }, async () => 'ok');
  // @ts-expect-error headers must name a known format
  app.get('/e', { config: { rateLimit: { limit: 5, window: '1s', headers: 'draft-9' } } }, async () => 'ok');
  // @ts-expect-error the key function receives a FastifyRequest and must return a string
  app.get('/f', { config: { rateLimit: { limit: 5, window: '1s', key: (r) => r.ip.length } } }, async () => 'ok');
}
