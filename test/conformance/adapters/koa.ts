import { createServer } from 'node:http';
import Router from '@koa/router';
import { rateLimit } from '@ratekeeper/koa';
import Koa, { type Context, type Middleware } from 'koa';
import {
  type Answer,
  type AppSetup,
  abortTracker,
  fakeAuth,
  type Harness,
  hold,
  login,
  type RunningApp,
  resetKey,
  twoLimiters,
} from '../harness';

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
  let route: Middleware[] = [];
  if (setup.mode === 'route') route = limiters;
  else if (setup.mode === 'app+route') {
    const [appWide, perRoute] = twoLimiters(limiters);
    app.use(appWide);
    route = [perRoute];
  } else for (const l of limiters) app.use(l);
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
  const answer = async (ctx: Context, pending: Promise<Answer>): Promise<void> => {
    const a = await pending;
    ctx.status = a.status;
    ctx.set(a.headers);
    ctx.body = a.body;
  };
  router.get('/login', ...route, (ctx) => answer(ctx, login(ctx.state.rateLimit, ctx.req.headers)));
  router.get('/reset', ...route, (ctx) => answer(ctx, resetKey(ctx.state.rateLimit)));
  router.get('/hold', ...route, (ctx) => answer(ctx, hold(ctx.req.headers)));
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
