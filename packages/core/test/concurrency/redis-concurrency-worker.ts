// Child process of redis-concurrency.test.ts: one "app server" sharing a RedisStore concurrency
// limiter. Modes: 'work' runs `rounds` acquire → hold → release cycles and reports the most holders
// it ever saw at once (a shared Redis counter each holder INCRs while it holds); 'hold' acquires
// one slot, reports Redis time, and keeps it until the parent kills the process.
import { Redis } from 'ioredis';
import { createConcurrencyLimiter } from '../../src/index';
import { RedisStore, replaySafeRedisOptions } from '../../src/redis';

const [mode, portText, prefix, maxText, roundsText, leaseText] = process.argv.slice(2) as [string, string, string, string, string, string];
const client = new Redis({ host: '127.0.0.1', port: Number(portText), ...replaySafeRedisOptions });
// Connected before the first acquire, and a generous connect wait: a loaded machine may be slow to start.
await client.ping();
const store = new RedisStore({ client, timeoutMs: 5000 });
// 'deny' and a long timeout: on a loaded machine a slow reply must refuse (then retry), never grant a
// lease the store does not hold ('allow' would, by design), or the count below would mean nothing.
const limiter = createConcurrencyLimiter({
  max: Number(maxText),
  store,
  prefix,
  pollMs: 5,
  leaseMs: Number(leaseText),
  timeoutMs: 20_000,
  onStoreError: 'deny',
  onError: () => {},
});
const counter = `${prefix}holders`;

async function serverMs(): Promise<number> {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/** Acquires, asking again after a refusal by the store-error policy (a timed-out reply). */
async function acquireRetrying(key = 'shared') {
  for (;;) {
    try {
      return await limiter.acquire(key);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_RK_RATE_LIMITED') throw error;
    }
  }
}

if (mode === 'work') {
  let most = 0;
  let done = 0;
  for (let i = 0; i < Number(roundsText); i++) {
    const lease = await acquireRetrying();
    const holders = await client.incr(counter);
    most = Math.max(most, holders);
    // Hold across a few round trips, so holders of different processes overlap.
    await client.ping();
    await client.ping();
    await client.decr(counter);
    await lease.release();
    done++;
  }
  process.send?.({ most, done });
  await store.close();
  await client.quit();
} else {
  // Redis's time before asking: the grant, and so the lease's start, cannot be earlier (a time read
  // after the grant would be late by a round trip, and the lease could end sooner after it).
  const askedAt = await serverMs();
  await acquireRetrying('held');
  process.send?.({ askedAt });
  // Holds until killed.
  setInterval(() => {}, 1000);
}
