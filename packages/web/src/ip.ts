import { ConfigError } from '@ratekeeper/core';

/**
 * Client-address resolvers for the platforms that document a source a client cannot forge. None is
 * the default: a header is only trustworthy when your platform sets it and strips the client's.
 */

/** Reads the client address of a request; `context` is what the runtime passed the handler after it. */
export type IpResolver = (request: Request, context?: unknown) => string | undefined;

const header =
  (name: string): IpResolver =>
  (request) =>
    request.headers.get(name)?.trim() || undefined;

/** Cloudflare (Workers, or any origin behind Cloudflare's proxy): `CF-Connecting-IP`, set by Cloudflare. */
export const cloudflareIp: IpResolver = header('cf-connecting-ip');

/** Fly.io: `Fly-Client-IP`, set by Fly's proxy. */
export const flyIp: IpResolver = header('fly-client-ip');

/**
 * Vercel (functions and middleware): `X-Real-IP`, which Vercel's edge overwrites with the client's
 * address (it does not pass a client's own value through).
 */
export const vercelIp: IpResolver = header('x-real-ip');

/**
 * Bun: the address of the connection, from the `server` Bun passes to `fetch(request, server)`.
 * @example Bun.serve({ fetch: limiter.wrap(handler) }) // with createRateLimiter({ ip: bunIp })
 */
export const bunIp: IpResolver = (request, server) =>
  (server as { requestIP?(r: Request): { address: string } | null } | undefined)?.requestIP?.(request)?.address;

/**
 * Deno: the address of the connection, from the `info` Deno passes to `Deno.serve((request, info) => …)`.
 * @example Deno.serve(limiter.wrap(handler)) // with createRateLimiter({ ip: denoIp })
 */
export const denoIp: IpResolver = (_request, info) => {
  const addr = (info as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr;
  return addr?.hostname;
};

/**
 * `X-Forwarded-For` behind exactly `hops` proxies you run (each appends the address it saw): the
 * entry `hops` from the right. Entries further left were written by the client and are not trusted.
 * @example createRateLimiter({ ip: forwardedFor(1) }) // one load balancer in front
 */
export function forwardedFor(hops: number): IpResolver {
  if (!Number.isSafeInteger(hops) || hops < 1) throw new ConfigError('hops', 'a positive integer (the number of proxies you run)', hops);
  return (request) => {
    const value = request.headers.get('x-forwarded-for');
    if (value === null) return undefined;
    const list = value.split(',');
    const entry = list[list.length - hops];
    return entry === undefined ? undefined : entry.trim() || undefined;
  };
}
