import { type ConcurrencySlots, isConfigError, MemoryStore, type SlotResult, type Store, type StoreError } from '@ratekeeper/core';
import { createHttpLimiter, type HttpAdapter, type HttpOutcome, type LooseRateLimitOptions } from '@ratekeeper/core/http';

interface FakeReq {
  ip: string;
  internal?: boolean;
}

const adapter: HttpAdapter<FakeReq> = {
  ip: (r) => r.ip,
  route: () => undefined,
  trustsProxy: () => false,
  header: () => undefined,
};

const T0 = 1_699_999_200_000;

/** One request through the pipeline, answered synchronously (memory store) or not. */
async function run(limiter: { handle(req: FakeReq, carrier: object): unknown }, ip = '192.0.2.1', extra: Partial<FakeReq> = {}) {
  return (await limiter.handle({ ip, ...extra }, {})) as HttpOutcome | undefined;
}

function configError(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected a ConfigError');
}

/** Slots from a function: each call answers what `answer` says (a throw, a promise, a result). */
function slotStore(acquire: ConcurrencySlots['acquire'], release: ConcurrencySlots['release'] = () => {}): Store & { binds: unknown[][] } {
  const binds: unknown[][] = [];
  return {
    binds,
    bind: () =>
      new MemoryStore().bind([{ id: 'x', name: 'x', limit: 1, windowMs: 1000, algorithm: 'fixed-window', burst: 1, blockForMs: 0 }], ''),
    bindConcurrency(prefix: string, max: number, leaseMs: number) {
      binds.push([prefix, max, leaseMs]);
      return { acquire, release, extend: () => true };
    },
  };
}

describe('the concurrency option', () => {
  const make = (o: LooseRateLimitOptions<FakeReq>) => createHttpLimiter(o, adapter);

  it.each<[LooseRateLimitOptions<FakeReq>, RegExp]>([
    [{ concurrency: 5 as never }, /`concurrency` to be an object.*got 5/],
    [{ concurrency: { max: 0 } }, /`concurrency\.max` to be a positive integer, got 0/],
    [{ concurrency: { max: 1.5 } }, /`concurrency\.max`.*got 1\.5/],
    [{ concurrency: { max: '2' as never } }, /`concurrency\.max`.*got "2"/],
    [{ concurrency: {} as never }, /`concurrency\.max`.*got undefined/],
    [{ concurrency: { max: 2, leaseMs: 'soon' as never } }, /`concurrency\.leaseMs`.*"soon"/],
    [{ concurrency: { max: 2, leaseMs: 0 } }, /`concurrency\.leaseMs`.*got 0/],
    [{ concurrency: { max: 2, statusCode: 200 } }, /`concurrency\.statusCode`.*got 200/],
    [{ concurrency: { max: 2, statusCode: 600 } }, /`concurrency\.statusCode`.*got 600/],
    [{ concurrency: { max: 2, lease: '1m' } as never }, /Unknown option `concurrency\.lease`: did you mean `leaseMs`/],
    // Alone, the store options are still validated.
    [{ concurrency: { max: 2 }, prefix: 7 as never }, /`prefix`.*7/],
    [{ concurrency: { max: 2 }, timeoutMs: -1 }, /`timeoutMs`.*-1/],
    [{ concurrency: { max: 2 }, store: { bind: () => ({}) } as never }, /`store` to be a store with concurrency slots/],
    [{ concurrency: { max: 2 }, onStoreError: { bind: () => ({}) } as never }, /`onStoreError` to be a store with concurrency slots/],
    // Rules are all-or-nothing as before: a lone `limit` is not "concurrency alone".
    [{ concurrency: { max: 2 }, limit: 5 }, /`(rules\[0\]\.)?window`|`rules`/],
    [{}, /`rules`/],
  ])('rejects %p at construction', (options, message) => {
    expect(configError(() => make(options)).message).toMatch(message);
  });

  it('alone: no rate limiter, decided in the same tick on the memory store; the decision counts free slots', () => {
    const limiter = make({ concurrency: { max: 2 }, now: () => T0 });
    expect(limiter.limiter).toBeUndefined();
    const a = limiter.handle({ ip: '192.0.2.1' }, {});
    expect(a).not.toBeInstanceOf(Promise);
    const out = a as HttpOutcome;
    expect(out.blocked).toBe(false);
    expect(out.headers).toBeUndefined();
    expect(out.finish).toBeInstanceOf(Function);
    expect([out.decision.allowed, out.decision.rule.name, out.decision.limit, out.decision.remaining, out.decision.key]).toEqual([
      true,
      'concurrency',
      2,
      1,
      '192.0.2.1',
    ]);
  });

  it('refuses over max with Retry-After 1 and the message; finish frees the slot exactly once', async () => {
    const limited: unknown[] = [];
    const limiter = make({ concurrency: { max: 2 }, now: () => T0, onLimited: (_r, d) => limited.push([d.allowed, d.rule.name]) });
    const a = await run(limiter);
    const b = await run(limiter);
    const refused = await run(limiter);
    expect(refused).toMatchObject({
      blocked: true,
      statusCode: 429,
      headers: { 'Retry-After': '1' },
      finish: undefined,
      body: { body: 'Too many requests, please try again later.' },
    });
    // Retry in a second; certainly free when the earliest lease (1 min) expires.
    expect([refused?.decision.retryAfterMs, refused?.decision.resetMs]).toEqual([1000, 60_000]);
    expect(limited).toEqual([[false, 'concurrency']]);
    // Several closes of one response (close after finish, an adapter calling twice) free one slot.
    a?.finish?.(200);
    a?.finish?.(200);
    expect((await run(limiter))?.blocked).toBe(false);
    expect((await run(limiter))?.blocked).toBe(true);
    b?.finish?.(500);
    expect((await run(limiter))?.blocked).toBe(false);
  });

  it("statusCode: concurrency's own, else the limiter's; headers: false sends no Retry-After", async () => {
    const own = make({ concurrency: { max: 1, statusCode: 503 }, statusCode: 429 });
    await run(own);
    expect((await run(own))?.statusCode).toBe(503);
    const inherited = make({ concurrency: { max: 1 }, statusCode: 503, headers: false });
    await run(inherited);
    const refused = await run(inherited);
    expect([refused?.statusCode, refused?.headers]).toEqual([503, undefined]);
  });

  it('with rate rules: a refusal refunds the rate charge, keeps the rate headers and exposes the concurrency decision', async () => {
    const limiter = make({ limit: 5, window: '1m', now: () => T0, concurrency: { max: 1 } });
    expect(limiter.limiter?.rules[0]?.limit).toBe(5);
    const a = await run(limiter);
    expect(a?.decision.remaining).toBe(4);
    const refused = await run(limiter);
    expect(refused?.blocked).toBe(true);
    expect(refused?.decision.rule.name).toBe('concurrency');
    expect(refused?.headers?.['X-RateLimit-Remaining']).toBe('3');
    expect(refused?.headers?.['Retry-After']).toBe('1');
    a?.finish?.(200);
    // Two counted (a and this one); the refused request's unit came back.
    expect((await run(limiter))?.decision.remaining).toBe(3);
    expect(await limiter.limiter?.peek('192.0.2.1')).toMatchObject({ remaining: 3 });
  });

  it('with rate rules: a 5xx both frees the slot and refunds; a refused request never reaches the slots', async () => {
    const acquired: string[] = [];
    const memory = new MemoryStore();
    const store: Store = {
      bind: (rules, prefix) => memory.bind(rules, prefix),
      bindConcurrency: (prefix, max, leaseMs) => {
        const slots = memory.bindConcurrency(prefix, max, leaseMs);
        return {
          ...slots,
          acquire: (key, holder, now) => {
            acquired.push(key);
            return slots.acquire(key, holder, now);
          },
          release: slots.release.bind(slots),
          extend: slots.extend.bind(slots),
        };
      },
    };
    const limiter = make({ limit: 1, window: '1m', now: () => T0, concurrency: { max: 1 }, store });
    const a = await run(limiter);
    a?.finish?.(503);
    const b = await run(limiter);
    expect(b?.blocked).toBe(false);
    b?.finish?.(200);
    const denied = await run(limiter);
    expect([denied?.blocked, denied?.decision.rule.name]).toEqual([true, '1-in-1min']);
    expect(acquired).toEqual(['192.0.2.1', '192.0.2.1']);
  });

  it('dryRun: over the cap is reported but passes, holding no slot', async () => {
    const limited: string[] = [];
    const limiter = make({ concurrency: { max: 1 }, dryRun: true, onLimited: (_r, d) => limited.push(d.rule.name) });
    const a = await run(limiter);
    const over = await run(limiter);
    expect([over?.blocked, over?.decision.allowed, over?.finish]).toEqual([false, false, undefined]);
    expect(limited).toEqual(['concurrency']);
    a?.finish?.(200);
    expect((await run(limiter))?.decision.allowed).toBe(true);
  });

  it('skip and allowList take no slot', async () => {
    const limiter = make({ concurrency: { max: 1 }, key: () => 'all', skip: (r) => r.internal === true, allowList: ['198.51.100.7'] });
    expect(await run(limiter, '192.0.2.1', { internal: true })).toBeUndefined();
    expect(await run(limiter, '198.51.100.7')).toBeUndefined();
    expect((await run(limiter, '192.0.2.9'))?.blocked).toBe(false);
  });

  it('a slot that is never released comes back after leaseMs', async () => {
    let t = T0;
    const limiter = make({ concurrency: { max: 1, leaseMs: '30s' }, now: () => t });
    await run(limiter);
    const refused = await run(limiter);
    expect(refused?.decision.resetMs).toBe(30_000);
    t += 30_000;
    expect((await run(limiter))?.blocked).toBe(false);
  });

  it('binds the slots on the limiter store under `<prefix>concurrency` with max and leaseMs', () => {
    const store = slotStore(() => [1, 1, -1]);
    make({ limit: 5, window: '1m', concurrency: { max: 3 }, store, prefix: 'api:' });
    make({ concurrency: { max: 2, leaseMs: '5m' }, store });
    expect(store.binds).toEqual([
      ['api:concurrency', 3, 60_000],
      ['rk:concurrency', 2, 300_000],
    ]);
  });
});

describe('the concurrency option when the store fails', () => {
  const failing = () =>
    slotStore(() => {
      throw new Error('connection refused');
    });

  it("'allow' (the default) lets requests through without a slot and reports every failure to onError", async () => {
    const errors: StoreError[] = [];
    const limiter = createHttpLimiter<FakeReq>({ concurrency: { max: 1 }, store: failing(), onError: (e) => errors.push(e) }, adapter);
    for (let i = 0; i < 3; i++) {
      const out = await run(limiter);
      expect([out?.blocked, out?.finish, out?.decision.error?.message]).toEqual([
        false,
        undefined,
        expect.stringMatching(/connection refused/),
      ]);
    }
    expect(errors).toHaveLength(3);
  });

  it("'deny' refuses with Retry-After 1", async () => {
    const limiter = createHttpLimiter<FakeReq>(
      { concurrency: { max: 1 }, store: failing(), onStoreError: 'deny', onError: () => {} },
      adapter,
    );
    const out = await run(limiter);
    expect([out?.blocked, out?.statusCode, out?.headers?.['Retry-After']]).toEqual([true, 429, '1']);
  });

  it('an insurance store holds the slots meanwhile', async () => {
    const limiter = createHttpLimiter<FakeReq>(
      { concurrency: { max: 1 }, store: failing(), onStoreError: new MemoryStore(), onError: () => {} },
      adapter,
    );
    const a = await run(limiter);
    expect((await run(limiter))?.blocked).toBe(true);
    a?.finish?.(200);
    expect((await run(limiter))?.blocked).toBe(false);
  });

  it('warns once per outage through `logger` without onError, and calls onRecover when the store answers again', async () => {
    let broken = true;
    const warnings: string[] = [];
    let recovered = 0;
    const store = slotStore((): SlotResult => {
      if (broken) throw new Error('connection refused');
      return [1, 1, -1];
    });
    const limiter = createHttpLimiter<FakeReq>(
      { concurrency: { max: 1 }, store, logger: { warn: (m) => warnings.push(m) }, onRecover: () => recovered++ },
      adapter,
    );
    for (let i = 0; i < 3; i++) await run(limiter, `192.0.2.${i}`);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/connection refused.*onStoreError.*concurrency/);
    broken = false;
    await run(limiter, '192.0.2.10');
    await run(limiter, '192.0.2.11');
    expect(recovered).toBe(1);
  });

  describe('a slow store', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('answers by policy after timeoutMs, and frees a slot granted by a reply that came too late', async () => {
      const replies: Array<(r: SlotResult) => void> = [];
      const released: string[] = [];
      const store = slotStore(
        () =>
          new Promise<SlotResult>((resolve) => {
            replies.push(resolve);
          }),
        (_key, holder) => {
          released.push(holder);
        },
      );
      const limiter = createHttpLimiter<FakeReq>({ concurrency: { max: 1 }, store, timeoutMs: 50, onError: () => {} }, adapter);
      const pending = limiter.handle({ ip: '192.0.2.1' }, {}) as Promise<HttpOutcome>;
      expect(pending).toBeInstanceOf(Promise);
      await jest.advanceTimersByTimeAsync(50);
      const out = await pending;
      expect([out.blocked, out.decision.error?.timedOut]).toEqual([false, true]);
      // The holder is released at the timeout, before the late reply: the script may have run.
      expect(released).toHaveLength(1);
      replies[0]?.([1, 1, -1]);
    });
  });
});
