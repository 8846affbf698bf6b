import { performance } from 'node:perf_hooks';
import { createLimiter, type Decision, type Limiter, MemoryStore, type StoreError } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../../../scripts/redis-server';
import { newRedis, pause, pollUntil, uniquePrefix } from './helpers';
import { delayingProxy } from './proxy';

// The fault suite: a dedicated redis-server is paused (SIGSTOP), killed (-9) and restarted, and
// reached through a proxy that opens connections slowly, while limiters keep deciding. What must
// hold: every answer within timeoutMs (+ a margin for a loaded machine), no charge for a request
// the policy answered, commands in flight that stop growing, recovery as soon as Redis answers.

const TIMEOUT_MS = 100;
/** Scheduling slack on a busy 2-core machine: answers are bounded, not timed to the millisecond. */
const MARGIN_MS = 250;

let server: RedisServer;
const clients: Redis[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};

function client(port = server.port, extra: Record<string, unknown> = {}): Redis {
  const c = newRedis(port, { retryStrategy: () => 20, ...extra });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Commands sent on `c` and not answered yet (ioredis's queue of in-flight commands). */
function inFlight(c: Redis): number {
  return (c as unknown as { commandQueue: { length: number } }).commandQueue.length;
}

function stopProcess(): void {
  process.kill(server.pid, 'SIGSTOP');
}
function continueProcess(): void {
  process.kill(server.pid, 'SIGCONT');
}

/** Fires one consume every `everyMs` until `stop()`, recording each answer and its latency. */
function load(limiter: Limiter, key: string, everyMs: number) {
  const answers: { d: Decision; ms: number; startedAt: number }[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const t0 = performance.now();
    const p = limiter.consume(key).then((d) => {
      answers.push({ d, ms: performance.now() - t0, startedAt: t0 });
      pending.delete(p);
    });
    pending.add(p);
  }, everyMs);
  return {
    answers,
    async stop(): Promise<void> {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

beforeAll(async () => {
  server = await startRedis();
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  // Nothing may escape as an unhandled rejection, whatever the fault.
  await new Promise((r) => setImmediate(r));
  expect(unhandled).toEqual([]);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  for (const c of clients) c.disconnect();
  await server.stop();
});

describe('Redis paused (SIGSTOP) under load', () => {
  it("'deny': answers within timeoutMs, 0 ghost charges after SIGCONT, in-flight commands stop growing, back to Redis once it answers", async () => {
    const c = client();
    const prefix = uniquePrefix('sigstop');
    const limiter = createLimiter({
      limit: 100_000,
      window: '1h',
      algorithm: 'fixed-window',
      store: new RedisStore({ client: c }),
      prefix,
      timeoutMs: TIMEOUT_MS,
      retryStoreAfterMs: 50,
      onStoreError: 'deny',
      onError: () => {},
    });
    await limiter.consume('warm'); // the script is cached and the clock synced before the fault
    const traffic = load(limiter, 'user', 4);
    await pause(200);
    stopProcess();
    let during: number[];
    try {
      await pause(600);
      const early = inFlight(c);
      await pause(1200);
      const late = inFlight(c);
      during = [early, late];
    } finally {
      continueProcess();
    }
    // Redis answers again: the last reply on this connection comes after every older one, so by
    // then the store is known to be up; the next request must be decided by Redis.
    await c.ping();
    // The older replies' handlers run in the microtasks that follow: let them finish.
    await new Promise((r) => setImmediate(r));
    const after = await limiter.consume('user');
    expect(after.error).toBeUndefined();
    await pause(200);
    await traffic.stop();

    const byStore = traffic.answers.filter((a) => a.d.error === undefined);
    const byPolicy = traffic.answers.filter((a) => a.d.error !== undefined);
    expect(byPolicy.length).toBeGreaterThan(100);
    for (const a of byPolicy) expect(a.d.allowed).toBe(false);
    // Bounded answers: nothing waited longer than timeoutMs (plus scheduling slack).
    expect(Math.max(...traffic.answers.map((a) => a.ms))).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    // In flight: what was sent before the first timeout, plus at most one probe; no growth with traffic.
    const [early, late] = during as [number, number];
    expect(late - early).toBeLessThanOrEqual(1);
    expect(late).toBeLessThan(60);
    // 0 ghost charges: Redis counted exactly the requests it decided (the extra one is `after`).
    // (Late replies that charged are refunded asynchronously: poll until those refunds have run.)
    const field = String(Math.floor(after.at / 3_600_000) * 3_600_000);
    const key = `${prefix}${limiter.rules[0]?.id}:{user}`;
    let stored = -1;
    await pollUntil(async () => {
      stored = Number(await c.hget(key, field));
      return stored === byStore.length + 1;
    }, 'the stored count to equal the store decisions').catch(() => undefined);
    expect(stored).toBe(byStore.length + 1);
  }, 20_000);

  it('reset(key) and reset() settle within timeoutMs with a StoreError (also reported) while Redis is paused', async () => {
    const c = client();
    const errors: StoreError[] = [];
    const limiter = createLimiter({
      limit: 5,
      window: '1m',
      store: new RedisStore({ client: c }),
      prefix: uniquePrefix('reset-paused'),
      timeoutMs: TIMEOUT_MS,
      onError: (e) => errors.push(e),
    });
    await limiter.consume('k');
    stopProcess();
    try {
      const hung = 'hung' as const;
      const settle = (p: Promise<void>) => {
        const t0 = performance.now();
        return Promise.race([
          p.then(
            () => ({ ok: true as const, ms: performance.now() - t0 }),
            (e: unknown) => ({ ok: false as const, e, ms: performance.now() - t0 }),
          ),
          pause(2_000).then(() => hung),
        ]);
      };
      const one = await settle(limiter.reset('k'));
      const all = await settle(limiter.reset());
      for (const r of [one, all]) {
        expect(r).not.toBe(hung);
        if (typeof r === 'string') return;
        expect(r.ok).toBe(false);
        expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
        if (!r.ok) expect((r.e as StoreError).code).toBe('ERR_RK_STORE');
      }
      expect(errors.filter((e) => e.operation === 'reset').length).toBe(2);
    } finally {
      continueProcess();
    }
    await c.ping();
  });
});

describe('Redis killed (-9) and restarted', () => {
  it('every limiter on the store returns to Redis the moment the connection is ready (one shared health state)', async () => {
    const c = client();
    const store = new RedisStore({ client: c });
    let recovered = 0;
    const make = (name: string) =>
      createLimiter({
        limit: 1000,
        window: '1h',
        store,
        prefix: uniquePrefix(name),
        timeoutMs: TIMEOUT_MS,
        // A timer-driven retry would keep each limiter on its policy for 10 s after a failure.
        retryStoreAfterMs: 10_000,
        onStoreError: new MemoryStore(),
        onError: () => {},
        onRecover: () => recovered++,
      });
    const a = make('a');
    const b = make('b');
    expect((await a.consume('k')).error).toBeUndefined();
    expect((await b.consume('k')).error).toBeUndefined();
    const port = server.port;
    await server.stop();
    await pollUntil(() => c.status !== 'ready', 'the client to notice the kill');
    const downA = await a.consume('k');
    const downB = await b.consume('k');
    // Answered by the (empty) insurance store: Redis would say 998.
    expect([downA.remaining, downB.remaining]).toEqual([999, 999]);
    const ready = new Promise<void>((resolve) => c.once('ready', () => resolve()));
    server = await startRedis({ port });
    await ready;
    // The restarted Redis is empty too: its decisions say 999 again, and the fallback's would say 998.
    const [upA, upB] = [await a.consume('k'), await b.consume('k')];
    expect([upA.remaining, upB.remaining]).toEqual([999, 999]);
    expect(recovered).toBe(2);
  }, 20_000);
});

describe('slow first connection', () => {
  it('a connection that takes 400 ms to open: no request made after it is ready is decided by policy', async () => {
    const proxy = await delayingProxy(server.port, 400);
    try {
      const c = client(proxy.port);
      let readyAt = Number.POSITIVE_INFINITY;
      c.once('ready', () => {
        readyAt = performance.now();
      });
      const limiter = createLimiter({
        limit: 100_000,
        window: '1h',
        store: new RedisStore({ client: c }),
        prefix: uniquePrefix('slow-start'),
        timeoutMs: TIMEOUT_MS,
        onStoreError: 'allow',
        onError: () => {},
      });
      const traffic = load(limiter, 'k', 5);
      await pollUntil(() => readyAt < Number.POSITIVE_INFINITY, 'the connection to be ready', 10, 1000);
      await pause(300);
      await traffic.stop();
      const afterReady = traffic.answers.filter((a) => a.startedAt > readyAt);
      expect(afterReady.length).toBeGreaterThan(20);
      expect(afterReady.filter((a) => a.d.error !== undefined)).toEqual([]);
      expect(Math.max(...traffic.answers.map((a) => a.ms))).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    } finally {
      await proxy.close();
    }
  }, 20_000);
});

describe("the store's own connection (a client that would replay commands)", () => {
  it('prints no "Unhandled error event" during an outage: the duplicate connection reports through onError', async () => {
    const dead = await startRedis();
    const user = new Redis({ host: '127.0.0.1', port: dead.port, retryStrategy: () => 20 });
    user.on('error', () => {}); // the app listens to its own client
    clients.push(user);
    const printed: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => {
      printed.push(args.map(String).join(' '));
    };
    try {
      const store = new RedisStore({ client: user });
      expect(store.client).not.toBe(user); // the replay-safe duplicate
      const errors: StoreError[] = [];
      const limiter = createLimiter({ limit: 5, window: '1m', store, timeoutMs: TIMEOUT_MS, onError: (e) => errors.push(e) });
      await limiter.consume('k');
      await dead.stop();
      await pollUntil(() => store.client.status !== 'ready', 'the duplicate to notice');
      await pause(100); // a few reconnect attempts, each an 'error' on the duplicate
      const d = await limiter.consume('k');
      expect(d.error).toBeDefined();
      expect(errors.length).toBeGreaterThan(0);
      expect(printed.filter((line) => line.includes('Unhandled error event'))).toEqual([]);
      user.disconnect();
      // The duplicate follows the app's client: it ends when the app's client ends.
      await pollUntil(() => store.client.status === 'end', 'the duplicate to end with its owner');
    } finally {
      console.error = original;
    }
  });

  it('a wrong password reaches onError as WRONGPASS, not as "not ready"', async () => {
    const locked = await startRedis();
    try {
      const admin = client(locked.port);
      await admin.config('SET', 'requirepass', 'right');
      admin.disconnect();
      const user = new Redis({ host: '127.0.0.1', port: locked.port, password: 'wrong', retryStrategy: () => 20, lazyConnect: true });
      user.on('error', () => {});
      clients.push(user);
      const errors: StoreError[] = [];
      const limiter = createLimiter({
        limit: 5,
        window: '1m',
        store: new RedisStore({ client: user }),
        timeoutMs: TIMEOUT_MS,
        onError: (e) => errors.push(e),
      });
      const d = await limiter.consume('k');
      expect(d.error).toBeDefined();
      const text = errors.map((e) => `${e.message} ${e.cause instanceof Error ? e.cause.message : ''}`).join('\n');
      expect(text).toMatch(/WRONGPASS|NOAUTH|invalid username-password/);
    } finally {
      await locked.stop();
    }
  });
});
