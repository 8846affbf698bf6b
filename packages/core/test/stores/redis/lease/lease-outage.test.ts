// Lease mode while Redis does not answer: units already leased are spent only while valid (never
// after their window ended), refills fail to the onStoreError policy within timeoutMs, a late
// refill charges nothing extra, and leasing resumes when Redis answers. A dedicated redis-server is
// paused (SIGSTOP) and resumed; the limiter runs on a manual clock.
import { createLimiter, type Decision, type Limiter, MemoryStore, type StoreError } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import type { Redis } from 'ioredis';
import { type RedisServer, startRedis } from '../../../../../../scripts/redis-server';
import { newRedis, pollUntil, uniquePrefix } from '../helpers';

const T0 = 1_800_000_000_000;
const WINDOW = 60_000;

let server: RedisServer;
let redis: Redis;
beforeAll(async () => {
  server = await startRedis();
  redis = newRedis(server.port);
  await redis.ping();
});
afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

function leasing(policy: 'deny' | 'allow' | MemoryStore, clock: { t: number }) {
  const errors: StoreError[] = [];
  const prefix = uniquePrefix('lease-outage');
  const store = new RedisStore({ client: redis, clock: 'client', lease: { size: 8 } });
  const limiter: Limiter = createLimiter({
    limit: 10,
    window: WINDOW,
    algorithm: 'fixed-window',
    store,
    prefix,
    now: () => clock.t,
    onStoreError: policy,
    timeoutMs: 150,
    retryStoreAfterMs: 0,
    onError: (e) => errors.push(e),
  });
  return { store, limiter, errors, prefix };
}

async function paused<T>(fn: () => Promise<T>): Promise<T> {
  process.kill(server.pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(server.pid, 'SIGCONT');
  }
}

test("'deny': leased units are spent while their window lasts, never after; refills are refused by policy", async () => {
  const clock = { t: T0 + 1000 };
  const { store, limiter, errors } = leasing('deny', clock);
  expect((await limiter.consume('k')).allowed).toBe(true); // a lease of 8, 7 held
  const outcome = await paused(async () => {
    const inWindow: Decision[] = [];
    for (let i = 0; i < 3; i++) inWindow.push(await limiter.consume('k'));
    clock.t = T0 + WINDOW; // the window turns with 4 units still leased
    const after: Decision[] = [];
    for (let i = 0; i < 5; i++) after.push(await limiter.consume('k'));
    return { inWindow, after };
  });
  // Within the window the lease answers without Redis; after it, nothing comes from the dead lease.
  expect(outcome.inWindow.every((d) => d.allowed)).toBe(true);
  expect(outcome.after.some((d) => d.allowed)).toBe(false);
  expect(errors.length).toBeGreaterThan(0);
  // Redis answers again: leasing resumes in the new window, and the window holds at most the limit.
  await pollUntil(async () => (await limiter.consume('k')).allowed, 'the limiter to use Redis again', 20, 500);
  let allowed = 1;
  for (let i = 0; i < 20; i++) if ((await limiter.consume('k')).allowed) allowed++;
  expect(allowed).toBeLessThanOrEqual(10);
  await store.close();
});

test('an insurance store answers while Redis is down; the late refill charges nothing that was not given back', async () => {
  const clock = { t: T0 + 2 * WINDOW + 1000 };
  const insurance = new MemoryStore();
  const { store, limiter, prefix } = leasing(insurance, clock);
  for (let i = 0; i < 8; i++) expect((await limiter.consume('k')).allowed).toBe(true); // the whole lease spent
  const during = await paused(async () => {
    const d = await limiter.consume('k'); // a refill: times out, the insurance store answers
    return d;
  });
  expect(during.allowed).toBe(true);
  // The refill that was waiting ran after SIGCONT (no deadline on the client clock): its charge is
  // undone (the units go to the lease and back to Redis on close).
  await pollUntil(async () => (await redis.ping()) === 'PONG', 'Redis to answer');
  await store.close();
  const raw = await redis.hgetall(`${prefix}fw-10-60000:{k}`);
  // The 8 spent from the first lease; the late refill's units all given back (its request was
  // answered by the insurance store, so its charge was refunded into the lease).
  expect(Object.values(raw).reduce((n, v) => n + Number(v), 0)).toBe(8);
});
