import { ConfigError } from '../errors/config-error';
import type { KeyPart } from './options';

/** What the pipeline already knows about a request when it builds the key. */
export interface KeyInput<Req> {
  readonly req: Req;
  /** The normalised client address. */
  readonly ip: string;
  /** `METHOD /route/:pattern`, or undefined when no route matched (yet). */
  readonly route: string | undefined;
}

/** @internal A compiled key builder; may be async only when the user's function is. */
export type KeyBuilder<Req> = (input: KeyInput<Req>) => string | Promise<string>;

/** Route key for requests that matched no route: every unmatched path shares it. */
export const UNMATCHED_ROUTE = '(unmatched)';

const PARTS: readonly KeyPart[] = ['ip', 'user', 'route'];

/**
 * Compiles the `key` option once. Parts are joined with `|`; a user id is prefixed `u:` so it can
 * never collide with an address. Route parts use the route pattern, never the raw path.
 */
export function compileKey<Req>(key: unknown, user: ((req: Req) => string | undefined) | undefined): KeyBuilder<Req> {
  if (key === undefined || key === 'ip') return (i) => i.ip;
  if (typeof key === 'function') {
    const fn = key as (req: Req) => string | Promise<string>;
    return (i) => fn(i.req);
  }
  const parts = typeof key === 'string' ? [key] : key;
  if (!Array.isArray(parts) || parts.length === 0)
    throw new ConfigError('key', "'ip', 'user', 'route', a non-empty array of them, or a function", key);
  for (const p of parts) if (!PARTS.includes(p as KeyPart)) throw new ConfigError('key', "made of 'ip', 'user' and 'route'", key);
  if (parts.includes('user') && user === undefined)
    throw new ConfigError('user', "a function returning the user id (needed by key 'user')", user);
  const getters = (parts as KeyPart[]).map((p): ((i: KeyInput<Req>) => string) => {
    if (p === 'ip') return (i) => i.ip;
    if (p === 'route') return (i) => i.route ?? UNMATCHED_ROUTE;
    const u = user as (req: Req) => string | undefined;
    return (i) => {
      const id = u(i.req);
      return id === undefined || id === '' ? i.ip : `u:${id}`;
    };
  });
  if (getters.length === 1) return getters[0] as KeyBuilder<Req>;
  return (i) => {
    let out = (getters[0] as (i: KeyInput<Req>) => string)(i);
    for (let n = 1; n < getters.length; n++) out += `|${(getters[n] as (i: KeyInput<Req>) => string)(i)}`;
    return out;
  };
}

/** @internal Whether the key needs the client address (ip, or user with its ip fallback). */
export function keyNeedsIp(key: unknown): boolean {
  if (key === undefined || key === 'ip' || key === 'user') return true;
  return Array.isArray(key) && (key.includes('ip') || key.includes('user'));
}

/** @internal Whether the key needs the route pattern. */
export function keyNeedsRoute(key: unknown): boolean {
  return key === 'route' || (Array.isArray(key) && key.includes('route'));
}
