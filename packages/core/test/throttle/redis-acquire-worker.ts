// Child process of redis-acquire.test.ts: one "app server" that acquires from a shared RedisStore.
// Time is virtual and driven by the parent over IPC, so two processes advance in lockstep without
// wall-clock sleeps: the limiter's `now` and the timers `acquire` sets are both replaced here.
import { Redis } from 'ioredis';
import type { BoundStore, RawResult, Store } from '../../src/index';
import { createLimiter } from '../../src/index';
import { RedisStore, replaySafeRedisOptions } from '../../src/redis';

type Msg = { type: 'start'; port: number; prefix: string; count: number; t0: number } | { type: 'advance'; ms: number } | { type: 'stop' };

let vnow = 0;
let seq = 0;
const timers = new Map<number, { at: number; fn: () => void }>();
// acquire() calls the global setTimeout at call time: the virtual one takes its place in this process.
globalThis.setTimeout = ((fn: () => void, ms = 0) => {
  const id = ++seq;
  timers.set(id, { at: vnow + ms, fn });
  return id;
}) as unknown as typeof setTimeout;
globalThis.clearTimeout = ((id: number) => void timers.delete(id)) as unknown as typeof clearTimeout;

let inFlight = 0;
function track<T>(v: T | Promise<T>): T | Promise<T> {
  if (!(v instanceof Promise)) return v;
  inFlight++;
  return v.finally(() => {
    inFlight--;
  });
}
function counting(inner: Store): Store {
  return {
    bind(rules, prefix): BoundStore {
      const b = inner.bind(rules, prefix);
      return {
        consume: (k, c, n) => track<RawResult>(b.consume(k, c, n)),
        peek: (k, n) => track<RawResult>(b.peek(k, n)),
        refund: (k, c, n, at) => track<void>(b.refund(k, c, n, at)),
        reset: (k) => track<void>(b.reset(k)),
      };
    },
  };
}

/** Idle: no store call in flight and nothing left to run but virtual timers. */
async function idle(): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise<void>((r) => setImmediate(r));
    quiet = inFlight === 0 ? quiet + 1 : 0;
  }
}

const grants: number[] = [];
let client: Redis | undefined;
let t0 = 0;

process.on('message', async (msg: Msg) => {
  if (msg.type === 'start') {
    vnow = msg.t0;
    t0 = msg.t0;
    client = new Redis({ host: '127.0.0.1', port: msg.port, ...replaySafeRedisOptions });
    const limiter = createLimiter({
      timeoutMs: 30_000,
      limit: 10,
      window: '1s',
      algorithm: 'token-bucket',
      burst: 5,
      prefix: msg.prefix,
      store: counting(new RedisStore({ client, clock: 'client' })),
      now: () => vnow,
    });
    for (let i = 0; i < msg.count; i++) void limiter.acquire('shared').then((d) => grants.push(d.at - t0));
  } else if (msg.type === 'advance') {
    const target = vnow + msg.ms;
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= target).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!due) break;
      timers.delete(due[0]);
      vnow = due[1].at;
      due[1].fn();
      await idle();
    }
    vnow = target;
  } else {
    await client?.quit();
    process.exit(0);
  }
  await idle();
  process.send?.({ type: 'idle', grants });
});
