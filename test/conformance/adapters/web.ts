import { createRateLimiter, type FetchHandler, getRateLimit, type WebRateLimitOptions } from '@ratekeeper/web';
import { type Answer, type AppSetup, abortTracker, type Harness, hold, login, type RunningApp, resetKey, twoLimiters } from '../harness';
import { abortResponse, headerView, serveFetch, socketAddress, suiteIp, toFetchOptions } from './fetch-common';

type Handler = FetchHandler<[unknown]>;
type Wrapper = (handler: Handler, route?: string) => Handler;

/** @ratekeeper/web on Node (@hono/node-server): app-wide = `wrap` around the router, per route = `wrap` per handler. */
export const webHarness: Harness = { name: 'web', start, endsWithHandler: true };

const text = (status: number, body: string, headers: Record<string, string> = {}): Response =>
  new Response(body, { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...headers } });
const answer = async (pending: Promise<Answer>): Promise<Response> => {
  const a = await pending;
  return text(a.status, a.body, a.headers);
};

async function start(setup: AppSetup): Promise<RunningApp> {
  const abort = abortTracker();
  const view = headerView();
  const wrappers: Wrapper[] = setup.limiters.map((o) => {
    const limiter = createRateLimiter({
      ...toFetchOptions(o, view),
      ip: (request: Request, env: unknown) => suiteIp(setup, request, socketAddress(env)),
    } as WebRateLimitOptions);
    return (handler, route) => limiter.wrap(handler, route === undefined ? {} : { route });
  });
  let appWide: Wrapper[] = wrappers;
  let perRoute: Wrapper[] = [];
  if (setup.mode === 'route') [appWide, perRoute] = [[], wrappers];
  else if (setup.mode === 'app+route') {
    const [a, r] = twoLimiters(wrappers);
    [appWide, perRoute] = [[a], [r]];
  }
  // Route handlers, each wrapped by the per-route limiters with its pattern.
  const route = (pattern: string, handler: Handler): Handler =>
    perRoute.reduceRight<Handler>((h, wrap) => wrap(h, `GET ${pattern}`), handler);
  const table: Array<[RegExp, string, Handler]> = [
    [/^\/ok$/, '/ok', () => text(200, 'ok')],
    [/^\/bad$/, '/bad', () => text(400, 'bad')],
    [/^\/fail$/, '/fail', () => text(500, 'fail')],
    [/^\/users\/([^/]+)$/, '/users/:id', (request) => text(200, `user ${new URL(request.url).pathname.slice(7)}`)],
    [/^\/abort$/, '/abort', () => abortResponse(abort.onClose)],
    [/^\/login$/, '/login', (request) => answer(login(getRateLimit(request), view(request).headers))],
    [/^\/reset$/, '/reset', (request) => answer(resetKey(getRateLimit(request)))],
    [/^\/hold$/, '/hold', (request) => answer(hold(view(request).headers))],
  ];
  const routes = table.map(([re, pattern, h]): [RegExp, Handler] => [re, route(pattern, h)]);
  const router: Handler = (request, env) => {
    const path = new URL(request.url).pathname;
    for (const [re, h] of routes) if (re.test(path)) return h(request, env);
    return text(404, 'not found');
  };
  const app = appWide.reduceRight<Handler>((h, wrap) => wrap(h), router);
  // An error on the way (a throwing `user`, a ConfigError) answers 500, as the other harnesses do.
  const withDecision: Handler = async (request, env) => {
    try {
      return await app(request, env);
    } catch (error) {
      return text(500, `error: ${(error as Error).message}`);
    }
  };
  return serveFetch(withDecision, abort);
}
