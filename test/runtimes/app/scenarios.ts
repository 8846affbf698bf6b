// The runtime-agnostic scenario app: the same limiters in a `web` flavour (@ratekeeper/web `wrap`)
// and a `hono` flavour (@ratekeeper/hono middleware), behind one Fetch handler. Each entry point
// (bun.ts, deno.ts, workerd.ts) serves it with its runtime's server and passes the runtime's
// connection context. Test-only admin routes drive a manual clock, so the tests never sleep.
// By default every limiter has its own MemoryStore; an entry point may pass `stores` instead (the
// Redis entries, ./redis.ts), and every limiter then counts in that shared store under its own prefix.

import type { Store } from '@ratekeeper/core';
import { type HonoRateLimitOptions, rateLimit } from '@ratekeeper/hono';
import { ConfigError, createRateLimiter, type FetchHandler, type IpResolver, MemoryStore, type WebRateLimitOptions } from '@ratekeeper/web';
import { Hono } from 'hono';

/** An hour boundary, as in the Node conformance suite: window resets are round numbers. */
export const T0 = 1_699_999_200_000;

/** What an entry point tells the app about its runtime. */
export interface Runtime {
  readonly name: 'bun' | 'deno' | 'workerd';
  /** How @ratekeeper/web reads the client address there (`bunIp`, `denoIp`, `cloudflareIp`). */
  readonly ip: IpResolver;
  /** A store shared by every limiter (e.g. Redis) instead of a MemoryStore each. */
  readonly stores?: Stores;
}

/** What a limiter adds to its options to count in a shared store: the store and its own key prefix. */
export interface StoreOptions {
  readonly store: Store;
  readonly prefix: string;
  readonly timeoutMs: number;
}

/** A shared store: `open` is called on each `/__reset` with its `prefix`, and resolves once the store can answer. */
export interface Stores {
  open(prefix: string): Promise<(limiter: string) => StoreOptions>;
}

/** The handler an entry point serves: the request, and what its runtime passes after it. */
export type AppHandler = (request: Request, context: unknown) => Promise<Response>;

type Shared = Omit<WebRateLimitOptions, 'ip'> & Omit<HonoRateLimitOptions, 'ip'>;

/** One app instance: every scenario's limiters, with fresh stores. */
interface Built {
  web(path: string, request: Request, context: unknown): Response | Promise<Response> | undefined;
  hono: Hono;
  /** Keys in the store of the `route` scenario, per flavour. */
  routeStore: { web: MemoryStore; hono: MemoryStore };
}

const text = (body: string, status = 200): Response => new Response(body, { status, headers: { 'content-type': 'text/plain' } });

/** `/ok` 200, `/bad` 400, `/fail` 500; anything else 404. */
const plain: FetchHandler = (request) => {
  const path = new URL(request.url).pathname;
  if (path.endsWith('/bad')) return text('bad', 400);
  if (path.endsWith('/fail')) return text('fail', 500);
  return text('ok');
};

/** An error answered 500 `error: <class>: <message>`, the class `ConfigError` for ratekeeper's configuration errors. */
const errorResponse = (error: unknown): Response => {
  if (error instanceof ConfigError) return text(`error: ConfigError: ${error.message}`, 500);
  return text(error instanceof Error ? `error: ${error.name}: ${error.message}` : `error: ${String(error)}`, 500);
};

/**
 * The scenarios, as limiter options. Each gets its own limiter (and MemoryStore) per flavour.
 * - basic: 3/min; default headers: 2/min; status: 2/min (5xx not counted, 4xx counted)
 * - cost: 5/min at 2 units a request; skip: 1/min with `skip` (x-internal: 1) and an allow list
 * - dry: 1/min in dryRun; noip: 1/min keyed by address, for requests without one
 */
function scenarioOptions(now: () => number): Record<string, Shared> {
  return {
    basic: { limit: 3, window: '1m', now },
    headers: { limit: 2, window: '1m', now },
    status: { limit: 2, window: '1m', now },
    cost: { limit: 5, window: '1m', now, cost: 2 },
    skip: {
      limit: 1,
      window: '1m',
      now,
      skip: (req: Request | { req: { raw: Request } }) => requestOf(req).headers.get('x-internal') === '1',
      allowList: ['127.0.0.3', '198.51.100.7', '2001:db8:ff::/48'],
    },
    dry: { limit: 1, window: '1m', now, dryRun: true },
    noip: { limit: 1, window: '1m', now },
  };
}

/** The Fetch request of either flavour's request object (web: `Request`, hono: `Context`). */
function requestOf(req: Request | { req: { raw: Request } }): Request {
  return req instanceof Request ? req : req.req.raw;
}

/**
 * Every limiter's store options: none (its own MemoryStore) or, with a shared store, the key prefix
 * `<flavour>:<scenario>:` after the store's own prefix, so no two limiters share a key.
 */
type StoreFor = (limiter: string) => Partial<StoreOptions>;

function build(runtime: Runtime, now: () => number, storeFor: StoreFor): Built {
  const options = scenarioOptions(now);
  const webRoutes = new Map<string, FetchHandler>();
  const hono = new Hono();
  hono.onError((error) => errorResponse(error));

  for (const [name, o] of Object.entries(options)) {
    const web = createRateLimiter({ ...(o as WebRateLimitOptions), ...storeFor(`web:${name}`), ip: runtime.ip });
    webRoutes.set(name, web.wrap(plain));
    const sub = new Hono();
    sub.use(rateLimit({ ...(o as HonoRateLimitOptions), ...storeFor(`hono:${name}`) }));
    // The key the request was counted under: shows which address the middleware read.
    sub.get('/key', (c) => c.text(c.get('rateLimit')?.key ?? 'no decision'));
    sub.get('/*', (c) => {
      const path = c.req.path;
      if (path.endsWith('/bad')) return c.text('bad', 400);
      if (path.endsWith('/fail')) return c.text('fail', 500);
      return c.text('ok');
    });
    hono.route(`/hono/${name}`, sub);
  }

  // raw: a Hono handler that returns its own Response instead of `c.text()` (3/min).
  const raw = new Hono();
  raw.use(rateLimit({ limit: 3, window: '1m', now, ...storeFor('hono:raw') }));
  raw.get('/ok', () => new Response('ok'));
  hono.route('/hono/raw', raw);

  // stacked: an app-wide limiter (10/min) around a per-route one (2/s).
  const appWide: Shared = { limit: 10, window: '1m', name: 'app', now };
  const perRoute: Shared = { limit: 2, window: '1s', name: 'route', now };
  const webApp = createRateLimiter({ ...(appWide as WebRateLimitOptions), ...storeFor('web:stacked-app'), ip: runtime.ip });
  const webRoute = createRateLimiter({ ...(perRoute as WebRateLimitOptions), ...storeFor('web:stacked-route'), ip: runtime.ip });
  webRoutes.set('stacked', webApp.wrap(webRoute.wrap(plain)));
  const stacked = new Hono();
  stacked.use(rateLimit({ ...(appWide as HonoRateLimitOptions), ...storeFor('hono:stacked-app') }));
  stacked.get('/ok', rateLimit({ ...(perRoute as HonoRateLimitOptions), ...storeFor('hono:stacked-route') }), (c) => c.text('ok'));
  hono.route('/hono/stacked', stacked);

  // route: keyed by the route pattern, never the raw path (3/min); `/other` is another route.
  // Always a MemoryStore each: the test counts its keys.
  const routeStore = { web: new MemoryStore(), hono: new MemoryStore() };
  const byRoute = (store: MemoryStore): Shared => ({ limit: 3, window: '1m', now, key: 'route', store });
  const webByRoute = createRateLimiter({ ...(byRoute(routeStore.web) as WebRateLimitOptions), ip: runtime.ip });
  const webUsers = webByRoute.wrap(plain, { route: 'GET /users/:id' });
  const webOther = webByRoute.wrap(plain, { route: 'GET /other' });
  webRoutes.set('route', (request, ...rest) =>
    (new URL(request.url).pathname.startsWith('/web/route/users/') ? webUsers : webOther)(request, ...rest),
  );
  const honoByRoute = rateLimit(byRoute(routeStore.hono) as HonoRateLimitOptions);
  const routes = new Hono();
  routes.get('/users/:id', honoByRoute, (c) => c.text('ok'));
  routes.get('/other', honoByRoute, (c) => c.text('ok'));
  hono.route('/hono/route', routes);

  return {
    web(path, request, context) {
      const name = path.split('/')[2] ?? '';
      const handler = webRoutes.get(name);
      return handler === undefined ? undefined : handler(request, context);
    },
    hono,
    routeStore,
  };
}

/**
 * The app of one runtime. Admin routes (tests only): `POST /__reset` rebuilds every limiter with
 * fresh stores and sets the clock to {@link T0} (with `runtime.stores`, `POST /__reset?prefix=<p>`:
 * the shared store under the store prefix `p`, which the test makes fresh); `POST /__clock?t=<ms>` sets the clock;
 * `GET /__size?flavour=web|hono` answers the key count of the `route` scenario's store.
 * Scenario routes: `/web/<scenario>/...` and `/hono/<scenario>/...`. With `x-no-conn: 1` the app
 * drops the runtime's connection context, as a runtime that exposes no client address would.
 */
export function createApp(runtime: Runtime): AppHandler {
  let t = T0;
  const now = (): number => t;
  const none: StoreFor = () => ({});
  let app = build(runtime, now, none);
  return async (request, context) => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (path === '/__reset') {
      t = T0;
      try {
        app = build(runtime, now, runtime.stores === undefined ? none : await runtime.stores.open(url.searchParams.get('prefix') ?? ''));
      } catch (error) {
        return errorResponse(error);
      }
      return text(runtime.name);
    }
    if (path === '/__clock') {
      t = Number(url.searchParams.get('t'));
      return text(String(t));
    }
    if (path === '/__size') return text(String(app.routeStore[url.searchParams.get('flavour') === 'hono' ? 'hono' : 'web'].size));
    const ctx = request.headers.get('x-no-conn') === '1' ? undefined : context;
    try {
      if (path.startsWith('/hono/')) return await app.hono.fetch(request, ctx);
      return (await app.web(path, request, ctx)) ?? text('not found', 404);
    } catch (error) {
      return errorResponse(error);
    }
  };
}
