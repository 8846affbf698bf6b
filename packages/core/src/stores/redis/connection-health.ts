import { StoreHealth } from '../health';
import type { Connection } from './connection';
import { warnIfEvicting } from './eviction-policy';

/** One health state per connection, shared by every store and limiter on it (one listener set each). */
const shared = new WeakMap<object, StoreHealth>();

/**
 * The health of a Redis connection, driven by its events: 'ready' makes it usable at once (no
 * timer); a closed connection makes every limiter answer by policy at once instead of each waiting
 * `timeoutMs`. Listening to 'error' also keeps ioredis from printing "Unhandled error event" for a
 * connection the app did not create: the error reaches `onError` as the cause instead.
 * @internal
 */
export function connectionHealth(connection: Connection): StoreHealth {
  let health = shared.get(connection.client);
  if (health !== undefined) return health;
  const h = new StoreHealth(() => connection.status() === 'ready');
  health = h;
  shared.set(connection.client, h);
  const onReady = (): void => {
    h.up();
    warnIfEvicting(connection);
  };
  connection.on('ready', onReady);
  connection.on('close', () => h.lost(h.lastError ?? new Error('Redis connection closed')));
  connection.on('end', () => h.lost(new Error('Redis connection ended')));
  connection.on('error', (error: unknown) => h.noteError(error));
  if (connection.status() === 'ready') onReady();
  return h;
}
