import { hasSubscribers } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiagLogLevel, diag, metrics } from '@opentelemetry/api';
import { CHANNELS, createLimiter, MemoryStore } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { type Instrumentation, instrument, METRICS } from '@ratekeeper/otel';
import { VERSION } from '../src/metrics';
import { type Point, switchableStore, table, testMeter, total } from './helpers';

let meter: ReturnType<typeof testMeter>;
let otel: Instrumentation | undefined;

beforeEach(() => {
  meter = testMeter();
  otel = instrument({ meterProvider: meter.provider, spans: false });
});
afterEach(async () => {
  otel?.uninstrument();
  await meter.shutdown();
});

/** Every attribute value of every data point: none may be a key. */
function attributeValues(all: Map<string, Point[]>): unknown[] {
  return [...all.values()].flatMap((points) => points.flatMap((p) => Object.values(p.attributes)));
}

describe('metrics', () => {
  it('counts allowed and limited decisions by outcome, binding rule and limiter; the memory store adds nothing to the duration histogram', async () => {
    const clock = manualClock(1_000_000);
    const login = createLimiter({
      name: 'login',
      now: clock.now,
      rules: [
        { name: 'burst', limit: 2, window: '1s', algorithm: 'fixed-window' },
        { name: 'hourly', limit: 3, window: '1h', algorithm: 'fixed-window' },
      ],
    });
    const anonymous = createLimiter({ limit: 1, window: '1m', now: clock.now });
    await login.consume('alice'); // allowed (burst binds: 1 left)
    await login.consume('alice'); // allowed
    await login.consume('alice'); // limited by burst
    clock.advance(1000);
    await login.consume('alice'); // allowed: hourly has 0 left now
    await login.consume('alice'); // limited by hourly (its wait is the longest)
    login.consumeSync('bob', { cost: 2 }); // allowed
    await login.peek('alice'); // a decision too (limited by hourly), though it consumes nothing
    await anonymous.consume('carol');
    await anonymous.consume('carol');

    const all = await meter.read();
    const anon = anonymous.rules[0]?.name ?? '?';
    expect(table(all.get(METRICS.decisions))).toEqual([
      [`limiter=,outcome=allowed,rule=${anon}`, 1],
      [`limiter=,outcome=limited,rule=${anon}`, 1],
      ['limiter=login,outcome=allowed,rule=burst', 3],
      ['limiter=login,outcome=allowed,rule=hourly', 1],
      ['limiter=login,outcome=limited,rule=burst', 1],
      ['limiter=login,outcome=limited,rule=hourly', 2],
    ]);
    // Every decision here was made in the process (memory store): no I/O to time, nothing recorded.
    expect(all.get(METRICS.storeDuration) ?? []).toEqual([]);
    expect(all.get(METRICS.storeErrors)).toBeUndefined();
    for (const key of ['alice', 'bob', 'carol']) expect(attributeValues(all)).not.toContain(key);
  });

  it.each([
    ['allow', 'failed_open'],
    ['deny', 'failed_closed'],
  ] as const)("a store outage with onStoreError '%s': %s decisions, one store error, one recovery", async (policy, outcome) => {
    const clock = manualClock(1_000_000);
    const { store, down } = switchableStore();
    const limiter = createLimiter({
      name: 'api',
      limit: 5,
      window: '1m',
      store,
      now: clock.now,
      onStoreError: policy,
      retryStoreAfterMs: 1000,
      onError: () => {},
    });
    await limiter.consume('user-1'); // allowed by the store
    down.value = true;
    await limiter.consume('user-1'); // the store throws: an error, then the policy answers
    await limiter.consume('user-1'); // the circuit is open: the policy answers, the store is not asked
    await limiter.consume('user-1');
    down.value = false;
    await limiter.consume('user-1'); // still within retryStoreAfterMs: the policy answers
    clock.advance(1000);
    await limiter.consume('user-1'); // the probe: the store answers again (recovery)
    await limiter.consume('user-1');

    const all = await meter.read();
    expect(table(all.get(METRICS.decisions))).toEqual([
      ['limiter=api,outcome=allowed,rule=api', 3],
      [`limiter=api,outcome=${outcome},rule=api`, 4],
    ]);
    expect(table(all.get(METRICS.storeErrors))).toEqual([[`limiter=api,operation=consume,policy=${policy}`, 1]]);
    expect(table(all.get(METRICS.storeRecoveries))).toEqual([['limiter=api', 1]]);
    // Timed: the decisions the store was asked for (3 answered, 1 failed, then the policy answered);
    // not the three the open circuit answered in the process.
    expect(table(all.get(METRICS.storeDuration))).toEqual([
      ['limiter=api,outcome=allowed', 3],
      [`limiter=api,outcome=${outcome}`, 1],
    ]);
    for (const p of all.get(METRICS.storeDuration) ?? []) expect(p.sum).toBeLessThan(0.5 * p.value); // seconds
    expect(attributeValues(all)).not.toContain('user-1');
  });

  it("a store outage with an insurance MemoryStore: 'fallback' decisions (allowed or not), errors with policy 'fallback', a recovery", async () => {
    const clock = manualClock(1_000_000);
    const { store, down } = switchableStore();
    const limiter = createLimiter({
      name: 'api',
      limit: 2,
      window: '1m',
      store,
      now: clock.now,
      onStoreError: new MemoryStore(),
      retryStoreAfterMs: 1000,
      onError: () => {},
    });
    down.value = true;
    await limiter.consume('user-2'); // fallback, allowed
    await limiter.consume('user-2'); // fallback, allowed
    await limiter.consume('user-2'); // fallback, limited by the insurance store
    down.value = false;
    clock.advance(1000);
    await limiter.consume('user-2'); // the store again (it never saw the outage's requests)

    const all = await meter.read();
    expect(table(all.get(METRICS.decisions))).toEqual([
      ['limiter=api,outcome=allowed,rule=api', 1],
      ['limiter=api,outcome=fallback,rule=api', 3],
    ]);
    expect(table(all.get(METRICS.storeErrors))).toEqual([['limiter=api,operation=consume,policy=fallback', 1]]);
    expect(table(all.get(METRICS.storeRecoveries))).toEqual([['limiter=api', 1]]);
    // Timed: the failed call the insurance store then answered, and the store's own answer at the end.
    expect(table(all.get(METRICS.storeDuration))).toEqual([
      ['limiter=api,outcome=allowed', 1],
      ['limiter=api,outcome=fallback', 1],
    ]);
    expect(attributeValues(all)).not.toContain('user-2');
  });

  it('uninstrument() stops recording; instrument() again replaces the previous one (nothing counted twice)', async () => {
    const limiter = createLimiter({ name: 'x', limit: 100, window: '1m' });
    await limiter.consume('k');
    otel?.uninstrument();
    otel?.uninstrument(); // idempotent
    await limiter.consume('k');
    expect(total((await meter.read()).get(METRICS.decisions))).toBe(1);

    const first = instrument({ meterProvider: meter.provider });
    const second = instrument({ meterProvider: meter.provider });
    await limiter.consume('k');
    expect(total((await meter.read()).get(METRICS.decisions))).toBe(2);
    first.uninstrument(); // already replaced: leaves the second one recording
    await limiter.consume('k');
    expect(total((await meter.read()).get(METRICS.decisions))).toBe(3);

    // The replacement takes the new options: here another provider.
    const other = testMeter();
    otel = instrument({ meterProvider: other.provider });
    await limiter.consume('k');
    expect(total((await meter.read()).get(METRICS.decisions))).toBe(3);
    expect(total((await other.read()).get(METRICS.decisions))).toBe(1);
    second.uninstrument(); // a no-op too
    await limiter.consume('k');
    expect(total((await other.read()).get(METRICS.decisions))).toBe(2);
    otel.uninstrument();
    await other.shutdown();
  });

  it('counts without the decision channel: the limiters tally themselves (no event per decision); only failures are subscribed to', async () => {
    otel?.uninstrument();
    otel = instrument({ meterProvider: meter.provider }); // spans on
    try {
      expect(hasSubscribers(CHANNELS.decision)).toBe(false);
      expect(hasSubscribers(CHANNELS.storeError)).toBe(true);
      const limiter = createLimiter({ name: 'quiet', limit: 1, window: '1m', now: manualClock().now });
      await limiter.consume('k');
      await limiter.consume('k');
      expect(table((await meter.read()).get(METRICS.decisions))).toEqual([
        ['limiter=quiet,outcome=allowed,rule=quiet', 1],
        ['limiter=quiet,outcome=limited,rule=quiet', 1],
      ]);
    } finally {
      otel.uninstrument();
    }
  });

  it('without meterProvider, follows the global MeterProvider, even one registered after instrument()', async () => {
    otel?.uninstrument();
    otel = instrument();
    const limiter = createLimiter({ name: 'global', limit: 100, window: '1m' });
    await limiter.consume('k'); // the no-op provider: nothing to read
    const global = testMeter();
    expect(metrics.setGlobalMeterProvider(global.provider)).toBe(true);
    try {
      await limiter.consume('k');
      expect(table((await global.read()).get(METRICS.decisions))).toEqual([['limiter=global,outcome=allowed,rule=global', 1]]);
    } finally {
      metrics.disable();
      await global.shutdown();
    }
  });

  it('a meter that throws never reaches the limiter: the error goes to the OpenTelemetry diag logger', async () => {
    otel?.uninstrument();
    const logged: unknown[] = [];
    const noop = () => {};
    diag.setLogger({ error: (...args) => logged.push(args), warn: noop, info: noop, debug: noop, verbose: noop }, DiagLogLevel.ERROR);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    try {
      otel = instrument({
        meterProvider: {
          getMeter: () => {
            throw new Error('broken meter');
          },
        },
      });
      const d = await createLimiter({ limit: 1, window: '1m' }).consume('k');
      expect(d.allowed).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(uncaught).toEqual([]);
      expect(logged).toHaveLength(1);
      expect(String(logged[0])).toContain('@ratekeeper/otel');
    } finally {
      process.off('uncaughtException', onUncaught);
      diag.disable();
    }
  });

  it('rejects bad options with a ConfigError naming the option', () => {
    expect(() => instrument({ spans: 'yes' as unknown as boolean })).toThrow("Expected `spans` to be a boolean or 'events', got");
    expect(() => instrument({ meterProvider: {} as never })).toThrow(/`meterProvider`/);
    expect(() => instrument({ span: false } as never)).toThrow(/Unknown option `span`/);
  });

  it("the meter's version is the package's", () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
});
