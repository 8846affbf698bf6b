import type { Context } from 'hono';

/**
 * The client address from the connection of the runtime serving the app, read the way each
 * runtime's `getConnInfo` does, without importing runtime-specific modules:
 * - Node (`@hono/node-server`): the socket of `c.env.incoming`;
 * - Bun (`export default app` or `Bun.serve({ fetch: app.fetch })`): `server.requestIP()`;
 * - Deno (`Deno.serve(app.fetch)`): `info.remoteAddr`;
 * - Cloudflare Workers: `CF-Connecting-IP`, which Cloudflare sets (no socket is visible there).
 * Anything else: undefined (then pass `ip` to `rateLimit`).
 */
export function connInfoIp(c: Context): string | undefined {
  const env = c.env as Record<string, unknown> | undefined;
  if (env !== undefined && env !== null && typeof env === 'object') {
    const incoming = env.incoming as { socket?: { remoteAddress?: string } } | undefined;
    if (incoming?.socket !== undefined) return incoming.socket.remoteAddress;
    const requestIP = (env as { requestIP?: (r: Request) => { address: string } | null }).requestIP;
    if (typeof requestIP === 'function') return requestIP.call(env, c.req.raw)?.address;
    const remoteAddr = (env as { remoteAddr?: { hostname?: string } }).remoteAddr;
    if (remoteAddr !== undefined) return remoteAddr.hostname;
  }
  if (globalThis.navigator?.userAgent === 'Cloudflare-Workers') return c.req.header('cf-connecting-ip');
  return undefined;
}
