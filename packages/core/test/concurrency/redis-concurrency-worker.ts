// Child process of redis-concurrency.test.ts: one "app server" sharing a RedisStore concurrency
// limiter. Modes: 'work' runs `rounds` acquire → hold → release cycles and reports the most holders
// it ever saw at once (a shared Redis counter each holder INCRs while it holds); 'hold' acquires
// one slot, reports Redis time, and keeps it until the parent kills the process.
import { Redis } from 'ioredis';
import { createConcurrencyLimiter } from '../../src/index';
import { RedisStore, replaySafeRedisOptions } from '../../src/redis';

const [mode, portText, prefix, maxText, roundsText, leaseText] = process.argv.slice(2) as [string, string, string, string, string, string];
const client = new Redis({ host: '127.0.0.1', port: Number(portText), ...replaySafeRedisOptions });
const store = new RedisStore({ client });
const limiter = createConcurrencyLimiter({ max: Number(maxText), store, prefix, pollMs: 5, leaseMs: Number(leaseText), timeoutMs: 2000 });
const counter = `${prefix}holders`;

async function serverMs(): Promise<number> {
  const [s, us] = await client.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

if (mode === 'work') {
  let most = 0;
  let done = 0;
  for (let i = 0; i < Number(roundsText); i++) {
    const lease = await limiter.acquire('shared');
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
  await limiter.acquire('held');
  process.send?.({ heldAt: await serverMs() });
  // Holds until killed.
  setInterval(() => {}, 1000);
}
