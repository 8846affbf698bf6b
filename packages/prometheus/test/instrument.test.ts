import { hasSubscribers } from 'node:diagnostics_channel';
import { CHANNELS, createLimiter, isConfigError, MemoryStore } from '@ratekeeper/core';
import { manualClock } from '@ratekeeper/core/testing';
import { DEFAULT_BUCKETS, type Instrumentation, instrument, type MetricsRegistry } from '@ratekeeper/prometheus';
import { Counter, type OpenMetricsContentType, Registry, register } from 'prom-client';
import { parseExposition, type Sample, select, series, switchableStore, total } from './helpers';

const DECISIONS = 'ratekeeper_decisions_total';
const DURATION = 'ratekeeper_store_duration_seconds';
const ERRORS = 'ratekeeper_store_errors_total';
const RECOVERIES = 'ratekeeper_store_recoveries_total';

/** Every handle a test made: undone after it, so no test leaves a subscriber behind. */
const handles: Instrumentation[] = [];
function track(handle: Instrumentation): Instrumentation {
  handles.push(handle);
  return handle;
}
afterEach(() => {
  for (const h of handles.splice(0)) h.uninstrument();
  expect(hasSubscribers(CHANNELS.decision)).toBe(false);
});

async function scrape(registry: MetricsRegistry): Promise<Sample[]> {
  return parseExposition(await registry.metrics());
}

describe('parseExposition (the test helper)', () => {
  it('reads names, escaped label values, +Inf and skips comments; rejects what it cannot read', () => {
    const text = '# HELP x y\n# TYPE x counter\nx{a="1",b="q\\"uote\\\\ \\nnl"} 3\nh_bucket{le="+Inf"} +Inf\ny 1.5e-3\n';
    expect(parseExposition(text)).toEqual([
      { name: 'x', labels: { a: '1', b: 'q"uote\\ \nnl' }, value: 3 },
      { name: 'h_bucket', labels: { le: '+Inf' }, value: Number.POSITIVE_INFINITY },
      { name: 'y', labels: {}, value: 0.0015 },
    ]);
    expect(() => parseExposition('x{a=1} 3')).toThrow('bad labels');
    expect(() => parseExposition('x 3 4 5')).toThrow('not a sample');
    expect(() => parseExposition('x abc')).toThrow('bad value');
  });
});

describe('instrument()', () => {
  it('counts a scripted sequence exactly: allowed, limited, failed_open, failed_closed, fallback, store errors, recovery', async () => {
    const registry = new Registry();
    track(instrument({ registry }));
    const keys = ['key-alice-203.0.113.7', 'key-bob-198.51.100.2', 'key-carol-2001:db8::1'];
    const [alice = '', bob = '', carol = ''] = keys;

    // Allowed and limited, by the memory store; the binding rule is the one with least room.
    const api = createLimiter({
      name: 'api',
      now: manualClock().now,
      rules: [
        { name: 'burst', limit: 2, window: '1m', algorithm: 'fixed-window' },
        { name: 'hourly', limit: 100, window: '1h', algorithm: 'fixed-window' },
      ],
    });
    for (let i = 0; i < 3; i++) await api.consume(alice);
    await api.consume(bob);
    await api.peek(alice); // a peek is a decision too
    const login = createLimiter({
      name: 'login',
      now: manualClock().now,
      rules: [
        { name: 'per-minute', limit: 5, window: '1m' },
        { name: 'per-day', limit: 3, window: '1d' },
      ],
    });
    for (let i = 0; i < 4; i++) login.consumeSync(carol);

    // Store outage, policy 'allow': failed_open; one store error (the outage's first call), then
    // policy without touching the store until retryStoreAfterMs; back up: one recovery.
    const openClock = manualClock();
    const open = switchableStore();
    const failOpen = createLimiter({
      name: 'open',
      limit: 10,
      window: '1m',
      store: open.store,
      now: openClock.now,
      onStoreError: 'allow',
      onError: () => {},
    });
    await failOpen.consume(alice);
    open.down.value = true;
    for (let i = 0; i < 3; i++) expect((await failOpen.consume(alice)).allowed).toBe(true);
    open.down.value = false;
    openClock.advance(1000); // the default retryStoreAfterMs: the next call probes the store
    await failOpen.consume(alice);

    // Policy 'deny': failed_closed; a refund while down is a store error of its own.
    const closed = switchableStore();
    const failClosed = createLimiter({
      name: 'closed',
      limit: 10,
      window: '1m',
      store: closed.store,
      now: manualClock().now,
      onStoreError: 'deny',
      onError: () => {},
    });
    await failClosed.consume(bob);
    closed.down.value = true;
    expect((await failClosed.consume(bob)).allowed).toBe(false);
    await failClosed.consume(bob);
    await failClosed.peek(bob);
    await failClosed.refund(bob, 1);

    // An insurance MemoryStore: every decision while the store fails is 'fallback', allowed or not.
    const insured = switchableStore();
    insured.down.value = true;
    const withFallback = createLimiter({
      name: 'insured',
      limit: 1,
      window: '1m',
      store: insured.store,
      now: manualClock().now,
      onStoreError: new MemoryStore(),
      onError: () => {},
    });
    await withFallback.peek(carol);
    expect((await withFallback.consume(carol)).allowed).toBe(true);
    expect((await withFallback.consume(carol)).allowed).toBe(false);

    // A limiter without a name: limiter="".
    const anonymous = createLimiter({ limit: 1, window: '1m', now: manualClock().now });
    const anonymousRule = (await anonymous.consume(alice)).rule.name;

    const samples = await scrape(registry);
    expect(series(samples, DECISIONS)).toEqual({
      'limiter=api,outcome=allowed,rule=burst': 3,
      'limiter=api,outcome=limited,rule=burst': 2,
      'limiter=login,outcome=allowed,rule=per-day': 3,
      'limiter=login,outcome=limited,rule=per-day': 1,
      'limiter=open,outcome=allowed,rule=open': 2,
      'limiter=open,outcome=failed_open,rule=open': 3,
      'limiter=closed,outcome=allowed,rule=closed': 1,
      'limiter=closed,outcome=failed_closed,rule=closed': 3,
      'limiter=insured,outcome=fallback,rule=insured': 3,
      [`limiter=,outcome=allowed,rule=${anonymousRule}`]: 1,
    });
    expect(series(samples, ERRORS)).toEqual({
      'limiter=open,operation=consume,policy=allow': 1,
      'limiter=closed,operation=consume,policy=deny': 1,
      'limiter=closed,operation=refund,policy=deny': 1,
      'limiter=insured,operation=peek,policy=fallback': 1,
    });
    expect(series(samples, RECOVERIES)).toEqual({ 'limiter=open': 1 });

    // The histogram timed each decision the (asynchronous) store was asked for, under the decision's
    // limiter and outcome; not the decisions made in the process (memory stores, an open circuit).
    const timed = (limiter: string, outcome: string) => total(samples, `${DURATION}_count`, { limiter, outcome });
    expect(
      Object.fromEntries(select(samples, `${DURATION}_count`).map((s) => [`${s.labels.limiter}|${s.labels.outcome}`, s.value])),
    ).toEqual({
      'open|allowed': 2, // the first call and the probe
      'open|failed_open': 1, // the failed call; the open circuit's two answers are not timed
      'closed|allowed': 1,
      'closed|failed_closed': 1,
      'insured|fallback': 1, // the failed peek the insurance store then answered
    });
    for (const [limiter, outcome] of [
      ['open', 'allowed'],
      ['open', 'failed_open'],
      ['closed', 'failed_closed'],
    ] as const) {
      expect(total(samples, `${DURATION}_bucket`, { limiter, outcome, le: '+Inf' })).toBe(timed(limiter, outcome));
      // A store answering in the same process takes well under a second.
      expect(total(samples, `${DURATION}_bucket`, { limiter, outcome, le: '1' })).toBe(timed(limiter, outcome));
    }
    const les = select(samples, `${DURATION}_bucket`, { limiter: 'open', outcome: 'allowed' }).map((s) => s.labels.le);
    expect(les).toEqual([...DEFAULT_BUCKETS.map(String), '+Inf']);

    // Label names are exactly these; no label value is (or contains) a key.
    const labelNames = (name: string) => new Set(select(samples, name).flatMap((s) => Object.keys(s.labels)));
    expect([...labelNames(DECISIONS)].sort()).toEqual(['limiter', 'outcome', 'rule']);
    expect([...labelNames(`${DURATION}_bucket`)].sort()).toEqual(['le', 'limiter', 'outcome']);
    expect([...labelNames(ERRORS)].sort()).toEqual(['limiter', 'operation', 'policy']);
    expect([...labelNames(RECOVERIES)]).toEqual(['limiter']);
    const values = samples.filter((s) => s.name.startsWith('ratekeeper_')).flatMap((s) => Object.values(s.labels));
    expect(values.filter((v) => v.includes('key-') || keys.some((k) => v.includes(k)))).toEqual([]);
  });

  it('counts without the decision channel: the limiters tally themselves (no event per decision); only failures are subscribed to', async () => {
    const registry = new Registry();
    const metrics = instrument({ registry });
    try {
      expect(hasSubscribers(CHANNELS.decision)).toBe(false);
      expect(hasSubscribers(CHANNELS.storeError)).toBe(true);
      const limiter = createLimiter({ name: 'quiet', limit: 1, window: '1m', now: manualClock().now });
      await limiter.consume('k');
      await limiter.consume('k');
      const text = await registry.metrics();
      expect(text).toContain('ratekeeper_decisions_total{outcome="allowed",rule="quiet",limiter="quiet"} 1');
      expect(text).toContain('ratekeeper_decisions_total{outcome="limited",rule="quiet",limiter="quiet"} 1');
    } finally {
      metrics.uninstrument();
    }
  });

  it('twice on one registry: no "already registered", no double count; metrics stay until both are undone', async () => {
    const registry = new Registry();
    const first = track(instrument({ registry }));
    const second = track(instrument({ registry, buckets: [...DEFAULT_BUCKETS] }));
    const limiter = createLimiter({ name: 'twice', limit: 5, window: '1m' });
    await limiter.consume('k');
    expect(total(await scrape(registry), DECISIONS, { limiter: 'twice' })).toBe(1);

    first.uninstrument();
    first.uninstrument(); // idempotent: does not undo the second call
    await limiter.consume('k');
    expect(total(await scrape(registry), DECISIONS, { limiter: 'twice' })).toBe(2);

    second.uninstrument();
    for (const name of [DECISIONS, DURATION, ERRORS, RECOVERIES]) expect(registry.getSingleMetric(name)).toBeUndefined();
    expect(await registry.metrics()).not.toContain('ratekeeper_');
    expect(hasSubscribers(CHANNELS.decision)).toBe(false);
    expect(hasSubscribers(CHANNELS.storeError)).toBe(false);
    expect(hasSubscribers(CHANNELS.recover)).toBe(false);

    // Instrumented again: fresh metrics, counting from zero.
    track(instrument({ registry }));
    await limiter.consume('k');
    expect(total(await scrape(registry), DECISIONS, { limiter: 'twice' })).toBe(1);
  });

  it('a second call with other buckets is a ConfigError (the histogram is shared)', () => {
    const registry = new Registry();
    track(instrument({ registry, buckets: [0.001, 0.01] }));
    let error: unknown;
    try {
      track(instrument({ registry, buckets: [0.001, 0.1] }));
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toMatch(/`buckets`.*0\.001, 0\.01/);
  });

  it('separate registries (or prefixes) count independently, each once', async () => {
    const a = new Registry();
    const b = new Registry();
    track(instrument({ registry: a }));
    track(instrument({ registry: b }));
    track(instrument({ registry: b, prefix: 'app_rl_', buckets: [0.005, 0.05, 0.5] }));
    await createLimiter({ name: 'both', limit: 5, window: '1m', store: switchableStore().store }).consume('k');
    expect(total(await scrape(a), DECISIONS)).toBe(1);
    const fromB = await scrape(b);
    expect(total(fromB, DECISIONS)).toBe(1);
    expect(series(fromB, 'app_rl_decisions_total')).toEqual({ 'limiter=both,outcome=allowed,rule=both': 1 });
    expect(select(fromB, 'app_rl_store_duration_seconds_bucket').map((s) => s.labels.le)).toEqual(['0.005', '0.05', '0.5', '+Inf']);
  });

  it("uses prom-client's global register by default", async () => {
    const handle = track(instrument());
    await createLimiter({ name: 'global', limit: 5, window: '1m' }).consume('k');
    expect(series(await scrape(register), DECISIONS)).toEqual({ 'limiter=global,outcome=allowed,rule=global': 1 });
    handle.uninstrument();
    expect(register.getSingleMetric(DECISIONS)).toBeUndefined();
  });

  it('an OpenMetrics registry exposes the same sample names (no _total_total)', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const handle = track(instrument({ registry }));
    await createLimiter({ name: 'om', limit: 5, window: '1m' }).consume('k');
    const text = await registry.metrics();
    expect(text).toContain('# TYPE ratekeeper_decisions counter');
    expect(text).not.toContain('_total_total');
    expect(series(parseExposition(text), DECISIONS)).toEqual({ 'limiter=om,outcome=allowed,rule=om': 1 });
    handle.uninstrument();
    expect(registry.getMetricsAsArray()).toHaveLength(0);
  });

  it('a registry cleared while instrumented can be instrumented again', async () => {
    const registry = new Registry();
    track(instrument({ registry }));
    registry.clear();
    track(instrument({ registry }));
    await createLimiter({ name: 'cleared', limit: 5, window: '1m' }).consume('k');
    expect(total(await scrape(registry), DECISIONS)).toBe(1);
  });

  it("a foreign metric under one of the names is a ConfigError naming it; the registry's metrics are left alone", () => {
    const registry = new Registry();
    new Counter({ name: ERRORS, help: 'not ours', registers: [registry] });
    expect(() => instrument({ registry })).toThrow(/ratekeeper_store_errors_total is already registered.*`prefix`/);
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual([ERRORS]);
    expect(hasSubscribers(CHANNELS.decision)).toBe(false);
  });

  it.each([
    [{ prefix: '1x_' }, /`prefix`/],
    [{ prefix: 'has space' }, /`prefix`/],
    [{ buckets: [] }, /`buckets`/],
    [{ buckets: [0.1, 0.01] }, /`buckets`/],
    [{ buckets: [0, 1] }, /`buckets`/],
    [{ buckets: [0.1, Number.POSITIVE_INFINITY] }, /`buckets`/],
    [{ registry: {} }, /`registry`/],
    [{ registy: new Registry() }, /Unknown option `registy`/],
  ])('rejects %p with a ConfigError', (options, message) => {
    let error: unknown;
    try {
      instrument(options as Parameters<typeof instrument>[0]);
    } catch (e) {
      error = e;
    }
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });
});

describe('decisions_total and prom-client resets', () => {
  it('registry.resetMetrics() zeroes decisions_total as it does every counter; later decisions count from 0', async () => {
    const registry = new Registry();
    track(instrument({ registry }));
    const limiter = createLimiter({ name: 'reset-me', limit: 1, window: '1m', now: manualClock().now });
    await limiter.consume('a');
    await limiter.consume('a');
    expect(total(await scrape(registry), DECISIONS, { limiter: 'reset-me' })).toBe(2);
    registry.resetMetrics();
    expect(total(await scrape(registry), DECISIONS, { limiter: 'reset-me' })).toBe(0);
    await limiter.consume('a');
    const after = await scrape(registry);
    expect(total(after, DECISIONS, { limiter: 'reset-me', outcome: 'limited' })).toBe(1);
    expect(total(after, DECISIONS, { limiter: 'reset-me', outcome: 'allowed' })).toBe(0);
    // Scraping twice counts nothing twice.
    expect(total(await scrape(registry), DECISIONS, { limiter: 'reset-me' })).toBe(1);
  });
});
