import { createLimiter, isRateLimitError, rateLimited } from '@ratekeeper/core';

// Compiled by @swc/jest with decoratorVersion '2022-03' (TC39 standard decorators, as TypeScript 5 emits them).
beforeEach(() => {
  jest.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  jest.useRealTimers();
});

const now = () => Date.now();

describe('@rateLimited', () => {
  it('waits for its turn; one limiter per decorated method, shared by all instances', async () => {
    const start = Date.now();
    class Api {
      constructor(readonly name: string) {}
      @rateLimited({ limit: 1, window: '1s', algorithm: 'token-bucket', now })
      async get(path: string): Promise<string> {
        return `${this.name}${path}@${Date.now() - start}`;
      }
      @rateLimited({ limit: 1, window: '1s', algorithm: 'token-bucket', now })
      async other(): Promise<number> {
        return Date.now() - start;
      }
    }
    const x = new Api('x');
    const y = new Api('y');
    const results = Promise.all([x.get('/a'), y.get('/b'), x.get('/c'), x.other()]);
    await jest.advanceTimersByTimeAsync(2000);
    // x and y share get's budget (one per second); `other` has its own limiter and goes at once.
    await expect(results).resolves.toEqual(['x/a@0', 'y/b@1000', 'x/c@2000', 0]);
    expect(Api.prototype.get.name).toBe('get');
  });

  it('splits the budget with a key that reads this and the arguments', async () => {
    const start = Date.now();
    class Tenant {
      constructor(readonly id: string) {}
      @rateLimited({
        limit: 1,
        window: '1s',
        algorithm: 'fixed-window',
        now,
        key(this: Tenant, region: string) {
          return `${this.id}:${region}`;
        },
      })
      async call(region: string, n: number): Promise<string> {
        return `${this.id}:${region}:${n}@${Date.now() - start}`;
      }
    }
    const a = new Tenant('a');
    const b = new Tenant('b');
    const results = Promise.all([a.call('eu', 1), b.call('eu', 2), a.call('us', 3), a.call('eu', 4)]);
    await jest.advanceTimersByTimeAsync(1000);
    await expect(results).resolves.toEqual(['a:eu:1@0', 'b:eu:2@0', 'a:us:3@0', 'a:eu:4@1000']);
  });

  it('wait: false throws RateLimitError without running the method; refundIf refunds', async () => {
    const limiter = createLimiter({ limit: 2, window: '1m', algorithm: 'fixed-window', now });
    let runs = 0;
    class Job {
      @rateLimited({ limiter, wait: false, refundIf: (o) => o.status === 'rejected' })
      async run(fail: boolean): Promise<number> {
        runs++;
        if (fail) throw new Error('failed');
        return runs;
      }
    }
    const job = new Job();
    await expect(job.run(true)).rejects.toThrow('failed');
    await expect(job.run(false)).resolves.toBe(2);
    await expect(job.run(false)).resolves.toBe(3);
    const error = await job.run(false).catch((e: unknown) => e);
    expect(isRateLimitError(error)).toBe(true);
    expect(runs).toBe(3);
    // Default key: the method's name.
    expect((await limiter.peek('run')).remaining).toBe(0);
  });

  it('works on static methods', async () => {
    // biome-ignore lint/complexity/noStaticOnlyClass: the point is a static method
    class Util {
      @rateLimited({ limit: 1, window: '1m', wait: false, now })
      static async ping(): Promise<string> {
        return 'pong';
      }
    }
    await expect(Util.ping()).resolves.toBe('pong');
    await expect(Util.ping()).rejects.toMatchObject({ code: 'ERR_RK_RATE_LIMITED' });
  });

  it('rejects bad options when the class is defined', () => {
    expect(() => {
      class Bad {
        @rateLimited({ limit: -1, window: '1s' })
        async m(): Promise<void> {}
      }
      return Bad;
    }).toThrow('Expected `limit` to be a positive integer, got -1');
  });
});
