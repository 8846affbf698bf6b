// @ratekeeper/express/compat: express-rate-limit 8's options and behaviour, as its documentation
// describes them, on ratekeeper's pipeline. Stores: compat-stores.test.ts; checks and
// ipKeyGenerator: compat-validate.test.ts; module shape: compat-module.test.ts.

import rateLimit, {
  DAY,
  HOUR,
  ipKeyGenerator,
  MemoryStore,
  MINUTE,
  rateLimit as named,
  type Options,
  SECOND,
} from '@ratekeeper/express/compat';
import type { Express } from 'express';
import supertest from 'supertest';
import { appWith, recordingLogger, windowStart } from './compat/helpers';

const quiet = () => recordingLogger();

// Express 4 is a dev dependency of this package under the alias `express4` (no types of its own).
const express4 = require('express4') as () => Express;

afterEach(() => {
  jest.useRealTimers();
});

describe('module shape (ESM)', () => {
  it('exports rateLimit as default and by name, with MemoryStore, ipKeyGenerator and the time constants', () => {
    expect(rateLimit).toBe(named);
    expect(typeof MemoryStore).toBe('function');
    expect(typeof ipKeyGenerator).toBe('function');
    expect([SECOND, MINUTE, HOUR, DAY]).toEqual([1000, 60_000, 3_600_000, 86_400_000]);
  });

  it('returns the middleware with resetKey and getKey, and accepts no options at all', () => {
    const limiter = rateLimit();
    expect(typeof limiter).toBe('function');
    expect(typeof limiter.resetKey).toBe('function');
    expect(typeof limiter.getKey).toBe('function');
  });
});

describe('defaults', () => {
  it('allows 5 requests per minute per IP, then answers 429 with the default message', async () => {
    const agent = supertest(appWith(rateLimit()));
    for (let i = 0; i < 5; i++) await agent.get('/').expect(200, 'ok');
    const res = await agent.get('/').expect(429);
    expect(res.text).toBe('Too many requests, please try again later.');
  });

  it('sends the X-RateLimit-* headers and no IETF headers', async () => {
    const res = await supertest(appWith(rateLimit())).get('/').expect(200);
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    expect(res.headers['x-ratelimit-remaining']).toBe('4');
    expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/);
    expect(res.headers.ratelimit).toBeUndefined();
    expect(res.headers['ratelimit-policy']).toBeUndefined();
  });

  it('does not modify the options object, and treats options set to undefined as not set', async () => {
    const options = { limit: undefined, windowMs: undefined, message: undefined };
    const limiter = rateLimit(options);
    expect(options).toEqual({ limit: undefined, windowMs: undefined, message: undefined });
    const agent = supertest(appWith(limiter));
    for (let i = 0; i < 5; i++) await agent.get('/').expect(200);
    await agent.get('/').expect(429, 'Too many requests, please try again later.');
  });
});

describe('limit', () => {
  it('takes the old name max; limit wins when both are given', async () => {
    const agent = supertest(appWith(rateLimit({ max: 2 })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    const both = await supertest(appWith(rateLimit({ max: 2, limit: 7 })))
      .get('/')
      .expect(200);
    expect(both.headers['x-ratelimit-limit']).toBe('7');
  });

  it('may be a function of (req, res), returning a number or a promise, evaluated per request', async () => {
    const limiter = rateLimit({
      limit: async (req, res) => {
        expect(typeof res.setHeader).toBe('function');
        return req.query.plan === 'pro' ? 3 : 1;
      },
      keyGenerator: () => 'one-client',
    });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    // One counter whatever the limit: the second hit is over 1 but within 3.
    await agent.get('/').expect(429);
    const pro = await agent.get('/?plan=pro').expect(200);
    expect(pro.headers['x-ratelimit-limit']).toBe('3');
    expect(pro.headers['x-ratelimit-remaining']).toBe('1');
  });

  it('a numeric string (an environment variable) is compared as a number, as `hits > limit` does', async () => {
    const agent = supertest(appWith(rateLimit({ limit: '2' as unknown as number })));
    await agent.get('/').expect(200);
    const second = await agent.get('/').expect(200);
    expect(second.headers['x-ratelimit-limit']).toBe('2');
    expect(second.headers['x-ratelimit-remaining']).toBe('0');
    await agent.get('/').expect(429);
  });

  it('0 blocks every request, and logs that this changed in version 7', async () => {
    const logger = quiet();
    const agent = supertest(appWith(rateLimit({ limit: 0, logger })));
    const res = await agent.get('/').expect(429);
    expect(res.headers['x-ratelimit-limit']).toBe('0');
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
    await agent.get('/').expect(429);
    expect(logger.warnings.map(([w]) => (w as { code: string }).code)).toEqual(['WRN_ERL_MAX_ZERO']);
    const silenced = quiet();
    await supertest(appWith(rateLimit({ limit: 0, logger: silenced, validate: { limit: false } })))
      .get('/')
      .expect(429);
    expect(silenced.warnings).toEqual([]);
  });
});

describe('windowMs', () => {
  it('lets a limited client through again once its window is over', async () => {
    jest.useFakeTimers({ now: windowStart(1000) });
    const agent = supertest(appWith(rateLimit({ limit: 1, windowMs: 1000 })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    jest.advanceTimersByTime(1000);
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
  });
});

describe('the limited response', () => {
  it('message: text, an object sent as JSON, or a (possibly async) function of (req, res)', async () => {
    const cases: [Options['message'], string | object][] = [
      ['Slow down', 'Slow down'],
      [
        { error: 'rate_limited', retry: true },
        { error: 'rate_limited', retry: true },
      ],
      [(req: { query: { who?: string } }) => `no, ${req.query.who}`, 'no, ann'],
      [async () => ({ later: true }), { later: true }],
    ];
    for (const [message, body] of cases) {
      const agent = supertest(appWith(rateLimit({ limit: 1, message })));
      await agent.get('/?who=ann').expect(200);
      const res = await agent.get('/?who=ann').expect(429);
      if (typeof body === 'string') expect(res.text).toBe(body);
      else expect(res.body).toEqual(body);
    }
  });

  it('statusCode sets the status', async () => {
    const agent = supertest(appWith(rateLimit({ limit: 1, statusCode: 503 })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(503, 'Too many requests, please try again later.');
  });

  it('handler replaces the answer; it gets (req, res, next, options) with the resolved options', async () => {
    let seen: { limit: unknown; windowMs: unknown; statusCode: unknown; info: unknown } | undefined;
    const limiter = rateLimit({
      limit: 1,
      windowMs: 30_000,
      handler(req, res, _next, options) {
        seen = {
          limit: options.limit,
          windowMs: options.windowMs,
          statusCode: options.statusCode,
          info: (req as unknown as { rateLimit: unknown }).rateLimit,
        };
        res.status(418).json({ custom: true });
      },
    });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    const res = await agent.get('/').expect(418);
    expect(res.body).toEqual({ custom: true });
    expect(seen).toMatchObject({ limit: 1, windowMs: 30_000, statusCode: 429, info: { limit: 1, used: 2, remaining: 0 } });
  });

  it('a handler that throws, or rejects, passes its error to next(err)', async () => {
    const throwing = supertest(
      appWith(
        rateLimit({
          limit: 1,
          handler: () => {
            throw new Error('handler broke');
          },
        }),
      ),
    );
    await throwing.get('/').expect(200);
    await throwing.get('/').expect(500, 'error: handler broke');
    const rejecting = supertest(appWith(rateLimit({ limit: 1, handler: async () => Promise.reject(new Error('async broke')) })));
    await rejecting.get('/').expect(200);
    await rejecting.get('/').expect(500, 'error: async broke');
  });
});

describe('skip and keyGenerator', () => {
  it('skip: requests it returns true for (or a promise of true) are not counted and get no headers', async () => {
    const limiter = rateLimit({ limit: 1, skip: async (req, res) => req.query.free === '1' && typeof res.setHeader === 'function' });
    const agent = supertest(appWith(limiter));
    for (let i = 0; i < 3; i++) {
      const res = await agent.get('/?free=1').expect(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
  });

  it('a skip function that throws passes its error to next(err)', async () => {
    const limiter = rateLimit({
      skip: () => {
        throw new Error('skip broke');
      },
    });
    await supertest(appWith(limiter)).get('/').expect(500, 'error: skip broke');
  });

  it('keyGenerator: one counter per key it returns (sync or async), given (req, res)', async () => {
    const limiter = rateLimit({ limit: 1, keyGenerator: async (req) => String(req.query.user) });
    const agent = supertest(appWith(limiter));
    await agent.get('/?user=a').expect(200);
    await agent.get('/?user=b').expect(200);
    await agent.get('/?user=a').expect(429);
    const info = await agent.get('/info?user=c').expect(200);
    expect(info.body.key).toBe('c');
  });
});

describe('req.rateLimit', () => {
  it('holds limit, used, remaining, resetTime and key, and a hidden current (= used)', async () => {
    jest.useFakeTimers({ now: windowStart(60_000, 15_000) });
    let captured: Record<string, unknown> | undefined;
    const app = appWith(rateLimit({ limit: 3 }), (req, _res, next) => {
      captured = (req as unknown as { rateLimit: Record<string, unknown> }).rateLimit;
      next();
    });
    await supertest(app).get('/').expect(200);
    jest.setSystemTime(windowStart(60_000, 25_000));
    await supertest(app).get('/').expect(200);
    expect(captured).toEqual({
      limit: 3,
      used: 2,
      remaining: 1,
      // The client's window started at its first hit.
      resetTime: new Date(windowStart(60_000, 75_000)),
      // supertest connects over IPv4: Express reports `::ffff:127.0.0.1`, the key is the IPv4 address.
      key: '127.0.0.1',
    });
    expect(captured?.current).toBe(2);
    expect(Object.keys(captured ?? {})).not.toContain('current');
    expect(JSON.stringify(captured)).not.toContain('current');
  });

  it('requestPropertyName puts it elsewhere; two limiters with their own names do not interfere', async () => {
    let req: Record<string, { limit: number; remaining: number } | undefined> = {};
    const app = appWith(
      rateLimit({ limit: 2, requestPropertyName: 'perUser', keyGenerator: (r) => String(r.query.u) }),
      rateLimit({ limit: 5, requestPropertyName: 'global', keyGenerator: () => 'all' }),
      (r, _res, next) => {
        req = r as unknown as typeof req;
        next();
      },
    );
    await supertest(app).get('/?u=1').expect(200);
    await supertest(app).get('/?u=2').expect(200);
    expect(req.rateLimit).toBeUndefined();
    expect(req.perUser).toMatchObject({ limit: 2, remaining: 1 });
    expect(req.global).toMatchObject({ limit: 5, remaining: 3 });
  });
});

describe('headers', () => {
  // Each client's window starts at its first hit (as the original's MemoryStore counts), wherever
  // that falls in the minute: a first hit 20 s into a minute resets 60 s later.
  const at20s = () => jest.useFakeTimers({ now: windowStart(60_000, 20_000) });
  const aMinuteAfterIt = () => Math.ceil(windowStart(60_000, 80_000) / 1000);

  it('legacyHeaders: X-RateLimit-Limit, -Remaining, -Reset (epoch seconds of the reset) and Date', async () => {
    at20s();
    const res = await supertest(appWith(rateLimit({ limit: 5 })))
      .get('/')
      .expect(200);
    expect(res.headers['x-ratelimit-limit']).toBe('5');
    expect(res.headers['x-ratelimit-remaining']).toBe('4');
    expect(res.headers['x-ratelimit-reset']).toBe(`${aMinuteAfterIt()}`);
    expect(new Date(res.headers.date as string).getTime()).toBe(windowStart(60_000, 20_000));
  });

  it('legacyHeaders: false (or the old name headers: false) sends none', async () => {
    for (const options of [{ legacyHeaders: false }, { headers: false }]) {
      const res = await supertest(appWith(rateLimit(options)))
        .get('/')
        .expect(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it("standardHeaders: true and 'draft-6' send RateLimit-Policy, -Limit, -Remaining, -Reset", async () => {
    at20s();
    for (const standardHeaders of [true, 'draft-6'] as const) {
      const res = await supertest(appWith(rateLimit({ standardHeaders, legacyHeaders: false })))
        .get('/')
        .expect(200);
      expect(res.headers).toMatchObject({
        'ratelimit-policy': '5;w=60',
        'ratelimit-limit': '5',
        'ratelimit-remaining': '4',
        'ratelimit-reset': '60',
      });
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
  });

  it("'draft-7' sends RateLimit-Policy and one RateLimit field", async () => {
    at20s();
    const res = await supertest(appWith(rateLimit({ standardHeaders: 'draft-7' })))
      .get('/')
      .expect(200);
    expect(res.headers['ratelimit-policy']).toBe('5;w=60');
    expect(res.headers.ratelimit).toBe('limit=5, remaining=4, reset=60');
    expect(res.headers['x-ratelimit-limit']).toBe('5');
  });

  it("'draft-8' names the quota (identifier) and adds the partition key pk", async () => {
    jest.useFakeTimers({ now: windowStart(2 * 3_600_000, 3_600_000) });
    const limiter = rateLimit({ windowMs: 2 * 3_600_000, standardHeaders: 'draft-8', keyGenerator: () => 'foo' });
    const res = await supertest(appWith(limiter)).get('/').expect(200);
    expect(res.headers['ratelimit-policy']).toBe('"5-in-2hrs"; q=5; w=7200; pk=:MmMyNmI0NmI2OGZm:');
    expect(res.headers.ratelimit).toBe('"5-in-2hrs"; r=4; t=7200');
    const named = await supertest(
      appWith(rateLimit({ identifier: async () => 'api', standardHeaders: 'draft-8', keyGenerator: () => 'foo' })),
    )
      .get('/')
      .expect(200);
    expect(named.headers['ratelimit-policy']).toMatch(/^"api"; q=5; w=60; pk=:MmMyNmI0NmI2OGZm:$/);
  });

  it("'draft-8': each limiter of a request appends its item, with the default names of its window", async () => {
    jest.useFakeTimers({ now: windowStart(2 * DAY) });
    const common = { standardHeaders: 'draft-8', legacyHeaders: false, keyGenerator: () => 'foo' } as const;
    const windows: [number, number, string][] = [
      [1, 5 * SECOND, '1-in-5sec'],
      [5, MINUTE, '5-in-1min'],
      [6, HOUR, '6-in-1hr'],
      [7, 2 * HOUR, '7-in-2hrs'],
      [8, DAY, '8-in-1day'],
      [9, 2 * DAY, '9-in-2days'],
    ];
    const app = appWith(...windows.map(([limit, windowMs]) => rateLimit({ ...common, limit, windowMs })));
    const res = await supertest(app).get('/').expect(200);
    expect(res.headers['ratelimit-policy']).toBe(
      windows.map(([limit, w, name]) => `"${name}"; q=${limit}; w=${w / 1000}; pk=:MmMyNmI0NmI2OGZm:`).join(', '),
    );
    expect(res.headers.ratelimit).toBe(windows.map(([limit, w, name]) => `"${name}"; r=${limit - 1}; t=${w / 1000}`).join(', '));
  });

  it('an unknown draft sends no IETF headers and logs ERR_ERL_HEADERS_UNSUPPORTED_DRAFT_VERSION', async () => {
    const logger = quiet();
    const res = await supertest(appWith(rateLimit({ standardHeaders: 'draft-5' as 'draft-6', logger })))
      .get('/')
      .expect(200);
    expect(res.headers.ratelimit).toBeUndefined();
    expect(res.headers['ratelimit-policy']).toBeUndefined();
    expect(logger.codes()).toEqual(['ERR_ERL_HEADERS_UNSUPPORTED_DRAFT_VERSION']);
  });

  it('Retry-After on a limited response: the seconds until the reset, when any header family is on', async () => {
    at20s();
    const agent = supertest(appWith(rateLimit({ limit: 1 })));
    const ok = await agent.get('/').expect(200);
    expect(ok.headers['retry-after']).toBeUndefined();
    // 15 s after the first hit, 45 s of its window are left.
    jest.setSystemTime(windowStart(60_000, 35_000));
    const limited = await agent.get('/').expect(429);
    expect(limited.headers['retry-after']).toBe('45');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    const none = supertest(appWith(rateLimit({ limit: 1, legacyHeaders: false, standardHeaders: false })));
    await none.get('/').expect(200);
    const bare = await none.get('/').expect(429);
    expect(bare.headers['retry-after']).toBeUndefined();
    expect(bare.headers['x-ratelimit-limit']).toBeUndefined();
  });
});

describe('skipSuccessfulRequests, skipFailedRequests, requestWasSuccessful', () => {
  const remaining = async (agent: ReturnType<typeof supertest>) => (await agent.get('/info')).body.remaining as number;

  it('skipSuccessfulRequests gives back the hits of responses under 400', async () => {
    const agent = supertest(appWith(rateLimit({ limit: 3, skipSuccessfulRequests: true })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(200);
    await agent.get('/bad').expect(400);
    // Two successes given back, the 400 kept; /info itself counts (and is given back after).
    expect(await remaining(agent)).toBe(1);
  });

  it('skipFailedRequests gives back the hits of responses at 400 or above', async () => {
    const agent = supertest(appWith(rateLimit({ limit: 3, skipFailedRequests: true })));
    await agent.get('/bad').expect(400);
    await agent.get('/boom').expect(500);
    await agent.get('/').expect(200);
    expect(await remaining(agent)).toBe(1);
  });

  it('skipFailedRequests gives back the hit of a request whose client went away before the answer', async () => {
    let arrived!: () => void;
    let closed!: () => void;
    const arrival = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const closing = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const app = appWith(rateLimit({ limit: 2, skipFailedRequests: true }));
    app.get('/wait', (_req, res) => {
      res.on('close', closed);
      arrived();
    });
    const server = app.listen(0, '127.0.0.1');
    try {
      await new Promise((resolve) => server.once('listening', resolve));
      const { port } = server.address() as { port: number };
      const aborted = new AbortController();
      const request = fetch(`http://127.0.0.1:${port}/wait`, { signal: aborted.signal }).catch(() => 'aborted');
      await arrival;
      aborted.abort();
      expect(await request).toBe('aborted');
      await closing;
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(res.headers.get('x-ratelimit-remaining')).toBe('1');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('a limited request never makes a count negative', async () => {
    const agent = supertest(appWith(rateLimit({ limit: 1, skipFailedRequests: true })));
    await agent.get('/').expect(200);
    for (let i = 0; i < 3; i++) await agent.get('/').expect(429);
    const res = await agent.get('/').expect(429);
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('requestWasSuccessful (sync or async, given req and res) decides what success is', async () => {
    const limiter = rateLimit({
      limit: 2,
      skipFailedRequests: true,
      requestWasSuccessful: async (req, res) => res.statusCode < 500 && req.query.fail !== '1',
    });
    const agent = supertest(appWith(limiter));
    await agent.get('/bad').expect(400);
    await agent.get('/?fail=1').expect(200);
    await agent.get('/boom').expect(500);
    // The 400 counts as a success here; ?fail=1 and the 500 are given back.
    const res = await agent.get('/').expect(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('gives nothing back once the window the hit was counted in is over', async () => {
    jest.useFakeTimers({ now: windowStart(1000, 900) });
    const app = appWith(rateLimit({ limit: 1, windowMs: 1000, skipSuccessfulRequests: true }), (_req, _res, next) => {
      jest.advanceTimersByTime(200);
      next();
    });
    const agent = supertest(app);
    await agent.get('/').expect(200);
    // The hit of the first window was not given to the second one: only this request counts in it.
    const res = await agent.get('/').expect(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('0');
  });
});

describe('passOnStoreError and logger', () => {
  const failing = {
    increment: async () => Promise.reject(new Error('store down')),
    decrement: async () => {},
    resetKey: async () => {},
  };

  it('by default a store error goes to next(err): the app answers 500 with its own error', async () => {
    await supertest(appWith(rateLimit({ store: { ...failing } })))
      .get('/')
      .expect(500, 'error: store down');
  });

  it('passOnStoreError lets the request through, once, and logs the error with a message', async () => {
    const logger = quiet();
    const res = await supertest(appWith(rateLimit({ store: { ...failing }, passOnStoreError: true, logger })))
      .get('/')
      .expect(200, 'ok');
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    expect(logger.errors).toHaveLength(1);
    const [error, message] = logger.errors[0] as [Error, string];
    expect(error.message).toBe('store down');
    expect(message).toBe('express-rate-limit: error from store, allowing request without rate-limiting.');
  });

  it('the default logger is the console, message first', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await supertest(appWith(rateLimit({ store: { ...failing }, passOnStoreError: true })))
        .get('/')
        .expect(200);
      expect(spy).toHaveBeenCalledWith(expect.stringContaining('allowing request'), expect.objectContaining({ message: 'store down' }));
    } finally {
      spy.mockRestore();
    }
  });

  it('a logger without error() and warn() is a TypeError', () => {
    expect(() => rateLimit({ logger: { error: 'nope' } as never })).toThrow(TypeError);
  });
});

describe('on the wrong framework', () => {
  it("called as Koa calls a middleware, (ctx, next), it rejects with a ConfigError naming Koa's package", async () => {
    const limiter = rateLimit() as unknown as (ctx: object, next: () => Promise<void>) => Promise<void>;
    const next = jest.fn(async () => {});
    await expect(limiter({ ip: '127.0.0.1' }, next)).rejects.toMatchObject({
      code: 'ERR_RK_CONFIG',
      message: expect.stringContaining('@ratekeeper/koa'),
    });
    expect(next).not.toHaveBeenCalled();
  });
});

describe.each([
  ['Express 5', () => appWith],
  [
    'Express 4',
    () =>
      (...middleware: Parameters<typeof appWith>) => {
        const app = express4();
        app.use(...middleware);
        app.get('/', (_req, res) => {
          res.send('ok');
        });
        return app;
      },
  ],
])('%s', (_name, factory) => {
  it('limits, with legacy and draft-8 headers', async () => {
    jest.useFakeTimers({ now: windowStart(60_000, 30_000) });
    const agent = supertest(factory()(rateLimit({ limit: 1, standardHeaders: 'draft-8', keyGenerator: () => 'foo' })));
    const ok = await agent.get('/').expect(200);
    expect(ok.headers.ratelimit).toBe('"1-in-1min"; r=0; t=60');
    jest.setSystemTime(windowStart(60_000, 60_000));
    const limited = await agent.get('/').expect(429, 'Too many requests, please try again later.');
    expect(limited.headers['retry-after']).toBe('30');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
  });
});
