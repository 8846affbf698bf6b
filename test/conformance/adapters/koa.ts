import { createServer } from 'node:http';
import Router from '@koa/router';
import { rateLimit } from '@ratekeeper/koa';
import Koa, { type Middleware } from 'koa';
import { type AppSetup, abortTracker, fakeAuth, type Harness, type RunningApp } from '../harness';

/** The harness for one Koa major: `App` is that version's `Koa` class. */
export function koaHarness(name: string, App: new () => Koa = Koa): Harness {
  return { name, start: (setup) => start(App, setup) };
}

async function start(App: new () => Koa, setup: AppSetup): Promise<RunningApp> {
  const app = new App();
  app.proxy = setup.trustProxy ?? true;
  const abort = abortTracker();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      ctx.status = 500;
      ctx.body = `error: ${(error as Error).message}`;
    }
  });
  app.use((ctx, next) => {
    fakeAuth(ctx.req.headers);
    return next();
  });
  const limiters: Middleware[] = setup.limiters.map((o) => rateLimit(o as never));
  const route = setup.mode === 'route' ? limiters : [];
  if (setup.mode !== 'route') for (const l of limiters) app.use(l);
  const router = new Router();
  router.get('/ok', ...route, (ctx) => {
    ctx.body = 'ok';
  });
  router.get('/bad', ...route, (ctx) => {
    ctx.status = 400;
    ctx.body = 'bad';
  });
  router.get('/fail', ...route, (ctx) => {
    ctx.status = 500;
    ctx.body = 'fail';
  });
  router.get('/users/:id', ...route, (ctx) => {
    ctx.body = `user ${String(ctx.params.id)}`;
  });
  router.get('/abort', ...route, (ctx) => {
    ctx.respond = false;
    ctx.res.on('close', abort.onClose);
    ctx.res.writeHead(503, { 'Content-Type': 'text/plain' });
    ctx.res.write('partial');
  });
  app.use(router.routes());
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    abortClosed: abort.closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
