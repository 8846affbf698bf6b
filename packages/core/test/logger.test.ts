import { ConfigError, createLimiter, type Store } from '../src/index';
import { manualClock } from '../src/testing';

/** A store whose every consume fails. */
const broken: Store = {
  bind: () => ({
    consume: () => {
      throw new Error('connection refused');
    },
    peek: () => {
      throw new Error('connection refused');
    },
    refund: () => {},
    reset: () => {},
  }),
};

describe('limiter `logger`', () => {
  it('receives the warning once per outage (instead of a process warning)', async () => {
    const clock = manualClock(1_000_000);
    const warnings: string[] = [];
    const processWarning = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const limiter = createLimiter({
        limit: 5,
        window: '1m',
        store: broken,
        now: clock.now,
        retryStoreAfterMs: 1000,
        logger: { warn: (m) => warnings.push(m) },
      });
      await limiter.consume('k');
      await limiter.consume('k');
      clock.advance(1000); // a probe fails again: the same outage, no second warning
      await limiter.consume('k');
      expect(warnings).toEqual([
        expect.stringMatching(/^ratekeeper: Store consume failed: connection refused; applying onStoreError policy/),
      ]);
      expect(processWarning).not.toHaveBeenCalled();
    } finally {
      processWarning.mockRestore();
    }
  });

  it('a throwing logger does not turn the policy answer into a failure', async () => {
    const limiter = createLimiter({
      limit: 5,
      window: '1m',
      store: broken,
      logger: {
        warn: () => {
          throw new Error('logger broke');
        },
      },
    });
    const d = await limiter.consume('k');
    expect([d.allowed, d.error?.code]).toEqual([true, 'ERR_RK_STORE']);
  });

  it('onError, when given, is called instead', async () => {
    const warnings: string[] = [];
    const errors: unknown[] = [];
    const limiter = createLimiter({
      limit: 5,
      window: '1m',
      store: broken,
      onError: (e) => errors.push(e),
      logger: { warn: (m) => warnings.push(m) },
    });
    await limiter.consume('k');
    expect([errors.length, warnings.length]).toEqual([1, 0]);
  });

  it('a logger without warn() is a ConfigError naming `logger`', () => {
    expect(() => createLimiter({ limit: 5, window: '1m', logger: {} as never })).toThrow(ConfigError);
    expect(() => createLimiter({ limit: 5, window: '1m', logger: console.log as never })).toThrow(/logger/);
  });
});
