import { MemoryStore } from '@ratekeeper/core';
import { rateLimit } from '@ratekeeper/express';
import express, { type ErrorRequestHandler } from 'express';
import supertest from 'supertest';

const now = () => 1_699_999_200_000;

const onError: ErrorRequestHandler = (err: Error, _req, res, _next) => {
  res.status(500).send(`handled: ${err.message}`);
};

describe('@ratekeeper/express', () => {
  it('exposes the decision on req.rateLimit', async () => {
    const app = express();
    app.use(rateLimit({ limit: 5, window: '1m', now }));
    app.get('/', (req, res) => {
      res.json({ remaining: req.rateLimit?.remaining, limit: req.rateLimit?.limit });
    });
    const res = await supertest(app).get('/');
    expect(res.body).toEqual({ remaining: 4, limit: 5 });
  });

  it('passes key function errors to next(err)', async () => {
    const app = express();
    app.use(
      rateLimit({
        limit: 5,
        window: '1m',
        key: () => {
          throw new Error('no key');
        },
      }),
    );
    app.get('/', (_req, res) => {
      res.send('unreachable');
    });
    app.use(onError);
    const res = await supertest(app).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toBe('handled: no key');
  });

  it('passes a rejected async rules function and an unhandled store failure to next(err)', async () => {
    const app = express();
    app.get('/rules', rateLimit({ rules: async () => Promise.reject(new Error('plans unavailable')) }), (_req, res) => {
      res.send('unreachable');
    });
    const failing = {
      bind: () => ({
        consume: () => {
          throw new Error('primary down');
        },
        peek: () => [0],
        refund: () => {},
        reset: () => {},
      }),
    };
    // The fallback store fails too: the policy could not decide, so the error surfaces.
    app.get('/store', rateLimit({ limit: 1, window: '1m', store: failing, onStoreError: failing, onError: () => {} }), (_req, res) => {
      res.send('unreachable');
    });
    app.use(onError);
    expect((await supertest(app).get('/rules')).text).toBe('handled: plans unavailable');
    expect((await supertest(app).get('/store')).text).toBe('handled: primary down');
  });

  it('counts a request once when the same limiter is mounted twice', async () => {
    const app = express();
    const limiter = rateLimit({ limit: 2, window: '1m', now });
    app.use(limiter);
    app.get('/', limiter, (_req, res) => {
      res.send('ok');
    });
    const http = supertest(app);
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('1');
    expect((await http.get('/')).headers['x-ratelimit-remaining']).toBe('0');
    expect((await http.get('/')).status).toBe(429);
  });

  it('keys routes by mount path + route pattern', async () => {
    const store = new MemoryStore();
    const router = express.Router();
    router.get('/items/:id', rateLimit({ limit: 2, window: '1m', now, key: 'route', store }), (_req, res) => {
      res.send('ok');
    });
    const app = express();
    app.use('/a', router);
    app.use('/b', router);
    const http = supertest(app);
    expect((await http.get('/a/items/1')).status).toBe(200);
    expect((await http.get('/a/items/2')).status).toBe(200);
    expect((await http.get('/a/items/3')).status).toBe(429);
    expect((await http.get('/b/items/1')).status).toBe(200);
    expect(store.size).toBe(2);
  });

  it('exposes the limiter it uses as .limiter', async () => {
    const middleware = rateLimit({ limit: 1, window: '1m', now });
    expect(middleware.limiter?.rules[0]?.limit).toBe(1);
    expect(rateLimit({ rules: () => [{ limit: 1, window: '1m' }] }).limiter).toBeUndefined();
    const app = express();
    app.use(middleware);
    app.get('/', (req, res) => {
      res.send(req.rateLimit?.key);
    });
    const http = supertest(app);
    const first = await http.get('/');
    expect(first.status).toBe(200);
    expect((await http.get('/')).status).toBe(429);
    // The very limiter the middleware counts with: resetting the client's key there lets it through.
    await middleware.limiter?.reset(first.text);
    expect((await http.get('/')).status).toBe(200);
  });
});
