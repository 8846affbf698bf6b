// The Redis stores of the scenario app (entries bun-redis.ts and deno-redis.ts): one ioredis client
// per process to the test redis-server on 127.0.0.1, and on each `/__reset?prefix=<p>` a RedisStore
// with the store prefix `p` and the client clock (the app's manual clock drives the Lua scripts).

import { RedisStore, replaySafeRedisOptions } from '@ratekeeper/core/redis';
import { Redis } from 'ioredis';
import type { Stores } from './scenarios';

/** How long `/__reset` waits for the connection before it answers the failure. */
const READY_MS = 5_000;

export function redisStores(port: number): Stores {
  if (!Number.isInteger(port) || port <= 0) throw new Error(`redis port: expected a port number, got ${port}`);
  const client = new Redis({ host: '127.0.0.1', port, ...replaySafeRedisOptions });
  return {
    async open(prefix) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis at 127.0.0.1:${port} not ready within ${READY_MS} ms (status "${client.status}")`)),
          READY_MS,
        );
      });
      try {
        const pong = await Promise.race([client.ping(), late]);
        if (pong !== 'PONG') throw new Error(`Redis PING answered ${pong}`);
      } finally {
        clearTimeout(timer);
      }
      const store = new RedisStore({ client, clock: 'client', prefix });
      // A round trip well within the limiter's timeout even on a loaded machine.
      return (limiter) => ({ store, prefix: `${limiter}:`, timeoutMs: 5_000 });
    },
  };
}
