// Lease mode across 8 real processes on one key (server clock), for every leasing algorithm: never
// more than the limit, at most the documented slack less when demand exceeds it, leases given back
// on close, and a holder killed with -9 loses at most its lease until its window or slots pass.
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { createLimiter } from '@ratekeeper/core';
import { RedisStore } from '@ratekeeper/core/redis';
import type { Redis } from 'ioredis';
import { newRedis, pollUntil, redisPort, uniquePrefix } from '../helpers';

jest.setTimeout(180_000);

type Report = Record<string, number>;

/** A worker and its messages, in order ('spend' sends `{ ready }` first, then its report). */
function worker(args: string[]): { child: ChildProcess; next: () => Promise<Report> } {
  const child = fork(join(__dirname, 'lease-worker.ts'), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const queue: Report[] = [];
  const waiting: ((r: Report) => void)[] = [];
  let exited: Error | undefined;
  const failing: ((e: Error) => void)[] = [];
  child.on('message', (m) => {
    const w = waiting.shift();
    failing.shift();
    if (w) w(m as Report);
    else queue.push(m as Report);
  });
  child.once('exit', (code) => {
    exited = new Error(`worker exited (${code}) before reporting`);
    for (const f of failing.splice(0)) f(exited);
  });
  const next = (): Promise<Report> => {
    const m = queue.shift();
    if (m) return Promise.resolve(m);
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      waiting.push(resolve);
      failing.push(reject);
    });
  };
  return { child, next };
}

let redis: Redis;
beforeAll(() => {
  redis = newRedis();
});
afterAll(async () => {
  await redis.quit();
});

async function serverMs(): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

const LIMIT = 2000;
const HOUR = 3_600_000;
const SIZE = 50;
const PROCESSES = 8;

describe.each(['fixed-window', 'token-bucket', 'gcra'] as const)('%s, 8 processes', (algorithm) => {
  test('one hot key, demand 2.4× the limit: allowed ≤ limit, ≥ limit − 8 × lease size; leases given back on close', async () => {
    const run = async (attempt: number) => {
      const prefix = uniquePrefix(`lease8-${algorithm}-${attempt}`);
      const args = ['spend', String(redisPort()), prefix, algorithm, String(LIMIT), String(HOUR), String(SIZE), '600'];
      const workers = Array.from({ length: PROCESSES }, () => worker(args));
      // Every worker connected and listening, then all start at once.
      await Promise.all(workers.map((w) => w.next()));
      const start = await serverMs();
      for (const w of workers) w.child.send('go');
      const reports = await Promise.all(workers.map((w) => w.next()));
      const end = await serverMs();
      const allowed = reports.reduce((n, r) => n + (r.allowed as number), 0);
      const failures = reports.reduce((n, r) => n + (r.failures as number), 0);
      return { prefix, start, end, allowed, failures };
    };
    // A fixed window of an hour: the run must sit in one window to prove anything, so a run that
    // straddles an hour boundary on Redis's clock is run once more (the next one cannot straddle too).
    let r = await run(0);
    if (algorithm === 'fixed-window' && Math.floor(r.start / HOUR) !== Math.floor(r.end / HOUR)) r = await run(1);
    const { prefix, start, end, allowed, failures } = r;
    if (algorithm === 'fixed-window') expect(Math.floor(end / HOUR)).toBe(Math.floor(start / HOUR));
    // Buckets refill LIMIT per hour: what the run's duration (+ the workers' start-up) could add.
    const refill = algorithm === 'fixed-window' ? 0 : Math.ceil(((end - start + 60_000) * LIMIT) / HOUR);
    expect(allowed).toBeLessThanOrEqual(LIMIT + refill);
    // Denials only while other processes held units: at most 8 leases' worth (plus policy refusals).
    expect(allowed).toBeGreaterThanOrEqual(LIMIT - PROCESSES * SIZE - failures);
    const plain = createLimiter({ limit: LIMIT, window: HOUR, algorithm, store: new RedisStore({ client: redis }), prefix });
    const { remaining } = await plain.peek('hot');
    if (algorithm === 'fixed-window') {
      // Every unspent unit went back: Redis counts exactly what was allowed.
      expect(remaining).toBe(LIMIT - allowed);
    } else {
      // The latest grant's units went back; the others' drain as their slots pass (never extra units).
      expect(remaining).toBeLessThanOrEqual(LIMIT - allowed + refill);
      expect(remaining).toBeGreaterThanOrEqual(LIMIT - allowed - (PROCESSES - 1) * SIZE);
    }
  });

  test('a holder killed with -9 loses at most its lease, until its window or slots pass', async () => {
    const prefix = uniquePrefix(`lease-kill-${algorithm}`);
    // 100 per 2 s: a window turns within 2 s; a bucket regains a unit every 20 ms.
    const limit = 100;
    const windowMs = 2000;
    const { child, next } = worker(['hold', String(redisPort()), prefix, algorithm, String(limit), String(windowMs), String(SIZE), '0']);
    expect((await next()).allowed).toBe(1);
    child.kill('SIGKILL');
    const plain = createLimiter({ limit, window: windowMs, algorithm, store: new RedisStore({ client: redis }), prefix });
    const first = await plain.peek('held');
    // The lease (50) is charged; a bucket may have regained a few units already.
    expect(first.remaining).toBeGreaterThanOrEqual(limit - SIZE - 1);
    expect(first.remaining).toBeLessThan(limit);
    // Redis's own clock brings the units back: the window ends, or the slots pass (bounded polling).
    await pollUntil(async () => (await plain.peek('held')).remaining === limit, 'the killed holder’s units to come back', 20, 500);
  });
});
