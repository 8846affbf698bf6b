import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type AppSetup, type abortTracker, fakeAuth, type HasHeaders, type RunningApp, type SuiteOptions } from '../harness';

/**
 * The suite writes its options against `{ headers }` (Node's header object). A Fetch adapter's
 * functions receive its own request (`Request`, Hono's `Context`): `toFetchOptions` wraps each
 * function so it sees a `{ headers }` view of that request, the fake auth step applied.
 */
export function toFetchOptions<R>(o: SuiteOptions, view: (r: R) => HasHeaders): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  const first = ['key', 'user', 'rules', 'skip', 'cost', 'message', 'onLimited', 'allowList'] as const;
  for (const name of first) {
    const fn = o[name];
    if (typeof fn === 'function') out[name] = (r: R, ...rest: unknown[]) => (fn as (...a: unknown[]) => unknown)(view(r), ...rest);
  }
  const count = o.countResponse;
  if (count !== undefined) out.countResponse = (status: number, r: R) => count(status, view(r));
  return out;
}

/** A `{ headers }` view of a Fetch request, built once per request, with the fake auth applied. */
export function headerView(): (request: Request) => HasHeaders {
  const views = new WeakMap<Request, HasHeaders>();
  return (request) => {
    let v = views.get(request);
    if (v === undefined) {
      const headers: IncomingHttpHeaders = {};
      for (const [name, value] of request.headers) headers[name] = value;
      fakeAuth(headers);
      v = { headers };
      views.set(request, v);
    }
    return v;
  };
}

/** The client address as Express/Koa with `trust proxy` on take it: the left-most X-Forwarded-For entry. */
export function suiteIp(setup: AppSetup, request: Request, socketAddress: string | undefined): string | undefined {
  if (setup.trustProxy ?? true) {
    const xff = request.headers.get('x-forwarded-for');
    if (xff !== null) return xff.split(',')[0]?.trim();
  }
  return socketAddress;
}

/** `/abort`: a 503 that sends part of a body and then waits for the client to go away. */
export function abortResponse(onClose: () => void): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('partial'));
    },
    cancel: onClose,
  });
  return new Response(body, { status: 503, headers: { 'content-type': 'text/plain' } });
}

/** The Node socket's address, from @hono/node-server's `env` (the handler's second argument). */
export const socketAddress = (env: unknown): string | undefined =>
  (env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress;

/** Serves a Fetch handler on 127.0.0.1 (any free port) with @hono/node-server. */
export async function serveFetch(
  fetch: (request: Request, env: unknown) => Response | Promise<Response>,
  abort: ReturnType<typeof abortTracker>,
): Promise<RunningApp> {
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    abortClosed: abort.closed,
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?(): void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
