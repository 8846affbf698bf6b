import Router from '@koa/router';
import { MemoryStore, type Store } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/koa';
import Koa from 'koa';

/** What tests inject: a manual clock and the store. */
export interface AppOptions {
  now?: () => number;
  store?: Store;
}

/** The example app: an app-wide limit, a per-route limit keyed by the route pattern, an API router. */
export function createApp({ now, store = new MemoryStore() }: AppOptions = {}): Koa {
  const clock = now ? { now } : {};
  const app = new Koa();
  // Behind a reverse proxy? Then: app.proxy = true — ratekeeper uses ctx.ip as Koa computes it.

  app.use(rateLimit({ limit: 100, window: '15m', store, ...clock }));

  const router = new Router();
  router.get('/', (ctx) => {
    ctx.body = { hello: 'world', remaining: ctx.state.rateLimit?.remaining };
  });
  // `/users/1`, `/users/2`, … all count against `GET /users/:id` for this client.
  router.get('/users/:id', rateLimit({ limit: 10, window: '1m', key: ['ip', 'route'], store, ...clock }), (ctx) => {
    ctx.body = { id: ctx.params.id };
  });

  // Every route of this router: 2 writes per second per client and route.
  const api = new Router({ prefix: '/api' });
  api.use(rateLimit({ limit: 2, window: '1s', key: ['ip', 'route'], store, headers: 'draft-7', ...clock }));
  api.post('/items', (ctx) => {
    ctx.status = 201;
  });
  api.post('/orders', (ctx) => {
    ctx.status = 201;
  });

  app.use(router.routes()).use(router.allowedMethods());
  app.use(api.routes()).use(api.allowedMethods());
  return app;
}
