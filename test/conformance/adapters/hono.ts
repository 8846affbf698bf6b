import { type HonoRateLimitOptions, rateLimit } from '@ratekeeper/hono';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { type Answer, type AppSetup, abortTracker, type Harness, hold, login, type RunningApp, resetKey, twoLimiters } from '../harness';
import { abortResponse, headerView, serveFetch, socketAddress, suiteIp, toFetchOptions } from './fetch-common';

/** @ratekeeper/hono on Node (@hono/node-server): `app.use` app-wide, route middleware per route. */
export const honoHarness: Harness = { name: 'hono', start, endsWithHandler: true };

async function start(setup: AppSetup): Promise<RunningApp> {
  const abort = abortTracker();
  const view = headerView();
  const ctxView = (c: Context) => view(c.req.raw);
  const limiters: MiddlewareHandler[] = setup.limiters.map((o) =>
    rateLimit({
      ...toFetchOptions(o, ctxView),
      // Without trust, the default: the connection's address (connInfoIp).
      ...((setup.trustProxy ?? true) ? { ip: (c: Context) => suiteIp(setup, c.req.raw, socketAddress(c.env)) } : {}),
    } as HonoRateLimitOptions),
  );
  const app = new Hono();
  app.onError((error, c) => c.text(`error: ${error.message}`, 500));
  let route: MiddlewareHandler[] = [];
  if (setup.mode === 'route') route = limiters;
  else if (setup.mode === 'app+route') {
    const [appWide, perRoute] = twoLimiters(limiters);
    app.use(appWide);
    route = [perRoute];
  } else for (const l of limiters) app.use(l);
  const answer = async (c: Context, pending: Promise<Answer>): Promise<Response> => {
    const a = await pending;
    return c.text(a.body, a.status as 200, a.headers);
  };
  // Route middleware from an array: Hono's typed overloads want a fixed list.
  const get = (path: string, handler: (c: Context) => Response | Promise<Response>): void => {
    (app.get as (path: string, ...handlers: unknown[]) => unknown).call(app, path, ...route, handler);
  };
  get('/ok', (c) => c.text('ok'));
  get('/bad', (c) => c.text('bad', 400));
  get('/fail', (c) => c.text('fail', 500));
  get('/users/:id', (c) => c.text(`user ${c.req.param('id')}`));
  get('/abort', () => abortResponse(abort.onClose));
  get('/login', (c) => answer(c, login(c.get('rateLimit'), ctxView(c).headers)));
  get('/reset', (c) => answer(c, resetKey(c.get('rateLimit'))));
  get('/hold', (c) => answer(c, hold(ctxView(c).headers)));
  return serveFetch((request, env) => app.fetch(request, env), abort);
}
