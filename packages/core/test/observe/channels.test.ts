import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  CHANNELS,
  createLimiter,
  type DecisionEvent,
  MemoryStore,
  type RecoverEvent,
  type Store,
  type StoreErrorEvent,
} from '../../src/index';
import { manualClock } from '../../src/testing';
import { slowStore } from './slow-store';

/** Collects what is published on `name` while `fn` runs. */
async function collect<T>(name: string, fn: () => unknown): Promise<T[]> {
  const seen: T[] = [];
  const listener = (message: unknown) => seen.push(message as T);
  subscribe(name, listener);
  try {
    await fn();
  } finally {
    unsubscribe(name, listener);
  }
  return seen;
}

/** A MemoryStore that throws while `down.value` is true (a store without connection events). */
function switchableStore(): { store: Store; down: { value: boolean } } {
  const down = { value: false };
  const inner = new MemoryStore();
  const store: Store = {
    bind(rules, prefix) {
      const bound = inner.bind(rules, prefix);
      const check = () => {
        if (down.value) throw new Error('store is down');
      };
      return {
        consume: (key, cost, now) => {
          check();
          return bound.consume(key, cost, now);
        },
        peek: (key, now) => {
          check();
          return bound.peek(key, now);
        },
        refund: (key, cost, now, at) => bound.refund(key, cost, now, at),
        reset: (key) => bound.reset(key),
      };
    },
  };
  return { store, down };
}

const pick = (e: DecisionEvent) => [e.outcome, e.source, e.allowed, e.remaining, e.retryAfterMs];

describe('diagnostics channels', () => {
  it('publishes every decision with the limiter name, rules, binding rule, cost and outcome', async () => {
    const clock = manualClock(1_000_000);
    const limiter = createLimiter({
      name: 'login',
      now: clock.now,
      rules: [
        { name: 'burst', limit: 2, window: '1s', algorithm: 'fixed-window' },
        { name: 'hourly', limit: 100, window: '1h', algorithm: 'fixed-window' },
      ],
    });
    expect(limiter.name).toBe('login');
    const events = await collect<DecisionEvent>(CHANNELS.decision, async () => {
      await limiter.consume('alice');
      await limiter.consume('alice');
      await limiter.consume('alice');
      await limiter.peek('alice');
      limiter.consumeSync('bob', { cost: 2 });
    });
    expect(events.map(pick)).toEqual([
      ['allowed', 'store', true, 1, 0],
      ['allowed', 'store', true, 0, 0],
      ['limited', 'store', false, 0, 1000],
      ['limited', 'store', false, 0, 1000],
      ['allowed', 'store', true, 0, 0],
    ]);
    expect(events.map((e) => [e.limiter, e.operation, e.key, e.cost, e.rule])).toEqual([
      ['login', 'consume', 'alice', 1, 'burst'],
      ['login', 'consume', 'alice', 1, 'burst'],
      ['login', 'consume', 'alice', 1, 'burst'],
      ['login', 'peek', 'alice', 1, 'burst'],
      ['login', 'consume', 'bob', 2, 'burst'],
    ]);
    for (const e of events) {
      expect(e.rules).toEqual(['burst', 'hourly']);
      // The memory store decides in the process: no I/O, not timed.
      expect(e.async).toBe(false);
      expect(e.durationMs).toBe(0);
      expect(e.decision.allowed).toBe(e.allowed);
    }
  });

  it('times a decision an asynchronous store answered, from the call to its answer', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      // A network store's shape: the answer comes 7 ms after the call.
      const slow = slowStore(7);
      const limiter = createLimiter({ name: 'remote', limit: 5, window: '1m', store: slow });
      const events = await collect<DecisionEvent>(CHANNELS.decision, async () => {
        const pending = limiter.consume('k');
        await jest.advanceTimersByTimeAsync(7);
        await pending;
      });
      expect(events.map((e) => [e.async, e.durationMs, e.outcome])).toEqual([[true, 7, 'allowed']]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a limiter without a name publishes an empty name; the one-rule shorthand names rule and limiter alike', async () => {
    const events = await collect<DecisionEvent>(CHANNELS.decision, async () => {
      await createLimiter({ limit: 1, window: '1m' }).consume('k');
      await createLimiter({ limit: 1, window: '1m', name: 'api' }).consume('k');
    });
    expect(events.map((e) => [e.limiter, e.rule])).toEqual([
      ['', expect.any(String)],
      ['api', 'api'],
    ]);
  });

  it.each([
    ['allow', 'failed_open', true],
    ['deny', 'failed_closed', false],
  ] as const)(
    "while the store fails, policy '%s' decides: outcome %s, a store-error event, then recovery",
    async (policy, outcome, allowed) => {
      const clock = manualClock(1_000_000);
      const { store, down } = switchableStore();
      const limiter = createLimiter({
        name: 'api',
        limit: 5,
        window: '1m',
        store,
        now: clock.now,
        onStoreError: policy,
        retryStoreAfterMs: 0,
        onError: () => {},
      });
      const errors: StoreErrorEvent[] = [];
      const onError = (m: unknown) => errors.push(m as StoreErrorEvent);
      const recoveries: RecoverEvent[] = [];
      const onRecover = (m: unknown) => recoveries.push(m as RecoverEvent);
      subscribe(CHANNELS.storeError, onError);
      subscribe(CHANNELS.recover, onRecover);
      try {
        const events = await collect<DecisionEvent>(CHANNELS.decision, async () => {
          await limiter.consume('k');
          down.value = true;
          await limiter.consume('k');
          await limiter.consume('k');
          down.value = false;
          await limiter.consume('k');
        });
        expect(events.map((e) => [e.outcome, e.source, e.allowed])).toEqual([
          ['allowed', 'store', true],
          [outcome, 'policy', allowed],
          [outcome, 'policy', allowed],
          ['allowed', 'store', true],
        ]);
        expect(errors.length).toBeGreaterThanOrEqual(1);
        expect(errors.map((e) => [e.limiter, e.operation, e.policy])[0]).toEqual(['api', 'consume', policy]);
        expect(errors[0]?.error.message).toContain('store is down');
        expect(recoveries).toHaveLength(1);
        expect(recoveries[0]?.limiter).toBe('api');
        expect(recoveries[0]?.outageMs).toBeGreaterThanOrEqual(0);
      } finally {
        unsubscribe(CHANNELS.storeError, onError);
        unsubscribe(CHANNELS.recover, onRecover);
      }
    },
  );

  it("with an insurance store, decisions while the store fails are 'fallback' (allowed or not)", async () => {
    const clock = manualClock(1_000_000);
    const { store, down } = switchableStore();
    const limiter = createLimiter({
      limit: 1,
      window: '1m',
      store,
      now: clock.now,
      onStoreError: new MemoryStore(),
      onError: () => {},
    });
    const errors = await collect<StoreErrorEvent>(CHANNELS.storeError, async () => {
      const events = await collect<DecisionEvent>(CHANNELS.decision, async () => {
        down.value = true;
        await limiter.consume('k');
        await limiter.consume('k');
      });
      expect(events.map((e) => [e.outcome, e.source, e.allowed])).toEqual([
        ['fallback', 'fallback', true],
        ['fallback', 'fallback', false],
      ]);
    });
    expect(errors[0]?.policy).toBe('fallback');
  });

  it('nothing is published once the last subscriber left', async () => {
    const limiter = createLimiter({ limit: 5, window: '1m' });
    const seen: unknown[] = [];
    const listener = (m: unknown) => seen.push(m);
    subscribe(CHANNELS.decision, listener);
    await limiter.consume('k');
    unsubscribe(CHANNELS.decision, listener);
    await limiter.consume('k');
    expect(seen).toHaveLength(1);
  });

  it('where the runtime has no diagnostics_channel (no process.getBuiltinModule), every channel is silent', () => {
    const proc = process as { getBuiltinModule?: unknown };
    const saved = proc.getBuiltinModule;
    try {
      proc.getBuiltinModule = undefined;
      jest.isolateModules(() => {
        const channels = require('../../src/observe/channels') as typeof import('../../src/observe/channels');
        expect(channels.decisionChannel.hasSubscribers).toBe(false);
        expect(() => channels.decisionChannel.publish({} as DecisionEvent)).not.toThrow();
      });
    } finally {
      proc.getBuiltinModule = saved;
    }
  });

  it('a name that is not a string is a ConfigError naming it', () => {
    expect(() => createLimiter({ limit: 1, window: '1m', name: 5 as unknown as string })).toThrow(/name/);
    expect(() => createLimiter({ rules: [{ limit: 1, window: '1m' }], name: {} as unknown as string })).toThrow(/"name"|name/);
  });
});
