// Child process of lease-processes.test.ts: one "app server" on a leasing RedisStore (server clock).
// 'spend': waits for the parent's 'go', makes `requests` consumes on one key (16 at a time), closes
// the store (giving unspent units back) and reports what it was allowed. 'hold': takes one lease,
// reports, and keeps it until the parent kills it (-9).
import { Redis } from 'ioredis';
import { createLimiter } from '../../../../src/index';
import { RedisStore, replaySafeRedisOptions } from '../../../../src/redis';

const [mode, port, prefix, algorithm, limit, windowMs, size, requests] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const client = new Redis({ host: '127.0.0.1', port: Number(port), ...replaySafeRedisOptions });
await client.ping();
const store = new RedisStore({ client, timeoutMs: 5000, lease: { size: Number(size), ttl: '1m' } });
let failures = 0;
// 'deny' with a long timeout: a slow reply on a loaded machine refuses (counted), never grants.
const limiter = createLimiter({
  limit: Number(limit),
  window: Number(windowMs),
  algorithm: algorithm as 'gcra',
  store,
  prefix,
  onStoreError: 'deny',
  timeoutMs: 20_000,
  onError: () => {
    failures++;
  },
});

if (mode === 'spend') {
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send?.({ ready: 1 });
  await go;
  let allowed = 0;
  let denied = 0;
  const per = Math.ceil(Number(requests) / 16);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = 0; i < per; i++) {
        if ((await limiter.consume('hot')).allowed) allowed++;
        else denied++;
      }
    }),
  );
  await store.close();
  process.send?.({ allowed, denied, failures });
  await client.quit();
} else {
  const d = await limiter.consume('held');
  process.send?.({ allowed: d.allowed ? 1 : 0 });
  setInterval(() => {}, 1000);
}
