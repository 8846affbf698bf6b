import { createServer, type Server } from 'node:http';
import { isConfigError } from '@ratekeeper/core';
import { rateLimit as expressRateLimit } from '@ratekeeper/express';
import { rateLimit as koaRateLimit } from '@ratekeeper/koa';
import express, { type ErrorRequestHandler } from 'express';
import Koa, { type Middleware } from 'koa';
import supertest from 'supertest';

// A middleware mounted on the wrong framework says which package fits, on every request, and never
// crashes the process. (Jest fails a test in which a promise rejection goes unhandled.) Here, at the
// root, because each adapter package depends on its own framework only.

const servers: Server[] = [];

async function serve(listener: Parameters<typeof createServer>[1]): Promise<ReturnType<typeof supertest>> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return supertest(`http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`);
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** One turn of the event loop: a stray rejection from the requests is reported inside the test. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('a middleware on the wrong framework', () => {
  it("@ratekeeper/express's middleware in a Koa app: 500, and Koa's error event gets a ConfigError naming @ratekeeper/koa", async () => {
    const app = new Koa();
    const errors: unknown[] = [];
    app.on('error', (error: unknown) => errors.push(error));
    // The Express middleware's signature is not Koa's: this is the mistake under test.
    app.use(expressRateLimit({ limit: 5, window: '1m' }) as unknown as Middleware);
    app.use((ctx) => {
      ctx.body = 'unreachable';
    });
    const http = await serve(app.callback());
    for (let i = 0; i < 2; i++) {
      const res = await http.get('/');
      expect(res.status).toBe(500);
      expect(res.text).not.toBe('unreachable');
    }
    await settle();
    expect(errors).toHaveLength(2);
    for (const error of errors) {
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/use @ratekeeper\/koa\b/);
    }
  });

  it("@ratekeeper/koa's middleware in an Express app: Express's error handler gets a ConfigError naming @ratekeeper/express", async () => {
    const app = express();
    const errors: unknown[] = [];
    // The Koa middleware's signature is not Express's: this is the mistake under test.
    app.use(koaRateLimit({ limit: 5, window: '1m' }) as unknown as express.RequestHandler);
    app.get('/', (_req, res) => {
      res.send('unreachable');
    });
    const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
      errors.push(error);
      res.status(500).send('handled');
    };
    app.use(onError);
    const http = await serve(app);
    for (let i = 0; i < 2; i++) {
      const res = await http.get('/');
      expect([res.status, res.text]).toEqual([500, 'handled']);
    }
    await settle();
    expect(errors).toHaveLength(2);
    for (const error of errors) {
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/use @ratekeeper\/express\b/);
    }
  });
});
