import type { Server } from 'node:http';
import { rateLimit } from '@ratekeeper/express';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler, type Response } from 'express';
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

/** The harness for one Express major: `createApp` is that version's `express()`. */
export function expressHarness(name: string, createApp: () => Express = express): Harness {
  return { name, start: (setup) => start(createApp, setup) };
}

async function start(createApp: () => Express, setup: AppSetup): Promise<RunningApp> {
  const app = createApp();
  app.set('trust proxy', setup.trustProxy ?? true);
  const abort = abortTracker();
  app.use((req, _res, next) => {
    fakeAuth(req.headers);
    next();
  });
  const limiters: RequestHandler[] = setup.limiters.map((o) => rateLimit(o as never));
  let route: RequestHandler[] = [];
  if (setup.mode === 'route') route = limiters;
  else if (setup.mode === 'app+route') {
    const [appWide, perRoute] = twoLimiters(limiters);
    app.use(appWide);
    route = [perRoute];
  } else for (const l of limiters) app.use(l);
  app.get('/ok', ...route, (_req, res) => {
    res.send('ok');
  });
  app.get('/bad', ...route, (_req, res) => {
    res.status(400).send('bad');
  });
  app.get('/fail', ...route, (_req, res) => {
    res.status(500).send('fail');
  });
  app.get('/users/:id', ...route, (req: Request, res) => {
    res.send(`user ${String(req.params.id)}`);
  });
  app.get('/abort', ...route, (_req, res) => {
    res.on('close', abort.onClose);
    res.writeHead(503, { 'Content-Type': 'text/plain' });
    res.write('partial');
  });
  // Express 4 does not catch a rejected handler: the rejection goes to `next` by hand.
  const answer = (res: Response, next: (err: unknown) => void, pending: Promise<Answer>): void => {
    pending.then((a) => {
      res.status(a.status).set(a.headers).send(a.body);
    }, next);
  };
  app.get('/login', ...route, (req, res, next) => answer(res, next, login(req.rateLimit, req.headers)));
  app.get('/reset', ...route, (req, res, next) => answer(res, next, resetKey(req.rateLimit)));
  app.get('/hold', ...route, (req, res, next) => answer(res, next, hold(req.headers)));
  const onError: ErrorRequestHandler = (err: Error, _req, res, _next) => {
    res.status(500).send(`error: ${err.message}`);
  };
  app.use(onError);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
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
