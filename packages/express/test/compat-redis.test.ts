// @ratekeeper/express/compat on Redis (the integration project's redis-server): an express-rate-limit
// store over ioredis, written here to the documented store interface as rate-limit-redis implements
// it, and ratekeeper's own RedisStore given as `store`. Two middleware instances on one backend stand
// for two processes of one app.
import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import rateLimit, { type ClientRateLimitInfo, type Options, type Store } from '@ratekeeper/express/compat';
import { Redis } from 'ioredis';
import supertest from 'supertest';
import { pollUntil, redisPort, uniquePrefix } from '../../core/test/stores/redis/helpers';
import { appWith, recordingLogger } from './compat/helpers';

const redis = new Redis({ host: '127.0.0.1', port: redisPort(), ...replaySafeRedisOptions });
const redisStores: RedisStore[] = [];
/** A RedisStore on the shared client, under a prefix no other test uses (closed after the suite). */
function redisStore(name: string): RedisStore {
  const store = new RedisStore({ client: redis, prefix: uniquePrefix(name) });
  redisStores.push(store);
  return store;
}
afterAll(async () => {
  // Each store syncs with the server's clock until it is closed.
  await Promise.all(redisStores.map((s) => s.close()));
  await redis.quit();
});

/** INCR, and a first-hit window (PEXPIRE on the first hit); answers the hits and the ms left. */
const INCREMENT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { hits, redis.call('PTTL', KEYS[1]) }`;

/** An express-rate-limit store on Redis: one counter per key, expiring a window after its first hit. */
class IoredisStore implements Store {
  readonly prefix: string;
  windowMs = 60_000;
  readonly #client: Redis;

  constructor(client: Redis, prefix: string) {
    this.#client = client;
    this.prefix = prefix;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const [hits, ttl] = (await this.#client.eval(INCREMENT, 1, this.prefix + key, this.windowMs)) as [number, number];
    return { totalHits: hits, resetTime: new Date(Date.now() + ttl) };
  }

  async decrement(key: string): Promise<void> {
    await this.#client.decr(this.prefix + key);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const [[, hits], [, ttl]] = (await this.#client
      .multi()
      .get(this.prefix + key)
      .pttl(this.prefix + key)
      .exec()) as [[null, string | null], [null, number]];
    return hits === null ? undefined : { totalHits: Number(hits), resetTime: new Date(Date.now() + ttl) };
  }

  async resetKey(key: string): Promise<void> {
    await this.#client.del(this.prefix + key);
  }
}

describe('an express-rate-limit store over ioredis', () => {
  it('is shared by two instances: the limit holds across them', async () => {
    const prefix = uniquePrefix('erl-store');
    const one = supertest(appWith(rateLimit({ limit: 3, store: new IoredisStore(redis, prefix), keyGenerator: () => 'k' })));
    const two = supertest(appWith(rateLimit({ limit: 3, store: new IoredisStore(redis, prefix), keyGenerator: () => 'k' })));
    await one.get('/').expect(200);
    await two.get('/').expect(200);
    const third = await one.get('/').expect(200);
    expect(third.headers['x-ratelimit-remaining']).toBe('0');
    await two.get('/').expect(429, 'Too many requests, please try again later.');
    // The store counts refused requests too, as the original does.
    expect(await redis.get(`${prefix}k`)).toBe('4');
  });

  it('sets the reset headers from the store’s own window (it starts at the first hit)', async () => {
    const prefix = uniquePrefix('erl-reset');
    const before = Date.now();
    const agent = supertest(
      appWith(rateLimit({ limit: 1, windowMs: 30_000, standardHeaders: 'draft-6', store: new IoredisStore(redis, prefix) })),
    );
    const ok = await agent.get('/').expect(200);
    const reset = Number(ok.headers['x-ratelimit-reset']);
    expect(reset).toBeGreaterThanOrEqual(Math.floor((before + 29_000) / 1000));
    expect(reset).toBeLessThanOrEqual(Math.ceil((Date.now() + 30_000) / 1000));
    expect(Number(ok.headers['ratelimit-reset'])).toBeGreaterThanOrEqual(29);
    const limited = await agent.get('/').expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(29);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(30);
  });

  it('skipFailedRequests decrements; getKey and resetKey reach the store', async () => {
    const prefix = uniquePrefix('erl-skip');
    const limiter = rateLimit({ limit: 2, store: new IoredisStore(redis, prefix), skipFailedRequests: true, keyGenerator: () => 'k' });
    const agent = supertest(appWith(limiter));
    await agent.get('/bad').expect(400);
    await agent.get('/').expect(200);
    expect((await limiter.getKey('k'))?.totalHits).toBe(1);
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    await limiter.resetKey('k');
    expect(await redis.exists(`${prefix}k`)).toBe(0);
    await agent.get('/').expect(200);
  });

  it('a failing store: 500 by default, or let through and logged with passOnStoreError', async () => {
    // Redis refuses to INCR a counter that holds text: a real store error, on every request.
    const prefix = uniquePrefix('erl-fail');
    await redis.set(`${prefix}k`, 'not a number');
    const failing = rateLimit({ store: new IoredisStore(redis, prefix), keyGenerator: () => 'k' });
    await supertest(appWith(failing))
      .get('/')
      .expect(500, /^error: ERR value is not an integer/);
    const logger = recordingLogger();
    const passing = rateLimit({ store: new IoredisStore(redis, prefix), keyGenerator: () => 'k', passOnStoreError: true, logger });
    await supertest(appWith(passing)).get('/').expect(200, 'ok');
    await supertest(appWith(passing)).get('/').expect(200, 'ok');
    expect(logger.errors.map(([e, m]) => [(e as Error).message, m])).toEqual([
      [
        expect.stringMatching(/^ERR value is not an integer/),
        'express-rate-limit: error from store, allowing request without rate-limiting.',
      ],
      [
        expect.stringMatching(/^ERR value is not an integer/),
        'express-rate-limit: error from store, allowing request without rate-limiting.',
      ],
    ]);
  });
});

describe("ratekeeper's RedisStore as store", () => {
  it('decides in Redis, shared by two instances, with getKey and resetKey over its counters', async () => {
    const store = redisStore('rk-store');
    const options = { limit: 2, store, keyGenerator: () => 'k', validate: { unsharedStore: false } };
    const one = rateLimit(options);
    const two = rateLimit(options);
    await supertest(appWith(one)).get('/').expect(200);
    const second = await supertest(appWith(two)).get('/').expect(200);
    expect(second.headers['x-ratelimit-remaining']).toBe('0');
    const limited = await supertest(appWith(one)).get('/').expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect((await two.getKey('k'))?.totalHits).toBe(2);
    await one.resetKey('k');
    expect(await two.getKey('k')).toBeUndefined();
    await supertest(appWith(two)).get('/').expect(200);
  });

  it('counts each client in a window from its first hit, as the default MemoryStore does (reset headers, Retry-After)', async () => {
    // Only Date is faked (ioredis keeps its timers); the store takes the middleware's clock.
    jest.useFakeTimers({
      doNotFake: [
        'nextTick',
        'setImmediate',
        'setTimeout',
        'setInterval',
        'clearTimeout',
        'clearInterval',
        'queueMicrotask',
        'hrtime',
        'performance',
      ],
    });
    try {
      const t0 = Math.floor(Date.UTC(2030, 0, 1) / 60_000) * 60_000;
      jest.setSystemTime(t0 + 20_000);
      const store = new RedisStore({ client: redis, prefix: uniquePrefix('rk-anchored'), clock: 'client' });
      redisStores.push(store);
      const agent = supertest(appWith(rateLimit({ limit: 2, store, standardHeaders: 'draft-6', keyGenerator: () => 'k' })));
      expect((await agent.get('/').expect(200)).headers['ratelimit-reset']).toBe('60');
      jest.setSystemTime(t0 + 35_000);
      const second = await agent.get('/').expect(200);
      expect(second.headers['ratelimit-reset']).toBe('45');
      expect(second.headers['x-ratelimit-reset']).toBe(`${(t0 + 80_000) / 1000}`);
      expect((await agent.get('/').expect(429)).headers['retry-after']).toBe('45');
      jest.setSystemTime(t0 + 80_000);
      expect((await agent.get('/').expect(200)).headers['ratelimit-reset']).toBe('60');
    } finally {
      jest.useRealTimers();
    }
  });

  it('a per-request limit shares one counter whatever the function returns', async () => {
    const store = redisStore('rk-dynamic');
    const limiter = rateLimit({ limit: (req) => (req.query.pro ? 3 : 1), store, keyGenerator: () => 'k' });
    const agent = supertest(appWith(limiter));
    await agent.get('/').expect(200);
    await agent.get('/').expect(429);
    const pro = await agent.get('/?pro=1').expect(200);
    expect(pro.headers['x-ratelimit-remaining']).toBe('1');
    expect((await limiter.getKey('k'))?.totalHits).toBe(2);
  });

  it('skipSuccessfulRequests gives the hit back in Redis', async () => {
    const store = redisStore('rk-skip');
    const limiter = rateLimit({ limit: 1, store, skipSuccessfulRequests: true, keyGenerator: () => 'k' });
    const agent = supertest(appWith(limiter));
    // The hit goes back when the response has finished, which the client may see before the
    // server does: the next request waits until Redis holds the refund (on a loaded machine it
    // could reach Redis first and be refused).
    const refunded = () => pollUntil(async () => ((await limiter.getKey('k'))?.totalHits ?? 0) === 0, 'the refund in Redis');
    await agent.get('/').expect(200);
    await refunded();
    await agent.get('/').expect(200);
    await refunded();
    await agent.get('/bad').expect(400);
    await agent.get('/').expect(429);
  });
});
