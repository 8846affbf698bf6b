import { ConfigError, createConcurrencyLimiter, throttle } from '../../src/index';

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** A call whose end the test decides. */
function controllable() {
  const running: string[] = [];
  const ends = new Map<string, () => void>();
  const started: string[] = [];
  const fn = (name: string) =>
    new Promise<string>((resolve) => {
      running.push(name);
      started.push(name);
      ends.set(name, () => {
        running.splice(running.indexOf(name), 1);
        resolve(name);
      });
    });
  return { fn, running, started, end: (name: string) => ends.get(name)?.() };
}

describe('throttle(fn, { concurrency })', () => {
  it('runs at most `concurrency` calls at once, first in first out, besides the rate', async () => {
    const { fn, running, started, end } = controllable();
    const call = throttle(fn, { limit: 100, window: '1m', concurrency: 2 });
    const results = ['a', 'b', 'c', 'd'].map((n) => call(n));
    await flush();
    expect(started).toEqual(['a', 'b']);
    end('b');
    await flush();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(running).toEqual(['a', 'c']);
    end('a');
    end('c');
    await flush();
    end('d');
    expect(await Promise.all(results)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a failing call frees its slot too', async () => {
    const call = throttle(
      async (fail: boolean) => {
        if (fail) throw new Error('boom');
        return 'ok';
      },
      { limit: 100, window: '1m', concurrency: 1 },
    );
    await expect(call(true)).rejects.toThrow('boom');
    await expect(call(false)).resolves.toBe('ok');
  });

  it('takes a shared concurrency limiter, and rejects a bad value with a ConfigError', async () => {
    const shared = createConcurrencyLimiter({ max: 1 });
    const { fn, started, end } = controllable();
    const one = throttle(fn, { limit: 100, window: '1m', concurrency: shared });
    const two = throttle(fn, { limit: 100, window: '1m', concurrency: shared });
    const p = [one('a'), two('b')];
    await flush();
    expect(started).toEqual(['a']); // one slot across both wrappers (same default key)
    end('a');
    await flush();
    end('b');
    await Promise.all(p);
    expect(() => throttle(fn, { limit: 1, window: '1s', concurrency: 0 })).toThrow(ConfigError);
    expect(() => throttle(fn, { limit: 1, window: '1s', concurrency: 'x' as never })).toThrow(/concurrency/);
  });
});
