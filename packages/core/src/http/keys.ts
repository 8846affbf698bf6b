import { ConfigError } from '../errors/config-error';
import type { KeyPart } from './options';

/**
 * @internal A compiled key builder, given what the pipeline already read: the request, the
 * normalised client address, `METHOD /route/:pattern` (undefined when no route matched, or when
 * the key does not use it) and what `user()` returned, already awaited (undefined when the key
 * does not use it). Positional so the hot path allocates nothing. Only a `key` function can make
 * it asynchronous, and the pipeline adopts what that returns.
 */
export type KeyBuilder<Req> = (req: Req, ip: string, route: string | undefined, user: unknown) => string | PromiseLike<string>;
type PartGetter<Req> = (req: Req, ip: string, route: string | undefined, user: unknown) => string;

/** Route key for requests that matched no route: every unmatched path shares it. */
export const UNMATCHED_ROUTE = '(unmatched)';

const PARTS: readonly KeyPart[] = ['ip', 'user', 'route'];

/**
 * A user id is a non-empty string. Anything else `user()` gives (undefined, null, '', a number, an
 * object) is an anonymous request, limited by its address: `u:null` or `u:[object Object]` would
 * put unrelated clients in one bucket.
 */
function userPart(_req: unknown, ip: string, _route: string | undefined, id: unknown): string {
  return typeof id === 'string' && id !== '' ? `u:${id}` : ip;
}

/**
 * Compiles the `key` option once. Parts are joined with `|`; a user id is prefixed `u:` so it can
 * never collide with an address. Route parts use the route pattern, never the raw path.
 */
export function compileKey<Req>(key: unknown, user: ((req: Req) => unknown) | undefined): KeyBuilder<Req> {
  if (key === undefined || key === 'ip') return (_req, ip) => ip;
  if (typeof key === 'function') {
    const fn = key as (req: Req) => string | PromiseLike<string>;
    return (req) => fn(req);
  }
  const parts = typeof key === 'string' ? [key] : key;
  if (!Array.isArray(parts) || parts.length === 0)
    throw new ConfigError('key', "'ip', 'user', 'route', a non-empty array of them, or a function", key);
  for (const p of parts) if (!PARTS.includes(p as KeyPart)) throw new ConfigError('key', "made of 'ip', 'user' and 'route'", key);
  if (parts.includes('user') && user === undefined)
    throw new ConfigError('user', "a function returning the user id (needed by key 'user')", user);
  const getters = (parts as KeyPart[]).map((p): PartGetter<Req> => {
    if (p === 'ip') return (_req, ip) => ip;
    if (p === 'route') return (_req, _ip, route) => route ?? UNMATCHED_ROUTE;
    return userPart;
  });
  const first = getters[0] as PartGetter<Req>;
  if (getters.length === 1) return first;
  return (req, ip, route, id) => {
    let out = first(req, ip, route, id);
    for (let n = 1; n < getters.length; n++) out += `|${(getters[n] as PartGetter<Req>)(req, ip, route, id)}`;
    return out;
  };
}

/** @internal Whether the key needs the client address (ip, or user with its ip fallback). */
export function keyNeedsIp(key: unknown): boolean {
  if (key === undefined || key === 'ip' || key === 'user') return true;
  return Array.isArray(key) && (key.includes('ip') || key.includes('user'));
}

/** @internal Whether the key needs the user id (`user()` is then called once per request). */
export function keyNeedsUser(key: unknown): boolean {
  return key === 'user' || (Array.isArray(key) && key.includes('user'));
}

/** @internal Whether the key needs the route pattern. */
export function keyNeedsRoute(key: unknown): boolean {
  return key === 'route' || (Array.isArray(key) && key.includes('route'));
}
