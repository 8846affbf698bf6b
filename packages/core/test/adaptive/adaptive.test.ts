import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createHttpLimiter, type HttpAdapter, type HttpOutcome } from '../../src/http';
import {
  type AdaptiveLoad,
  type AdaptiveOptions,
  adaptiveLoad,
  type BoundStore,
  ConfigError,
  createLimiter,
  isConfigError,
  type Limiter,
  MemoryStore,
  type Store,
} from '../../src/index';
import { manualClock } from '../../src/testing';

const ROOT = join(__dirname, '..', '..', '..', '..');
const T0 = 1_699_999_200_000;

/** A load the test sets; sampled every second (fake timers). */
function injected(initial = 0): { set(load: number): void; signal: () => number } {
  let load = initial;
  return {
    set: (l) => {
      load = l;
    },
    signal: () => load,
  };
}

describe('adaptive limits', () => {
  const loads: AdaptiveLoad[] = [];
  /** An adaptiveLoad closed after the test. */
  function track(options: AdaptiveOptions): AdaptiveLoad {
    const load = adaptiveLoad(options);
    loads.push(load);
    return load;
  }

  beforeEach(() => jest.useFakeTimers({ now: T0 }));
  afterEach(() => {
    for (const load of loads.splice(0)) load.close();
    jest.useRealTimers();
  });

  /** A limiter of `limit` per minute whose factor follows `signal`, with the default curve. */
  function adaptiveLimiter(
    signal: () => number,
    extra: Partial<AdaptiveOptions> = {},
    limit = 10,
  ): { limiter: Limiter; load: AdaptiveLoad } {
    const load = track({ signal, ...extra });
    const clock = manualClock(T0);
    return { limiter: createLimiter({ limit, window: '1m', now: clock.now, adaptive: load }), load };
  }

  /** Feeds one sample per interval and returns the factor after each. */
  function feed(load: AdaptiveLoad, set: (l: number) => void, samples: readonly number[], intervalMs = 1000): number[] {
    return samples.map((l) => {
      set(l);
      jest.advanceTimersByTime(intervalMs);
      return load.factor;
    });
  }

  describe('the factor', () => {
    it('goes down at once when load rises: ×0.75 above 60 %, ×0.5 above 80 %', () => {
      const signal = injected(0.3);
      const { load } = adaptiveLimiter(signal.signal);
      // The first sample is taken when the first limiter attaches.
      expect([load.factor, load.load]).toEqual([1, 0.3]);
      expect(feed(load, signal.set, [0.6, 0.61, 0.8, 0.81])).toEqual([1, 0.75, 0.75, 0.5]);
    });

    it('goes back up only after `samples` samples in a row below the threshold minus `margin`', () => {
      const signal = injected(0.9);
      const { load } = adaptiveLimiter(signal.signal);
      expect(load.factor).toBe(0.5);
      // 0.75 is below 80 % but within the 0.1 margin: no step up. 0.65 three times: up to 0.75.
      expect(feed(load, signal.set, [0.75, 0.75, 0.75, 0.65, 0.65, 0.65])).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.75]);
      // A rise in between restarts the count.
      expect(feed(load, signal.set, [0.45, 0.45, 0.55, 0.45, 0.45, 0.45])).toEqual([0.75, 0.75, 0.75, 0.75, 0.75, 1]);
    });

    it('steps up to the lowest factor the streak allowed', () => {
      const signal = injected(0.9);
      const { load } = adaptiveLimiter(signal.signal);
      expect(feed(load, signal.set, [0.1, 0.65, 0.1])).toEqual([0.5, 0.5, 0.75]);
    });

    it('does not flap on a load oscillating around a threshold', () => {
      const signal = injected(0.58);
      const { load } = adaptiveLimiter(signal.signal);
      const oscillating = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 0.62 : 0.58));
      const factors = feed(load, signal.set, oscillating);
      expect(new Set(factors)).toEqual(new Set([0.75]));
      // Without hysteresis the same load flaps on every sample.
      const bare = injected(0.58);
      const { load: flapping } = adaptiveLimiter(bare.signal, { hysteresis: { margin: 0, samples: 1 } });
      expect(feed(flapping, bare.set, oscillating.slice(0, 4))).toEqual([0.75, 1, 0.75, 1]);
    });

    it('never goes below `min`, and a reduced limit never below 1', async () => {
      const signal = injected(1);
      const { limiter, load } = adaptiveLimiter(signal.signal, { min: 0.8 });
      expect(load.factor).toBe(0.8);
      expect((await limiter.consume('k')).limit).toBe(8);
      const tiny = adaptiveLimiter(signal.signal, { min: 0.05, steps: 'smooth' }, 3);
      expect(tiny.load.factor).toBe(0.05);
      expect((await tiny.limiter.consume('k')).limit).toBe(1);
    });

    it("'smooth': 1 up to 50 % load, then straight down to min at 90 %, in steps of 1/20", () => {
      const signal = injected(0);
      const { load } = adaptiveLimiter(signal.signal, { steps: 'smooth', min: 0.25, hysteresis: { margin: 0, samples: 1 } });
      expect(feed(load, signal.set, [0.5, 0.6, 0.7, 0.8, 0.9, 1, 0.3])).toEqual([1, 0.8, 0.6, 0.4, 0.25, 0.25, 1]);
      // A `min` off the 1/20 grid is a level of its own.
      const odd = adaptiveLimiter(signal.signal, { steps: 'smooth', min: 0.33 });
      expect(odd.load.factor).toBe(1);
      expect(feed(odd.load, signal.set, [0.95, 0.88])).toEqual([0.33, 0.33]);
    });

    it('follows custom steps, rounded down to a multiple of 1/20; limits round down exactly', async () => {
      const signal = injected(0);
      const { load } = adaptiveLimiter(signal.signal, { steps: [[0.5, 0.66]], hysteresis: { margin: 0, samples: 1 } });
      expect(feed(load, signal.set, [0.51, 0.5])).toEqual([0.65, 1]);
      // 180 × 0.35 is 62.99999999999999 in floating point.
      const exact = adaptiveLimiter(() => 0.6, { steps: [[0.5, 0.35]], min: 0.35 }, 180);
      expect((await exact.limiter.consume('k')).limit).toBe(63);
    });

    it('clamps loads outside [0, 1]; a signal that throws or returns NaN keeps the factor and warns once', () => {
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
      try {
        let value: () => number = () => 7;
        const { load } = adaptiveLimiter(() => value());
        expect([load.load, load.factor]).toEqual([1, 0.5]);
        value = () => {
          throw new Error('sensor down');
        };
        jest.advanceTimersByTime(1000);
        value = () => Number.NaN;
        jest.advanceTimersByTime(1000);
        expect([load.load, load.factor]).toEqual([1, 0.5]);
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0]?.[0])).toMatch(/adaptive load signal threw sensor down/);
        value = () => -3;
        jest.advanceTimersByTime(1000);
        expect(load.load).toBe(0);
      } finally {
        warn.mockRestore();
      }
    });
  });

  describe('decisions', () => {
    it('report the effective limit, and a key keeps its used units across factor changes (memory)', async () => {
      const signal = injected(0);
      const { limiter, load } = adaptiveLimiter(signal.signal);
      const take = async (n: number) => {
        const out: [boolean, number, number][] = [];
        for (let i = 0; i < n; i++) {
          const d = await limiter.consume('k');
          out.push([d.allowed, d.limit, d.remaining]);
        }
        return out;
      };
      expect(await take(4)).toEqual([
        [true, 10, 9],
        [true, 10, 8],
        [true, 10, 7],
        [true, 10, 6],
      ]);
      feed(load, signal.set, [0.9]);
      // 4 of 5 used: one more, then denied.
      expect(await take(2)).toEqual([
        [true, 5, 0],
        [false, 5, 0],
      ]);
      const peeked = await limiter.peek('k');
      expect([peeked.limit, peeked.rule.limit, peeked.rules[0]?.limit]).toEqual([5, 5, 5]);
      feed(load, signal.set, [0.1, 0.1, 0.1]);
      expect(load.factor).toBe(1);
      // 5 of 10 used.
      expect(await take(1)).toEqual([[true, 10, 4]]);
      // The limiter's own rules stay as configured.
      expect(limiter.rules[0]?.limit).toBe(10);
      expect(limiter.consumeSync('other').limit).toBe(10);
    });

    // Window and log algorithms keep the units used; GCRA its backlog (time), so the share used; a
    // token bucket the tokens left (at most the new burst): 7 of 8 taken leaves it 1.
    it.each([
      ['fixed-window', false],
      ['sliding-window', false],
      ['sliding-log', false],
      ['gcra', false],
      ['token-bucket', true],
    ] as const)('%s: a key over the reduced limit is denied with remaining 0 and a finite wait', async (algorithm, oneLeft) => {
      const signal = injected(0);
      const load = track({ signal: signal.signal });
      const limiter = createLimiter({ limit: 8, window: '1m', algorithm, now: () => T0, adaptive: load });
      for (let i = 0; i < 7; i++) expect((await limiter.consume('k')).allowed).toBe(true);
      feed(load, signal.set, [0.9]);
      const first = await limiter.consume('k');
      expect([first.allowed, first.limit, first.remaining]).toEqual([oneLeft, 4, 0]);
      const d = await limiter.consume('k');
      expect([d.allowed, d.limit, d.remaining]).toEqual([false, 4, 0]);
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(Number.isFinite(d.retryAfterMs)).toBe(true);
      expect((await limiter.peek('k')).remaining).toBe(0);
    });

    it('reset() forgets a key whatever level counted it', async () => {
      const signal = injected(0);
      const { limiter, load } = adaptiveLimiter(signal.signal);
      for (let i = 0; i < 5; i++) await limiter.consume('k');
      feed(load, signal.set, [0.9]);
      expect((await limiter.consume('k')).allowed).toBe(false);
      await limiter.reset('k');
      expect((await limiter.consume('k')).remaining).toBe(4);
      feed(load, signal.set, [0, 0, 0]);
      expect((await limiter.consume('k')).remaining).toBe(8);
      await limiter.reset();
      expect((await limiter.consume('k')).remaining).toBe(9);
    });

    it.each(['token-bucket', 'gcra'] as const)('%s: burst is scaled with the limit', async (algorithm) => {
      const signal = injected(0.9);
      const load = track({ signal: signal.signal });
      const limiter = createLimiter({ limit: 10, burst: 20, window: '1m', algorithm, now: () => T0, adaptive: load });
      const ds = [];
      for (let i = 0; i < 11; i++) ds.push(await limiter.consume('k'));
      expect(ds.map((d) => d.allowed)).toEqual([...Array(10).fill(true), false]);
      expect([ds[0]?.rule.limit, ds[0]?.rule.burst, ds[0]?.rule.id]).toEqual([
        5,
        10,
        `${algorithm === 'gcra' ? 'gcra' : 'tb'}-10-60000-b20`,
      ]);
    });

    it('several limiters share one adaptiveLoad; every rule of a limiter is scaled', async () => {
      const signal = injected(0.7);
      const load = track({ signal: signal.signal });
      const a = createLimiter({ limit: 100, window: '1m', now: () => T0, adaptive: load });
      const b = createLimiter({
        rules: [
          { limit: 3, window: '1s', name: 'burst' },
          { limit: 40, window: '1h', name: 'hourly' },
        ],
        now: () => T0,
        adaptive: load,
      });
      expect((await a.consume('k')).limit).toBe(75);
      expect((await b.consume('k')).rules.map((r) => [r.rule.name, r.limit])).toEqual([
        ['burst', 2],
        ['hourly', 30],
      ]);
      expect(jest.getTimerCount()).toBe(1);
    });

    it('limiters made from one `adaptive` options object share one load (one timer)', async () => {
      const adaptive = { signal: injected(0.9).signal };
      const a = createLimiter({ limit: 10, window: '1m', now: () => T0, adaptive });
      const b = createLimiter({ limit: 20, window: '1m', now: () => T0, adaptive });
      expect([(await a.consume('k')).limit, (await b.consume('k')).limit]).toEqual([5, 10]);
      expect(jest.getTimerCount()).toBe(1);
    });

    it('an outage is reported once and its recovery announced once, whatever the level', async () => {
      const clock = manualClock(T0);
      let failing = false;
      const memory = new MemoryStore();
      const flaky: Store = {
        bind(rules, prefix): BoundStore {
          const bound = memory.bind(rules, prefix);
          const guard =
            <A extends unknown[], R>(f: (...a: A) => R) =>
            (...a: A): R => {
              if (failing) throw new Error('connection refused');
              return f(...a);
            };
          return {
            consume: guard(bound.consume.bind(bound)),
            peek: guard(bound.peek.bind(bound)),
            refund: guard(bound.refund.bind(bound)),
            reset: guard(bound.reset.bind(bound)),
          };
        },
      };
      const signal = injected(0);
      const load = track({ signal: signal.signal, hysteresis: { margin: 0, samples: 1 } });
      const errors: string[] = [];
      let recoveries = 0;
      const limiter = createLimiter({
        limit: 10,
        window: '1m',
        store: flaky,
        now: clock.now,
        retryStoreAfterMs: 1000,
        adaptive: load,
        onError: (e) => errors.push(e.message),
        onRecover: () => recoveries++,
      });
      await limiter.consume('k');
      failing = true;
      expect((await limiter.consume('k')).error).toBeDefined();
      feed(load, signal.set, [0.9]);
      expect((await limiter.consume('k')).error).toBeDefined();
      failing = false;
      clock.advance(1000);
      expect((await limiter.consume('k')).limit).toBe(5);
      feed(load, signal.set, [0]);
      expect((await limiter.consume('k')).limit).toBe(10);
      feed(load, signal.set, [0.9]);
      await limiter.consume('k');
      expect(errors).toHaveLength(1);
      expect(recoveries).toBe(1);
    });
  });

  describe('HTTP options', () => {
    interface Req {
      plan: string;
    }
    const adapter: HttpAdapter<Req> = {
      ip: () => '203.0.113.1',
      route: () => undefined,
      trustsProxy: () => false,
      header: () => undefined,
    };
    const plans: Record<string, { limit: number; window: '1m' }[]> = {
      free: [{ limit: 10, window: '1m' }],
      pro: [{ limit: 100, window: '1m' }],
    };

    it('with a rules function: a bad `adaptive` is a ConfigError at once, and every rule set follows one load', () => {
      expect(() =>
        createHttpLimiter<Req>({ rules: (req) => plans[req.plan] ?? [], adaptive: { signal: 'gpu' as never } }, adapter),
      ).toThrow(/Expected `adaptive.signal` to be/);
      const http = createHttpLimiter<Req>(
        { rules: (req) => plans[req.plan] ?? [], now: () => T0, adaptive: { signal: () => 0.7 } },
        adapter,
      );
      const limitOf = (plan: string) => {
        const outcome = http.handle({ plan }, {}) as HttpOutcome;
        return [outcome.decision.limit, outcome.headers?.['X-RateLimit-Limit']];
      };
      expect([limitOf('free'), limitOf('pro')]).toEqual([
        [7, '7'],
        [75, '75'],
      ]);
      expect(jest.getTimerCount()).toBe(1);
    });
  });

  describe('sampling', () => {
    it('starts with the first limiter, runs one unref’d timer, and stops on close() (factor back to 1)', async () => {
      jest.useRealTimers();
      const setInterval = jest.spyOn(globalThis, 'setInterval');
      try {
        const load = track({ signal: () => 0.9, intervalMs: 60_000 });
        expect(setInterval).not.toHaveBeenCalled();
        expect([load.factor, load.load]).toEqual([1, undefined]);
        const limiter = createLimiter({ limit: 10, window: '1m', adaptive: load });
        expect(setInterval).toHaveBeenCalledTimes(1);
        const timer = setInterval.mock.results[0]?.value as NodeJS.Timeout;
        expect(timer.hasRef()).toBe(false);
        expect(load.factor).toBe(0.5);
        load.close();
        expect([load.factor, load.load]).toEqual([1, undefined]);
        expect((await limiter.consume('k')).limit).toBe(10);
        // A closed load is refused by new limiters.
        expect(() => createLimiter({ limit: 10, window: '1m', adaptive: load })).toThrow(/Expected `adaptive` to be an open adaptiveLoad/);
      } finally {
        setInterval.mockRestore();
      }
    });

    it('stops the timer when close() is called (fake timers: no timer left)', () => {
      const load = track({ signal: () => 0.5 });
      createLimiter({ limit: 10, window: '1m', adaptive: load });
      expect(jest.getTimerCount()).toBe(1);
      load.close();
      expect(jest.getTimerCount()).toBe(0);
    });

    it('built-in signals with the same settings share one sampler; each gives a load in [0, 1]', () => {
      const heapA = track({ signal: 'heap' });
      const heapB = track({ signal: 'heap', steps: 'smooth' });
      createLimiter({ limit: 10, window: '1m', adaptive: heapA });
      createLimiter({ limit: 10, window: '1m', adaptive: heapB });
      expect(jest.getTimerCount()).toBe(1);
      // Memory signals are read at once; the others after their first interval.
      for (const load of [heapA, heapB]) expect(load.load).toBeGreaterThan(0);
      const others = (['event-loop-delay', 'event-loop-utilization', 'rss', 'cpu'] as const).map((signal) => {
        const load = track({ signal, intervalMs: 500 });
        createLimiter({ limit: 10, window: '1m', adaptive: load });
        return load;
      });
      expect(jest.getTimerCount()).toBe(5);
      jest.advanceTimersByTime(500);
      for (const load of [heapA, ...others]) {
        expect(load.load).toBeGreaterThanOrEqual(0);
        expect(load.load).toBeLessThanOrEqual(1);
      }
      heapA.close();
      expect(jest.getTimerCount()).toBe(5);
      heapB.close();
      expect(jest.getTimerCount()).toBe(4);
    });

    it('never keeps the process alive, and stops when the last limiter using it is collected', async () => {
      const script = `
        import { createLimiter } from './packages/core/src/index.ts';
        import { samplerFor } from './packages/core/src/adaptive/sampler.ts';
        import { resolveAdaptiveOptions } from './packages/core/src/adaptive/options.ts';
        const options = { signal: 'heap', intervalMs: 20 };
        const sampler = samplerFor(resolveAdaptiveOptions(options, ''));
        (() => { createLimiter({ limit: 10, window: '1m', adaptive: options }); })();
        const before = sampler.running;
        for (let i = 0; i < 50 && sampler.running; i++) {
          globalThis.gc();
          await new Promise((r) => setImmediate(r)); // a turn of the loop: finalizers run as tasks
        }
        // One limiter stays, sampling event-loop delay: the process must still exit on its own.
        globalThis.kept = createLimiter({ limit: 10, window: '1m', adaptive: { signal: 'event-loop-delay', intervalMs: 10 } });
        console.log(JSON.stringify({ before, after: sampler.running }));
      `;
      jest.useRealTimers();
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
          { cwd: ROOT, timeout: 20_000 },
          (error, out) => (error ? reject(error) : resolve(out)),
        ),
      );
      expect(JSON.parse(stdout.trim().split('\n').pop() as string)).toEqual({ before: true, after: false });
    });
  });

  describe('options', () => {
    const fn = () => 0;
    it.each<[unknown, string, RegExp]>([
      [5, 'adaptive', /an object such as/],
      [{}, 'adaptive.signal', /'event-loop-delay', .* or a function returning the load in \[0, 1\], got undefined/],
      [{ signal: 'gpu' }, 'adaptive.signal', /got "gpu"/],
      [{ signal: fn, min: 0 }, 'adaptive.min', /greater than 0 and at most 1, got 0/],
      [{ signal: fn, min: 1.5 }, 'adaptive.min', /got 1.5/],
      [{ signal: fn, steps: [] }, 'adaptive.steps', /non-empty array/],
      [{ signal: fn, steps: 'linear' }, 'adaptive.steps', /got "linear"/],
      [{ signal: fn, steps: [[0.6]] }, 'adaptive.steps[0]', /\[load, factor\] pair/],
      [{ signal: fn, steps: [[1, 0.5]] }, 'adaptive.steps[0][0]', /got 1$/],
      [{ signal: fn, steps: [[0.6, 1]] }, 'adaptive.steps[0][1]', /between 0 and 1/],
      [
        {
          signal: fn,
          steps: [
            [0.8, 0.5],
            [0.6, 0.25],
          ],
        },
        'adaptive.steps[1][0]',
        /above the previous step's 0.8, got 0.6/,
      ],
      [
        {
          signal: fn,
          steps: [
            [0.6, 0.5],
            [0.8, 0.75],
          ],
        },
        'adaptive.steps[1][1]',
        /below the previous step's 0.5, got 0.75/,
      ],
      [{ signal: fn, intervalMs: 0 }, 'adaptive.intervalMs', /from 1 to 2147483647, got 0/],
      [{ signal: fn, intervalMs: 2 ** 31 }, 'adaptive.intervalMs', /got 2147483648/],
      [{ signal: fn, hysteresis: 3 }, 'adaptive.hysteresis', /margin/],
      [{ signal: fn, hysteresis: { margin: 1 } }, 'adaptive.hysteresis.margin', /got 1/],
      [{ signal: fn, hysteresis: { samples: 0 } }, 'adaptive.hysteresis.samples', /positive integer, got 0/],
      [{ signal: fn, hysteresis: { sample: 2 } }, 'adaptive.hysteresis.sample', /did you mean `samples`/],
      [{ signal: 'heap', maxDelayMs: 50 }, 'adaptive.maxDelayMs', /unless `signal` is 'event-loop-delay'/],
      [{ signal: 'event-loop-delay', maxDelayMs: -1 }, 'adaptive.maxDelayMs', /got -1/],
      [{ signal: 'cpu', maxRss: 1e9 }, 'adaptive.maxRss', /unless `signal` is 'rss'/],
      [{ signal: 'rss', maxRss: 0.5 }, 'adaptive.maxRss', /got 0.5/],
      [{ signal: fn, interval: 10 }, 'adaptive.interval', /did you mean `intervalMs`/],
    ])('%p is a ConfigError naming %s', (adaptive, option, message) => {
      let error: unknown;
      try {
        createLimiter({ limit: 10, window: '1m', adaptive: adaptive as AdaptiveOptions });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).option).toBe(option);
      expect((error as ConfigError).message).toMatch(message);
    });

    it('adaptiveLoad() names its own options', () => {
      expect(() => adaptiveLoad({ signal: fn, min: 0 })).toThrow('Expected `min` to be a number greater than 0 and at most 1, got 0');
      expect(() => adaptiveLoad(null as unknown as AdaptiveOptions)).toThrow(/Expected `options` to be an object/);
    });

    it('a built-in signal where the runtime lacks it is a ConfigError; a function works everywhere', () => {
      const proc = process as { getBuiltinModule?: unknown };
      const saved = proc.getBuiltinModule;
      proc.getBuiltinModule = undefined;
      try {
        for (const signal of ['event-loop-delay', 'event-loop-utilization', 'heap', 'rss', 'cpu'] as const) {
          let error: unknown;
          try {
            adaptiveLoad({ signal });
          } catch (e) {
            error = e;
          }
          expect(isConfigError(error)).toBe(true);
          expect((error as ConfigError).option).toBe('signal');
          expect((error as ConfigError).message).toMatch(/a function returning the load in \[0, 1\] on this runtime/);
        }
        expect(adaptiveLoad({ signal: fn }).factor).toBe(1);
      } finally {
        proc.getBuiltinModule = saved;
      }
    });
  });
});
