// @ratekeeper/express/compat: the `store` option (express-rate-limit's store interface, modern and
// legacy; ratekeeper's stores), the MemoryStore export, and the middleware's resetKey and getKey.
import { MemoryStore as RatekeeperMemoryStore } from '@ratekeeper/core';
import { rateLimit as nativeRateLimit } from '@ratekeeper/express';
import rateLimit, { type IncrementCallback, type LegacyStore, MemoryStore, type Options } from '@ratekeeper/express/compat';
import supertest from 'supertest';
import { appWith, ListStore, recordingLogger, windowStart } from './compat/helpers';

afterEach(() => {
  jest.useRealTimers();
});

describe('MemoryStore (the default): ratekeeper memory store, with the original methods', () => {
  it('counts hits per key in a window from its first hit; decrement never goes below zero; resetKey and resetAll forget', async () => {
    jest.useFakeTimers({ now: windowStart(60_000, 10_000) });
    const store = new MemoryStore();
    store.init({ windowMs: 60_000 });
    expect(await store.increment('a')).toEqual({ totalHits: 1, resetTime: new Date(windowStart(60_000, 70_000)) });
    jest.setSystemTime(windowStart(60_000, 40_000));
    expect((await store.increment('a')).totalHits).toBe(2);
    // Another key's window starts at its own first hit.
    expect(await store.increment('c')).toEqual({ totalHits: 1, resetTime: new Date(windowStart(60_000, 100_000)) });
    await store.decrement('a');
    expect(await store.get('a')).toEqual({ totalHits: 1, resetTime: new Date(windowStart(60_000, 70_000)) });
    await store.decrement('a');
    await store.decrement('a');
    expect((await store.increment('a')).totalHits).toBe(1);
    await store.increment('b');
    await store.resetKey('a');
    expect(await store.get('a')).toBeUndefined();
    expect((await store.get('b'))?.totalHits).toBe(1);
    await store.resetAll();
    expect(await store.get('b')).toBeUndefined();
    store.shutdown();
  });

  it('counts beyond any limit (limits are the middleware’s) and starts over in the next window', async () => {
    jest.useFakeTimers({ now: windowStart(100, 30) });
    const store = new MemoryStore();
    store.init({ windowMs: 100 });
    for (let i = 1; i <= 12; i++) expect((await store.increment('k')).totalHits).toBe(i);
    jest.advanceTimersByTime(99);
    expect((await store.increment('k')).totalHits).toBe(13);
    jest.advanceTimersByTime(1);
    expect((await store.increment('k')).totalHits).toBe(1);
  });

  it('holds the counts the middleware keeps: getKey and resetKey reach them', async () => {
    const store = new MemoryStore();
    const limiter = rateLimit({ limit: 2, store, keyGenerator: () => 'client' });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    await agent.get('/').expect(200);
    expect((await store.get('client'))?.totalHits).toBe(2);
    expect((await limiter.getKey('client'))?.totalHits).toBe(2);
    await agent.get('/').expect(429);
    await limiter.resetKey('client');
    expect(await limiter.getKey('client')).toBeUndefined();
    await agent.get('/').expect(200);
  });

  it('is a ratekeeper store too (bounded by maxKeys)', () => {
    const store = new MemoryStore({ maxKeys: 10 });
    expect(store).toBeInstanceOf(RatekeeperMemoryStore);
    expect(store.maxKeys).toBe(10);
    expect(store.localKeys).toBe(true);
  });

  it('without a store, each middleware has its own counters', async () => {
    const one = rateLimit({ limit: 1, keyGenerator: () => 'x' });
    const two = rateLimit({ limit: 1, keyGenerator: () => 'x' });
    await supertest(appWith(one)).get('/').expect(200);
    await supertest(appWith(two)).get('/').expect(200);
    await supertest(appWith(one)).get('/').expect(429);
  });

  it('an extended MemoryStore whose increment is overridden is called as any express-rate-limit store', async () => {
    const seen: string[] = [];
    class Audited extends MemoryStore {
      override increment(key: string) {
        seen.push(key);
        return super.increment(key);
      }
    }
    const agent = supertest(appWith(rateLimit({ limit: 1, store: new Audited(), keyGenerator: () => 'k' })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    expect(seen).toEqual(['k', 'k']);
  });
});

describe('an express-rate-limit store (modern interface)', () => {
  it('is initialised once with the resolved options, and incremented once per counted request', async () => {
    const store = new ListStore();
    rateLimit({ store, max: 7, headers: false, windowMs: 30_000 });
    expect(store.calls).toEqual(['init']);
    expect(store.initOptions).toMatchObject({ limit: 7, windowMs: 30_000, headers: false, legacyHeaders: false, statusCode: 429, store });
    const defaults = new ListStore();
    rateLimit({ store: defaults, limit: undefined });
    expect(defaults.initOptions).toMatchObject({ limit: 5, windowMs: 60_000, standardHeaders: false, requestPropertyName: 'rateLimit' });
  });

  it('limits on the hits it counts (a limited request is counted too, as the original does)', async () => {
    const store = new ListStore();
    const agent = supertest(appWith(rateLimit({ limit: 2, store, keyGenerator: () => 'k' })));
    await agent.get('/').expect(200);
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    await agent.get('/').expect(429);
    expect(store.calls.filter((c) => c.startsWith('increment'))).toHaveLength(4);
    expect(store.hits.get('k')?.totalHits).toBe(4);
  });

  it('req.rateLimit.used on a refused request is the one over what was left (limit 0: 1)', async () => {
    const used: number[] = [];
    const record = (req: unknown) => used.push((req as { rateLimit: { used: number } }).rateLimit.used);
    const handler: Options['handler'] = (req, res) => {
      record(req);
      res.sendStatus(429);
    };
    const two = supertest(appWith(rateLimit({ limit: 2, store: new ListStore(), handler })));
    for (let i = 0; i < 3; i++) await two.get('/');
    const zero = supertest(appWith(rateLimit({ limit: 0, store: new ListStore(), handler, validate: false })));
    await zero.get('/').expect(429);
    expect(used).toEqual([3, 1]);
  });

  it('its resetTime gives the reset headers (the store decides the window)', async () => {
    jest.useFakeTimers({ now: 1_000_000_123 });
    const store = new ListStore();
    const agent = supertest(appWith(rateLimit({ limit: 1, store, standardHeaders: 'draft-7' })));
    const ok = await agent.get('/').expect(200);
    expect(ok.headers['x-ratelimit-reset']).toBe(`${Math.ceil((1_000_000_123 + 60_000) / 1000)}`);
    expect(ok.headers.ratelimit).toBe('limit=1, remaining=0, reset=60');
    jest.advanceTimersByTime(10_500);
    const limited = await agent.get('/').expect(429);
    expect(limited.headers['retry-after']).toBe('50');
  });

  it('without a resetTime: no X-RateLimit-Reset, the window as reset seconds, and ERR_ERL_HEADERS_NO_RESET for draft-7/8', async () => {
    const logger = recordingLogger();
    const store = new ListStore({ withResetTime: false });
    let info: { resetTime?: unknown } | undefined;
    const app = appWith(rateLimit({ limit: 1, store, standardHeaders: 'draft-7', logger }), (req, _res, next) => {
      info = (req as unknown as { rateLimit: typeof info }).rateLimit;
      next();
    });
    const agent = supertest(app);
    const ok = await agent.get('/').expect(200);
    expect(ok.headers['x-ratelimit-reset']).toBeUndefined();
    expect(ok.headers.ratelimit).toBe('limit=1, remaining=0, reset=60');
    expect(info).toHaveProperty('resetTime', undefined);
    const limited = await agent.get('/').expect(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(logger.codes()).toEqual(['ERR_ERL_HEADERS_NO_RESET']);
  });

  it('skipSuccessfulRequests / skipFailedRequests call decrement; a limited request is given back when failures are skipped', async () => {
    const store = new ListStore();
    const agent = supertest(appWith(rateLimit({ limit: 1, store, skipFailedRequests: true, keyGenerator: () => 'k' })));
    await agent.get('/bad').expect(400);
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    expect(store.calls.slice(1)).toEqual(['increment k', 'decrement k', 'increment k', 'increment k', 'decrement k']);
    const ok = new ListStore();
    await supertest(appWith(rateLimit({ store: ok, skipSuccessfulRequests: true, keyGenerator: () => 'k' })))
      .get('/')
      .expect(200);
    expect(ok.calls.slice(1)).toEqual(['increment k', 'decrement k']);
  });

  it('resetKey and getKey are the store’s', async () => {
    const store = new ListStore();
    const limiter = rateLimit({ store });
    await supertest(appWith(limiter)).get('/').expect(200);
    expect((await limiter.getKey('127.0.0.1'))?.totalHits).toBe(1);
    await limiter.resetKey('127.0.0.1');
    expect(store.calls.slice(-2)).toEqual(['get 127.0.0.1', 'resetKey 127.0.0.1']);
  });

  it('an init that throws or rejects is logged, not thrown', async () => {
    const logger = recordingLogger();
    const throwing = Object.assign(new ListStore(), {
      init: () => {
        throw new Error('init failed');
      },
    });
    rateLimit({ store: throwing, logger });
    const rejecting = Object.assign(new ListStore(), { init: async () => Promise.reject(new Error('later')) });
    rateLimit({ store: rejecting, logger });
    await new Promise(process.nextTick);
    expect(logger.errors.map(([e, m]) => [(e as Error).message, m])).toEqual([
      ['init failed', 'express-rate-limit: error during store initialization.'],
      ['later', 'express-rate-limit: async error during store initialization.'],
    ]);
  });

  it('a totalHits that is not a positive integer logs ERR_ERL_INVALID_HITS', async () => {
    const logger = recordingLogger();
    const store = Object.assign(new ListStore(), { increment: async () => ({ totalHits: 0, resetTime: undefined }) });
    await supertest(appWith(rateLimit({ store, logger })))
      .get('/')
      .expect(200);
    expect(logger.codes()).toEqual(['ERR_ERL_INVALID_HITS']);
  });

  it('a slow store is waited for (the original has no timeout)', async () => {
    const store = Object.assign(new ListStore(), {
      increment: () =>
        new Promise<{ totalHits: number; resetTime: undefined }>((r) => setTimeout(() => r({ totalHits: 1, resetTime: undefined }), 400)),
    });
    await supertest(appWith(rateLimit({ store })))
      .get('/')
      .expect(200, 'ok');
  });
});

describe('a legacy store (incr with a callback)', () => {
  class Legacy implements LegacyStore {
    hits = 0;
    decremented = 0;
    reset: string[] = [];
    incr(_key: string, callback: IncrementCallback): void {
      this.hits++;
      callback(undefined, this.hits, undefined);
    }
    decrement(): void {
      this.decremented++;
    }
    resetKey(key: string): void {
      this.reset.push(key);
    }
  }

  it('is promisified: it limits, is decremented, and resetKey reaches it; getKey throws (it has no get)', async () => {
    const store = new Legacy();
    const limiter = rateLimit({ limit: 1, store, skipSuccessfulRequests: true });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    expect(store.decremented).toBe(1);
    limiter.resetKey('someone');
    expect(store.reset).toEqual(['someone']);
    expect(() => limiter.getKey('someone')).toThrow(/get/);
  });

  it('an error passed to its callback goes to next(err)', async () => {
    const store = Object.assign(new Legacy(), {
      incr: (_key: string, callback: IncrementCallback) => callback(new Error('legacy down'), 0, undefined),
    });
    await supertest(appWith(rateLimit({ store })))
      .get('/')
      .expect(500, 'error: legacy down');
  });
});

describe('a ratekeeper store', () => {
  it('is decided on natively, with getKey and resetKey over its counters', async () => {
    const store = new RatekeeperMemoryStore();
    const limiter = rateLimit({ limit: 1, store, keyGenerator: () => 'k' });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    expect((await limiter.getKey('k'))?.totalHits).toBe(1);
    await limiter.resetKey('k');
    await agent.get('/').expect(200);
  });

  it('with a fixed limit, keeps its counts where a native anchored-window rule of the same limit and window reads them', async () => {
    jest.useFakeTimers({ now: windowStart(60_000) });
    const store = new RatekeeperMemoryStore();
    await supertest(appWith(rateLimit({ limit: 3, store, keyGenerator: () => 'k' })))
      .get('/')
      .expect(200);
    const native = nativeRateLimit({ limit: 3, window: '1m', algorithm: 'anchored-window', store, key: () => 'k', now: Date.now });
    const res = await supertest(appWith(native)).get('/').expect(200);
    expect(res.headers['x-ratelimit-remaining']).toBe('1');
  });
});

describe('store validation', () => {
  it('a store without the interface is a TypeError that names the store', () => {
    expect(() => rateLimit({ store: { invalid: true } as never })).toThrow(TypeError);
    expect(() => rateLimit({ store: { invalid: true } as never })).toThrow(/store/);
    const badInit = { increment: async () => ({ totalHits: 1, resetTime: undefined }), decrement() {}, resetKey() {}, init: 'no' };
    expect(() => rateLimit({ store: badInit as never })).toThrow(/store/);
  });

  it('one store instance in two limiters logs ERR_ERL_STORE_REUSE', () => {
    const logger = recordingLogger();
    const store = new MemoryStore();
    rateLimit({ store, logger });
    rateLimit({ store, logger });
    expect(logger.codes()).toEqual(['ERR_ERL_STORE_REUSE']);
  });

  it('the same key counted twice for one request on one store logs ERR_ERL_DOUBLE_COUNT', async () => {
    const logger = recordingLogger();
    const store = new ListStore();
    const options: Partial<Options> = { store, logger, keyGenerator: () => 'k', validate: { unsharedStore: false } };
    await supertest(appWith(rateLimit(options), rateLimit(options)))
      .get('/')
      .expect(200);
    expect(logger.codes()).toEqual(['ERR_ERL_DOUBLE_COUNT']);
  });
});
